"""monitor.report_at: the drift action names what the run that moved the alarm found, not whatever ran last.

The monitor runs hourly and rewrites ``latest.json`` each time. When the next run lands between the
alarm's state change and its action (a slow delivery, a busy account), ``latest.json`` describes a
window with more traffic in it, where the drift may be diluted or gone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor_core.monitoring import monitor

BUCKET = "conveyor-test-artifacts"  # the artifact_bucket fixture's (tests/unit/conftest.py)
ENDPOINT = "conveyor-tabular"
TEN = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)


def _run(s3: Any, at: datetime, drifting: list[str]) -> None:
    document = {"status": "ok", "at": at.isoformat(), "drifting_features": drifting}
    key = f"{monitor.run_report_prefix(ENDPOINT, at)}report.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())
    s3.put_object(Bucket=BUCKET, Key=monitor.latest_report_key(ENDPOINT), Body=json.dumps(document).encode())


def test_the_alarm_s_run_is_found_after_a_later_run_replaced_latest(s3: Any, artifact_bucket: str) -> None:
    _run(s3, TEN - timedelta(hours=1), [])
    _run(s3, TEN, ["_c0", "_c2"])  # its datapoint moves the alarm at 10:00:40
    _run(s3, TEN + timedelta(hours=1), [])  # the next run, before the action reads

    report = monitor.report_at(s3, BUCKET, ENDPOINT, TEN + timedelta(seconds=40))

    assert report is not None
    assert report["drifting_features"] == ["_c0", "_c2"]
    assert report["at"] == TEN.isoformat()


def test_a_run_at_the_alarm_s_very_second_counts(s3: Any, artifact_bucket: str) -> None:
    _run(s3, TEN, ["_c1"])

    report = monitor.report_at(s3, BUCKET, ENDPOINT, TEN)

    assert report is not None
    assert report["drifting_features"] == ["_c1"]


def test_no_run_within_a_day_before_the_alarm_gives_none(s3: Any, artifact_bucket: str) -> None:
    _run(s3, TEN - timedelta(days=2), ["_c0"])
    _run(s3, TEN + timedelta(minutes=5), ["_c0"])

    assert monitor.report_at(s3, BUCKET, ENDPOINT, TEN) is None


def test_another_endpoint_s_runs_are_not_read(s3: Any, artifact_bucket: str) -> None:
    other = f"{monitor.run_report_prefix(ENDPOINT + '-2', TEN)}report.json"
    s3.put_object(Bucket=BUCKET, Key=other, Body=b'{"status": "ok"}')

    assert monitor.report_at(s3, BUCKET, ENDPOINT, TEN + timedelta(minutes=1)) is None


# --- monitor.put_latest: an older run never replaces a newer run's latest.json ----------------------

LATEST = monitor.latest_report_key(ENDPOINT)


def _latest(s3: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=LATEST)["Body"].read())
    return document


def _document(hour: int, drifting: list[str]) -> dict[str, Any]:
    return {"status": "ok", "run_at": f"2026-12-05T{hour:02d}:00:00Z", "drifting_features": drifting}


def test_the_first_report_and_each_newer_one_become_the_latest(s3: Any, artifact_bucket: str) -> None:
    assert monitor.put_latest(s3, BUCKET, LATEST, _document(9, []))
    assert monitor.put_latest(s3, BUCKET, LATEST, _document(10, ["_c0"]))
    assert _latest(s3) == _document(10, ["_c0"])
    # The same run again (a retried invocation) replaces its own report.
    assert monitor.put_latest(s3, BUCKET, LATEST, _document(10, ["_c0", "_c2"]))
    assert _latest(s3)["drifting_features"] == ["_c0", "_c2"]


def test_a_run_finishing_after_a_later_one_leaves_the_later_ones_report(s3: Any, artifact_bucket: str) -> None:
    monitor.put_latest(s3, BUCKET, LATEST, _document(11, ["_c0"]))

    assert not monitor.put_latest(s3, BUCKET, LATEST, _document(10, []))

    assert _latest(s3) == _document(11, ["_c0"])


def test_a_report_written_between_the_read_and_the_write_is_not_overwritten(s3: Any, artifact_bucket: str) -> None:
    """The 10:00 run reads latest.json (09:00's); the 11:00 run writes before 10:00's write lands."""
    monitor.put_latest(s3, BUCKET, LATEST, _document(9, []))
    raced = []

    def newer_run_writes_first(**_: Any) -> None:
        if not raced:
            raced.append(True)
            s3.put_object(Bucket=BUCKET, Key=LATEST, Body=json.dumps(_document(11, ["_c1"])).encode())

    s3.meta.events.register("before-call.s3.PutObject", newer_run_writes_first)

    # Its If-Match no longer holds: it reads again, finds 11:00's report and leaves it.
    assert not monitor.put_latest(s3, BUCKET, LATEST, _document(10, []))

    assert _latest(s3) == _document(11, ["_c1"])
    assert raced == [True]
