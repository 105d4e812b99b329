"""How far an experiment's evaluations have read: the objects read so far and the join they made.

An A/B test or bandit is evaluated every ``ExperimentIntervalSeconds`` for up to
``AbMaxDurationSeconds``. Reading every captured request and outcome since it started at each
evaluation made the n-th evaluation read n intervals of traffic, and hold all of it in memory. Each
evaluation now reads only the objects it has not read before and folds them into the
``OutcomeLedger`` of the ones before; both are kept in one JSON object per experiment in the
artifact bucket, written once the evaluation has read everything (a failed evaluation leaves the
last one's progress, and its retry reads the same objects again).

Which objects are new: capture and ground truth sit in hour folders (``yyyy/mm/dd/hh/``), capture
by the hour of its requests, ground truth by the hour it was written. A file can land in an hour
that is already listed (SageMaker buffers capture for minutes; a writer's clock or retry may be
late), so each listing starts ``LATE_DELIVERY`` before the previous evaluation's time and skips the
keys already read there; keys in older hours are never listed again and are dropped from the
progress. A file landing more than ``LATE_DELIVERY`` after its hour ends is missed.

The shared window starts at the candidate's first captured request (``since``): before it
production served alone, and its outcomes then would compare another period's traffic. Until the
candidate has a captured request, only its capture is read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from conveyor_core.experiments.outcomes import OutcomeLedger
from conveyor_core.monitoring import capture, monitor, quality
from conveyor_core.release.deployment import CANDIDATE_VARIANT
from conveyor_core.shared.settings import ExperimentSettings

PROGRESS_PREFIX = "experiments/"
LATE_DELIVERY = timedelta(hours=2)


class SourceCursor(BaseModel):
    """One prefix's listing so far: when it was last listed, and the keys read that it will list again."""

    listed_until: datetime | None = None
    read: list[str] = Field(default_factory=list)


class ExperimentProgress(BaseModel):
    model_config = ConfigDict(defer_build=True)

    version: Literal[1] = 1
    # The candidate's first captured request (never before the experiment's start): the window's start.
    since: datetime | None = None
    cursors: dict[str, SourceCursor] = Field(default_factory=dict)
    ledger: OutcomeLedger = Field(default_factory=OutcomeLedger)

    def unread_keys(self, s3: Any, bucket: str, prefix: str, since: datetime, now: datetime) -> list[str]:
        """The keys under ``prefix``'s hour folders from ``since`` on that no evaluation has read, oldest
        hour first; they count as read from here on (the progress is saved only once they are).
        """
        cursor = self.cursors.setdefault(f"{bucket}/{prefix}", SourceCursor())
        start = since if cursor.listed_until is None else max(since, cursor.listed_until - LATE_DELIVERY)
        already = set(cursor.read)
        listed = monitor.capture_keys(s3, bucket, prefix, start, hours_under_prefix=True)
        unread = [key for key in listed if key not in already]
        # The next listing starts at this hour: a key read in an earlier one will not come up again.
        next_hour = monitor.hour_start(max(since, now - LATE_DELIVERY))
        cursor.read = [key for key in (*cursor.read, *unread) if _at_or_after(key, next_hour)]
        cursor.listed_until = now
        return unread


def advance(
    s3: Any, progress: ExperimentProgress, settings: ExperimentSettings, started: datetime, now: datetime
) -> None:
    """Fold what landed since the last evaluation into ``progress.ledger``."""
    candidate = _captured(s3, progress, settings, CANDIDATE_VARIANT, started, now)
    if progress.since is None and candidate.first_time is not None:
        progress.since = max(started, candidate.first_time)
    captured = {settings.variant_name: capture.CapturedRows(features=0), CANDIDATE_VARIANT: candidate}
    truth = quality.GroundTruth()
    if progress.since is not None:
        captured[settings.variant_name] = _captured(s3, progress, settings, settings.variant_name, progress.since, now)
        keys = progress.unread_keys(s3, settings.data_bucket, settings.ground_truth_prefix, progress.since, now)
        truth = monitor.read_ground_truth_objects(s3, settings.data_bucket, keys)
    progress.ledger.fold(settings.metric, captured, truth)


def _captured(
    s3: Any, progress: ExperimentProgress, settings: ExperimentSettings, variant: str, since: datetime, now: datetime
) -> capture.CapturedRows:
    found = capture.CapturedRows(features=0)
    prefix = f"{settings.capture_prefix}{settings.endpoint_name}/{variant}/"
    keys = progress.unread_keys(s3, settings.artifact_bucket, prefix, since, now)
    monitor.read_capture_objects(s3, settings.artifact_bucket, keys, since, found)
    return found


def _at_or_after(key: str, hour: datetime) -> bool:
    found = monitor.hour_of(key)
    return found is not None and found >= hour


def progress_key(endpoint_name: str, run_id: str) -> str:
    return f"{PROGRESS_PREFIX}{endpoint_name}/{run_id}/progress.json"


def load(s3: Any, bucket: str, key: str) -> ExperimentProgress:
    """The progress saved by the last evaluation, or a fresh one before the first.

    The key is listed before it is read: S3 answers a GET of a missing key with AccessDenied, not
    NoSuchKey, to a caller that may not list the bucket, and the function may list only its prefixes.
    """
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not listed or listed[0]["Key"] != key:
        return ExperimentProgress()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return ExperimentProgress.model_validate_json(body)


def save(s3: Any, bucket: str, key: str, progress: ExperimentProgress) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=progress.model_dump_json().encode(), ContentType="application/json")
