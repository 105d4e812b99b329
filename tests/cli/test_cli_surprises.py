"""Issue 15's CLI surprises: each ends in one clear line and exit code 1, or does what a user expects.

The module's offline cloud never deploys a model: its one run is quarantined, so `invoke` finds no
endpoint, and `status` and `tail --since` have a SUCCEEDED run whose outcome is not a deployment.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from conveyor_cli import executions
from conveyor_cli.commands.invoke import read_text
from conveyor_cli.commands.tail import since_delta
from conveyor_cli.commands.upload import expectation
from conveyor_cli.errors import CliError
from conveyor_cli.views import Execution
from conveyor_core.intake import drops
from localcloud.cloud import OfflineCloud

QUARANTINED_KEY = "incoming/too-few-rows.csv"


def _one_line_error(result: Any, *expected: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for part in expected:
        assert part in line
    return line


# --- invoke --file: the file's encoding ---------------------------------------------------------


def test_invoke_file_reads_utf16_with_a_bom_and_utf8_with_a_bom(tmp_path: Path) -> None:
    utf16 = tmp_path / "rows16.csv"
    utf16.write_bytes(codecs.BOM_UTF16_LE + "1.5,2\n3,4\n".encode("utf-16-le"))
    utf8 = tmp_path / "rows8.csv"
    utf8.write_bytes(codecs.BOM_UTF8 + b"1.5,2\n")

    assert read_text(utf16) == "1.5,2\n3,4\n"
    assert read_text(utf8) == "1.5,2\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not utf-8 text"),
        ("1.5,2\n".encode("utf-16-le"), "holds NUL bytes"),
    ],
    ids=["binary", "utf16-without-bom"],
)
def test_invoke_file_that_is_not_text_ends_in_one_line(
    bare_cli: Any, tmp_path: Path, content: bytes, expected: str
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_bytes(content)

    result = bare_cli("--local", "invoke", "--file", str(rows))

    _one_line_error(result, expected, "expects CSV text in UTF-8 (or UTF-16 with a byte-order mark)")


def test_read_text_of_odd_utf16_says_which_encoding_failed(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_bytes(codecs.BOM_UTF16_LE + b"1\x00,")

    with pytest.raises(CliError, match="is not utf-16 text"):
        read_text(rows)


# --- upload: a directory, and what happens to the key -------------------------------------------


def test_upload_of_a_directory_says_how_to_drop_a_folder(bare_cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "2026-11-23"
    folder.mkdir()

    result = bare_cli("--local", "upload", str(folder))

    _one_line_error(result, "is a directory", "_SUCCESS")


@pytest.mark.parametrize(
    ("key", "outcome", "words"),
    [
        ("incoming/cancer.csv", "starts-run", "starts a run"),
        ("incoming/2026-11-23/part-0000.csv", "waits", "_SUCCESS or manifest.json"),
        ("incoming/2026-11-23/_SUCCESS", "starts-run", "incoming/2026-11-23/"),
        ("incoming/2026-11-23/manifest.json", "starts-run", "incoming/2026-11-23/"),
        ("incoming/2026-11-23/readme.txt", "waits", "not data"),
        ("incoming/notes.txt", "refused", "only a .csv or .csv.gz object"),
    ],
)
def test_upload_expectation_follows_the_drop_rules(key: str, outcome: str, words: str) -> None:
    found = expectation(key)

    assert found["outcome"] == outcome
    assert words in str(found["message"])


def test_upload_expectation_of_a_key_the_rules_refuse_carries_their_reason() -> None:
    key = "incoming/bell\x07.csv"
    problem = drops.key_problem(key, "incoming/")
    assert problem is not None, "control characters are refused whatever else the key rules allow"

    found = expectation(key)

    assert found["outcome"] == "refused"
    assert found["reason"] == problem.reason
    assert problem.reason in str(found["message"])


def test_upload_of_a_key_the_rules_refuse_says_why_and_uploads_nothing(bare_cli: Any, tmp_path: Path) -> None:
    dataset = tmp_path / "notes.txt"
    dataset.write_bytes(b"1,2\n")

    result = bare_cli("--local", "upload", str(dataset))

    # Refused before any target is resolved: with no offline cloud, nothing could have landed.
    _one_line_error(result, "not uploaded", "incoming/notes.txt would be refused")


# --- against the offline cloud: no model, one quarantined run -----------------------------------


@pytest.fixture(scope="module")
def quarantined_run(cli: Any, cloud: OfflineCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    dataset = tmp_path_factory.mktemp("data") / "too-few-rows.csv"
    dataset.write_bytes(b"1,2.0\n0,1.0\n")
    result = cli("--local", "upload", str(dataset))
    assert result.exit_code == 0, result.output
    [run] = cloud.wait_for_executions(1, timeout=120)
    failures = [
        {key: value for key, value in event.items() if key.endswith("EventDetails")}
        for event in cloud.history(run["executionArn"])
        if event["type"].endswith(("Failed", "TimedOut"))
    ]
    assert run["status"] == "SUCCEEDED", f"the quarantining run ended {run['status']}: {failures}"
    return {"upload": result, "run": run}


def test_upload_says_before_uploading_that_the_key_starts_a_run(quarantined_run: dict[str, Any]) -> None:
    shown = quarantined_run["upload"].stdout

    first = shown.splitlines()[0]
    assert first == f"{QUARANTINED_KEY}: the data-arrival rule starts a run on it"
    assert shown.index("starts a run") < shown.index("uploaded to")


def test_upload_of_a_folder_part_says_it_waits_and_no_run_starts(
    cli: Any, cloud: OfflineCloud, quarantined_run: dict[str, Any], tmp_path: Path
) -> None:
    part = tmp_path / "part-0000.csv"
    part.write_bytes(b"1,2.0\n")

    result = cli("--local", "--json", "upload", str(part), "--key", "incoming/2026-11-23/part-0000.csv")

    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)["expected"]
    assert expected["outcome"] == "waits"
    assert expected["drop"] == "incoming/2026-11-23/"
    assert "DropQuietSeconds" in expected["message"]
    assert len(cloud.wait_for_executions(1, timeout=60)) == 1, "a part alone starts no run (quiet period: 600 s)"

    cloud.deliveries.wait_idle(timeout=30)
    shown = cli("--local", "status")
    [drop] = json.loads(cli("--local", "--json", "status").stdout)["pending_drops"]
    assert drop["folder"].endswith("/incoming/2026-11-23/")
    assert (drop["status"], drop["objects"], drop["data_objects"]) == ("pending", 1, 1)
    assert 0 <= drop["age_seconds"] < 120
    assert "pending drops" in shown.stdout
    assert "incoming/2026-11-23/" in shown.stdout


def test_status_shows_a_quarantined_run_with_its_outcome_and_dataset(cli: Any, quarantined_run: dict[str, Any]) -> None:
    shown = cli("--local", "status")
    found = json.loads(cli("--local", "--json", "status").stdout)

    assert shown.exit_code == 0, shown.output
    [run] = found["retrain_executions"]
    assert run["status"] == "SUCCEEDED"
    assert run["outcome"] == "data.quarantined"
    assert run["dataset"].endswith(f"/{QUARANTINED_KEY}")
    [row] = [line for line in shown.stdout.splitlines() if quarantined_run["run"]["name"] in line]
    assert "data.quarantined" in row
    assert QUARANTINED_KEY in row


def test_tail_since_shows_the_notification_of_a_run_that_ended_before_it_started(
    cli: Any, quarantined_run: dict[str, Any]
) -> None:
    result = cli("--local", "--json", "tail", "--since", "10m", "--no-follow", "--timeout", "3")
    older = cli("--local", "tail", "--since", "0s", "--timeout", "1")

    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    [quarantined] = [n for n in found if n["execution"] == quarantined_run["run"]["executionArn"]]
    assert quarantined["event"] == "data.quarantined"
    assert "too-few-rows" in quarantined["reason"]
    assert quarantined["subject"]
    assert older.exit_code == 0, older.output
    assert "data.quarantined" not in older.stdout


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("30", 30), ("2h", 7200), ("1d", 86400), ("1.5m", 90)])
def test_since_durations(text: str, seconds: float) -> None:
    assert since_delta(text).total_seconds() == seconds


def test_tail_since_of_a_bad_duration_ends_in_one_line(bare_cli: Any) -> None:
    _one_line_error(bare_cli("--local", "tail", "--since", "ten minutes"), "expected a duration such as 30s")


def test_invoke_before_any_model_says_how_to_get_one(cli: Any, quarantined_run: dict[str, Any]) -> None:
    result = cli("--local", "invoke", "--body", "1.0,2.0")

    _one_line_error(result, "no model is deployed yet", "conveyor upload data.csv")


class _FailedRunSfn:
    """A Step Functions client with one run that ended in a Fail state: no output, only history."""

    state = {"outcome": {"event": "pipeline.failed", "execution": "arn:run"}, "dataset": {"uri": "s3://b/k"}}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return {
            "executionArn": executionArn,
            "status": "FAILED",
            "input": json.dumps({"dataset": {"uri": "s3://data/incoming/cancer.csv"}}),
        }

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        entered = {"id": 7, "stateEnteredEventDetails": {"name": "RunFailed", "input": json.dumps(self.state)}}
        earlier = {"id": 2, "stateExitedEventDetails": {"name": "Preprocess", "output": json.dumps({"x": 1})}}
        return {"events": [earlier, entered, {"id": 8, "type": "ExecutionFailed"}]}


class _FakeTarget:
    def client(self, service: str) -> Any:
        assert service == "stepfunctions"
        return _FailedRunSfn()


def test_a_run_that_ended_in_a_fail_state_shows_its_outcome_from_the_history() -> None:
    run = Execution(name="run", arn="arn:run", status="FAILED", started_at=dt.datetime.now(dt.UTC))

    found = executions.detailed(_FakeTarget(), run)  # type: ignore[arg-type]

    assert found.outcome == "pipeline.failed"
    assert found.dataset == "s3://data/incoming/cancer.csv"
