"""One drift-monitoring run: the production model's baseline against the traffic captured since it serves.

Model Monitor is no longer open to new AWS customers (its documentation's availability note), so
Conveyor runs its own monitor on a schedule, the same code offline and on AWS. It keeps Model
Monitor's files (the baseline's ``statistics.json`` / ``constraints.json``, a run's
``constraint_violations.json``) and its metric names (``feature_baseline_drift_<feature>``), so a
team that still has Model Monitor can read one with the other.

When labels for captured requests have arrived (``conveyor_core.monitoring.quality``), the same
run joins them to the captured predictions and computes the model's live metric.

The window is the last ``window_seconds`` of capture, and never traffic from before the production
model was deployed. Capture objects are found by the hour in their key
(``<endpoint>/<variant>/yyyy/mm/dd/hh/...``), as SageMaker writes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor_core.intake import s3_io
from conveyor_core.monitoring import capture, drift, quality
from conveyor_core.release.history import DeploymentRecord
from conveyor_core.shared import prefetch

REPORT_PREFIX = "monitoring/"
# Capture and ground-truth objects read at once: each is a GET of a small file, mostly waiting.
READ_WINDOW = 8
_RUN_REPORT = re.compile(r"/\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z/report\.json$")
# A conditional write that lost: the object changed (412), another write was under way (409), or
# the object read a moment ago is gone (If-Match on a missing key).
_WRITE_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey")
_HOUR_IN_KEY = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


class BaselineMissingError(Exception):
    """The production model cannot be judged: it has no readable baseline."""


@dataclass(frozen=True)
class MonitorRun:
    report: drift.DriftReport
    model_run: str
    baseline_statistics_uri: str
    window_start: datetime
    at: datetime
    objects_read: int
    quality: quality.LiveQuality | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "window_start": self.window_start.isoformat(),
            "model_run": self.model_run,
            "baseline_statistics_uri": self.baseline_statistics_uri,
            "capture_objects": self.objects_read,
            **self.report.as_dict(),
            "live_quality": self.quality.as_dict() if self.quality is not None else None,
        }


def latest_report_key(endpoint_name: str, report_prefix: str = REPORT_PREFIX) -> str:
    """Where the last monitoring run's document is kept: ``conveyor drift`` reads it."""
    return f"{report_prefix}{endpoint_name}/latest.json"


def put_latest(s3: Any, bucket: str, key: str, document: dict[str, Any], attempts: int = 3) -> bool:
    """Make ``document`` the endpoint's latest report unless a later run's already is; whether it did.

    Runs can finish out of order (a slow run, a retried invocation): each document carries the time
    its run was scheduled for (``run_at``), and the write is conditional on the version just read
    (S3's If-Match, or If-None-Match for a first report), so an older run never replaces a newer
    one, even when both write at once. A conflict is read again and retried.
    """
    for _ in range(attempts):
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            current = json.loads(response["Body"].read())
            condition = {"IfMatch": response["ETag"]}
        except s3.exceptions.NoSuchKey:
            current, condition = {}, {"IfNoneMatch": "*"}
        if str(current.get("run_at", "")) > str(document["run_at"]):
            return False
        try:
            s3_io.put_json(s3, bucket, key, document, condition=condition)
            return True
        except s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _WRITE_CONFLICTS:
                raise
    return False


def run_report_prefix(endpoint_name: str, at: datetime, report_prefix: str = REPORT_PREFIX) -> str:
    """Where the run at ``at`` keeps its documents; the fixed-width time sorts as time does."""
    return f"{report_prefix}{endpoint_name}/{at:%Y-%m-%dT%H-%M-%SZ}/"


def report_at(
    s3: Any, bucket: str, endpoint_name: str, at: datetime, report_prefix: str = REPORT_PREFIX
) -> dict[str, Any] | None:
    """The report of the last run at or before ``at`` and less than a day before it; None if there is none.

    The drift alarm changes state on one run's datapoint. By the time its action reads the reports,
    the next hourly run may have replaced ``latest.json`` with another window (more traffic since,
    the drift diluted or gone): the notification must name what the alarm's run found.
    """
    endpoint_prefix = f"{report_prefix}{endpoint_name}/"
    last_key = f"{run_report_prefix(endpoint_name, at, report_prefix)}report.json"
    start = run_report_prefix(endpoint_name, at - timedelta(days=1), report_prefix)
    newest = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=endpoint_prefix, StartAfter=start):
        for item in page.get("Contents", []):
            key = item["Key"]
            if _RUN_REPORT.search(key) and key <= last_key and (newest is None or key > newest):
                newest = key
    return read_json(s3, f"s3://{bucket}/{newest}") if newest is not None else None


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_json(s3: Any, uri: str) -> dict[str, Any]:
    bucket, key = _split(uri)
    document: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def baseline_of(s3: Any, record: DeploymentRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    if not record.baseline_statistics_uri or not record.baseline_constraints_uri:
        raise BaselineMissingError(
            f"the production model (run {record.run_id}) has no data-quality baseline: it was deployed before "
            "drift monitoring; the next run that deploys a model writes one"
        )
    try:
        return read_json(s3, record.baseline_statistics_uri), read_json(s3, record.baseline_constraints_uri)
    except (s3.exceptions.NoSuchKey, ValueError) as error:
        raise BaselineMissingError(
            f"the baseline of run {record.run_id} cannot be read ({record.baseline_statistics_uri}): {error}"
        ) from error


def hour_start(at: datetime) -> datetime:
    """The start of ``at``'s hour: the hour folder it falls in."""
    return at.replace(minute=0, second=0, microsecond=0)


def hour_of(key: str) -> datetime | None:
    found = _HOUR_IN_KEY.search(key)
    if found is None:
        return None
    year, month, day, hour = map(int, found.groups())
    return datetime(year, month, day, hour, tzinfo=UTC)


def capture_keys(
    s3: Any,
    bucket: str,
    prefix: str,
    since: datetime,
    *,
    hours_under_prefix: bool = False,
    folders_under_prefix: bool = False,
) -> list[str]:
    """Capture objects under ``prefix`` written in or after the hour of ``since``, oldest hour first.

    Nothing expires capture data, and an endpoint a year old has thousands of older hours that every
    run would list again, so the listing starts at the first hour wherever the layout allows:

    * ``hours_under_prefix``: the hour folders (``yyyy/mm/dd/hh/``) sit right under ``prefix``, as
      under one variant's capture prefix or a ground-truth prefix. The listing starts after the
      first hour's folder name;
    * ``folders_under_prefix``: a folder per variant sits under ``prefix`` (an endpoint's capture
      prefix), each with its hours. The folders are listed first (one call, by delimiter, whatever
      their names), then each from its first hour.

    Otherwise every key under ``prefix`` is listed.
    """
    if folders_under_prefix and prefix.endswith("/"):
        folders = [
            common["Prefix"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", [])
        ]
        keys = [key for folder in folders for key in capture_keys(s3, bucket, folder, since, hours_under_prefix=True)]
        return _oldest_hour_first(keys, since)
    first_hour = hour_start(since)
    listing = {"Bucket": bucket, "Prefix": prefix}
    if hours_under_prefix and (not prefix or prefix.endswith("/")):
        # Zero-padded folders sort as time does, and a key of that hour or later sorts after the
        # hour's folder name itself. (Under "prefix" without its "/" the keys would sort before it.)
        listing["StartAfter"] = f"{prefix}{first_hour:%Y/%m/%d/%H}"
    pages = s3.get_paginator("list_objects_v2").paginate(**listing)
    listed = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return _oldest_hour_first(listed, since)


def _oldest_hour_first(keys: list[str], since: datetime) -> list[str]:
    """The keys of an hour folder at or after ``since``'s hour, by hour, then by key."""
    first_hour = hour_start(since)
    found: list[tuple[datetime, str]] = []
    for key in keys:
        hour = hour_of(key)
        if hour is not None and hour >= first_hour:
            found.append((hour, key))
    return [key for _hour, key in sorted(found)]


def _bodies(s3: Any, bucket: str, keys: list[str]) -> Generator[Future[bytes], None, None]:
    """Each object's bytes, in key order, READ_WINDOW read ahead: a round trip each, mostly waiting."""
    return prefetch.ordered_map(lambda key: s3_io.read_object(s3, bucket, key), keys, READ_WINDOW)


def read_capture(
    s3: Any,
    bucket: str,
    prefix: str,
    since: datetime,
    found: capture.CapturedRows,
    max_rows: int | None = None,
    *,
    hours_under_prefix: bool = False,
    folders_under_prefix: bool = False,
) -> int:
    """Add the records captured under ``prefix`` since ``since`` to ``found``; returns the objects read.

    With ``max_rows``, stops at the first object after that many rows. The layout flags are
    ``capture_keys``'s.
    """
    keys = capture_keys(
        s3, bucket, prefix, since, hours_under_prefix=hours_under_prefix, folders_under_prefix=folders_under_prefix
    )
    return read_capture_objects(s3, bucket, keys, since, found, max_rows)


def read_capture_objects(
    s3: Any, bucket: str, keys: list[str], since: datetime, found: capture.CapturedRows, max_rows: int | None = None
) -> int:
    """Add the records of these capture objects at or after ``since`` to ``found``; returns the objects read."""
    read = 0
    with closing(_bodies(s3, bucket, keys)) as bodies:
        for body in bodies:
            if max_rows is not None and found.rows >= max_rows:
                break
            capture.read_records(found, body.result(), since=since)
            read += 1
    return read


def read_ground_truth(s3: Any, bucket: str, prefix: str, since: datetime) -> quality.GroundTruth:
    """The labels (or outcomes) written under ``prefix``/yyyy/mm/dd/hh/ in or after the hour of ``since``."""
    return read_ground_truth_objects(s3, bucket, capture_keys(s3, bucket, prefix, since, hours_under_prefix=True))


def read_ground_truth_objects(s3: Any, bucket: str, keys: list[str]) -> quality.GroundTruth:
    truth = quality.GroundTruth()
    with closing(_bodies(s3, bucket, keys)) as bodies:
        for body in bodies:
            quality.read_ground_truth(truth, body.result())
    return truth


@dataclass(frozen=True)
class GroundTruthSource:
    """Where labels for captured requests land, and what the live metric needs to be published."""

    bucket: str
    prefix: str
    metric: str
    min_rows: int


def run(
    s3: Any,
    record: DeploymentRecord,
    capture_bucket: str,
    capture_prefix: str,
    at: datetime,
    window_seconds: int,
    min_rows: int = drift.DEFAULT_MIN_ROWS,
    max_rows: int = 200_000,
    ground_truth: GroundTruthSource | None = None,
) -> MonitorRun:
    statistics, constraints = baseline_of(s3, record)
    deployed = datetime.fromisoformat(record.recorded_at.replace("Z", "+00:00"))
    since = max(at - timedelta(seconds=window_seconds), deployed)
    found = capture.CapturedRows(features=len(statistics.get("features", [])))
    # A bounded sample: the distance needs thousands of rows, not millions.
    read = read_capture(s3, capture_bucket, capture_prefix, since, found, max_rows, folders_under_prefix=True)
    report = drift.evaluate(statistics, constraints, found, min_rows)
    live = None
    if ground_truth is not None:
        truth = read_ground_truth(s3, ground_truth.bucket, ground_truth.prefix, since)
        if truth.labels or truth.unparsed_lines:
            live = quality.evaluate(ground_truth.metric, found, truth, ground_truth.min_rows)
    return MonitorRun(report, record.run_id, record.baseline_statistics_uri or "", since, at, read, live)
