"""Option and target errors: one line on stderr, exit code 1, never a traceback. No cloud needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor_cli.commands.upload import dataset_key
from conveyor_cli.endpoint import split_rows
from conveyor_cli.errors import CliError


def _one_line_error(result: Any, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["status"], "no target: pass --local"),
        (["--local", "--stack", "conveyor", "status"], "choose one target"),
        (["--local", "--region", "eu-west-1", "history"], "--region and --profile apply to --stack"),
        (["--local", "--profile", "dev", "history"], "--region and --profile apply to --stack"),
        (["--local", "invoke"], "pass exactly one of --body or --file"),
        (["--local", "invoke", "--body", "1,2", "--file", "rows.csv"], "pass exactly one of --body or --file"),
        (["--local", "upload", "nowhere.csv"], "no such file: nowhere.csv"),
    ],
)
def test_invalid_option_combinations_exit_1_with_a_message(bare_cli: Any, args: list[str], fragment: str) -> None:
    _one_line_error(bare_cli(*args), fragment)


def test_a_missing_state_file_says_how_to_start_the_offline_cloud(bare_cli: Any, tmp_path: Path) -> None:
    _one_line_error(bare_cli("--local", "status"), f"no offline cloud state at {tmp_path / 'local.json'}", "local up")


def test_the_state_file_option_overrides_the_environment(bare_cli: Any, tmp_path: Path) -> None:
    _one_line_error(bare_cli("--state-file", str(tmp_path / "other.json"), "--local", "status"), "other.json")


def test_a_stale_state_file_is_reported_as_not_running(bare_cli: Any, tmp_path: Path) -> None:
    stale = {"endpoint_url": "http://127.0.0.1:9", "region": "us-east-1", "stack_name": "conveyor", "outputs": {}}
    (tmp_path / "local.json").write_text(json.dumps(stale))

    _one_line_error(bare_cli("--local", "status"), "http://127.0.0.1:9", "is not running")


def test_a_corrupt_state_file_is_reported(bare_cli: Any, tmp_path: Path) -> None:
    (tmp_path / "local.json").write_text("{not json")

    _one_line_error(bare_cli("--local", "status"), "is not a valid conveyor state file")


def test_a_stack_needs_a_region(bare_cli: Any) -> None:
    _one_line_error(bare_cli("--stack", "conveyor-dev", "status", env={"AWS_DEFAULT_REGION": ""}), "no AWS region")


def test_an_unknown_profile_is_one_line(bare_cli: Any) -> None:
    _one_line_error(bare_cli("--stack", "conveyor-dev", "--profile", "nope", "status"), "nope")


@pytest.mark.parametrize(
    "key", ["data/cancer.csv", "incoming", "incoming/", "incoming/../cancer.csv", "incoming/drop/", "/incoming/x.csv"]
)
def test_keys_outside_incoming_are_refused(key: str) -> None:
    with pytest.raises(CliError, match="datasets go under incoming/"):
        dataset_key(Path("cancer.csv"), key)


def test_the_default_key_is_the_file_name_under_incoming() -> None:
    assert dataset_key(Path("/data/cancer.csv"), None) == "incoming/cancer.csv"
    assert dataset_key(Path("x.csv"), "incoming/drop-7/part-0.csv") == "incoming/drop-7/part-0.csv"


def test_rows_split_on_newlines_and_semicolons() -> None:
    assert split_rows("1,2;3,4\n5,6\n\n") == ["1,2", "3,4", "5,6"]
