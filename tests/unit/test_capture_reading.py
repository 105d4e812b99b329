"""monitor.capture_keys, read_capture and read_ground_truth on moto S3: which keys are listed, how they are read.

Capture data is never expired, so an endpoint's prefix grows by the hour. Where the hour folders
sit right under the prefix (a variant's capture prefix, the ground-truth prefix) the listing must
start at the first hour asked for, and give exactly what a full listing gives from that hour on.
The objects are read a few at a time, in key order.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor_core.monitoring import capture, monitor

BUCKET = "conveyor-test-artifacts"  # the artifact_bucket fixture's (tests/unit/conftest.py)
VARIANT_PREFIX = "capture/ep/primary/"
SINCE = datetime(2026, 12, 5, 14, 25, tzinfo=UTC)


def _key(prefix: str, at: datetime, name: str) -> str:
    return f"{prefix}{at:%Y/%m/%d/%H}/{at:%M-%S}-000-{name}.jsonl"


def _record(inference_id: str, at: datetime) -> bytes:
    line = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"},
        },
        "eventMetadata": {
            "eventId": inference_id,
            "inferenceId": inference_id,
            "inferenceTime": f"{at:%Y-%m-%dT%H:%M:%SZ}",
        },
        "eventVersion": "0",
    }
    return (json.dumps(line) + "\n").encode()


def _put_hours(s3: Any, prefix: str, hours: range) -> list[str]:
    keys = []
    for offset in hours:
        at = SINCE + timedelta(hours=offset)
        key = _key(prefix, at, f"h{offset + 100}")
        s3.put_object(Bucket=BUCKET, Key=key, Body=_record(f"req{offset + 100}", at))
        keys.append(key)
    return keys


def _keys_listed(s3: Any) -> list[int]:
    counts: list[int] = []
    s3.meta.events.register("after-call.s3.ListObjectsV2", lambda parsed, **_: counts.append(parsed.get("KeyCount", 0)))
    return counts


def test_a_variant_prefix_is_listed_from_the_first_hour_asked_for(s3: Any, artifact_bucket: str) -> None:
    _put_hours(s3, VARIANT_PREFIX, range(-60, 0))  # two and a half days of older hours
    recent = _put_hours(s3, VARIANT_PREFIX, range(0, 3))
    listed = _keys_listed(s3)

    keys = monitor.capture_keys(s3, BUCKET, VARIANT_PREFIX, SINCE, hours_under_prefix=True)

    assert keys == recent
    assert sum(listed) == 3  # a full listing reads all 63


def test_starting_at_the_first_hour_lists_what_a_full_listing_keeps(s3: Any, artifact_bucket: str) -> None:
    _put_hours(s3, VARIANT_PREFIX, range(-30, 30, 7))
    # Same hour as ``since``, earlier minutes: the hour is kept whole, as before.
    s3.put_object(Bucket=BUCKET, Key=_key(VARIANT_PREFIX, SINCE.replace(minute=1), "early"), Body=b"")
    s3.put_object(Bucket=BUCKET, Key=f"{VARIANT_PREFIX}README.txt", Body=b"not a capture file")

    started = monitor.capture_keys(s3, BUCKET, VARIANT_PREFIX, SINCE, hours_under_prefix=True)
    full = monitor.capture_keys(s3, BUCKET, VARIANT_PREFIX, SINCE)

    assert started == full
    assert any("early" in key for key in started)


def test_an_endpoint_prefix_lists_every_variant_whatever_its_name(s3: Any, artifact_bucket: str) -> None:
    """Variant folders come before the hours: a variant named "0ld" sorts before "2026"."""
    keys = _put_hours(s3, "capture/ep/0ld/", range(0, 2)) + _put_hours(s3, "capture/ep/primary/", range(0, 2))

    found = monitor.capture_keys(s3, BUCKET, "capture/ep/", SINCE)

    assert sorted(found) == sorted(keys)


def test_an_endpoint_prefix_lists_each_variant_from_the_first_hour_asked_for(s3: Any, artifact_bucket: str) -> None:
    """The drift monitor's listing: the variant folders, then each one's recent hours only."""
    _put_hours(s3, "capture/ep/0ld/", range(-40, 0))
    _put_hours(s3, "capture/ep/primary/", range(-40, 0))
    recent = _put_hours(s3, "capture/ep/0ld/", range(0, 2)) + _put_hours(s3, "capture/ep/primary/", range(1, 3))
    s3.put_object(Bucket=BUCKET, Key="capture/ep/README.txt", Body=b"not a capture file")
    objects: list[int] = []
    s3.meta.events.register(
        "after-call.s3.ListObjectsV2", lambda parsed, **_: objects.append(len(parsed.get("Contents", [])))
    )

    found = monitor.capture_keys(s3, BUCKET, "capture/ep/", SINCE, folders_under_prefix=True)

    assert len(objects) == 3  # the folders, then each variant
    assert sum(objects) == 1 + 4  # README.txt beside the folders, and 4 capture keys: a full listing reads 85
    assert found == monitor.capture_keys(s3, BUCKET, "capture/ep/", SINCE)  # what a full listing keeps
    assert sorted(found) == sorted(recent)


def test_a_prefix_without_its_slash_is_listed_whole_and_loses_nothing(s3: Any, artifact_bucket: str) -> None:
    """Under "ground-truth" the keys ("ground-truth/2026/...") sort before "ground-truth2026/...": no start then."""
    keys = _put_hours(s3, "ground-truth/", range(0, 2))
    listed = _keys_listed(s3)

    found = monitor.capture_keys(s3, BUCKET, "ground-truth", SINCE, hours_under_prefix=True)

    assert found == keys
    assert sum(listed) == 2


def test_read_capture_reads_every_object_once_in_key_order(s3: Any, artifact_bucket: str) -> None:
    _put_hours(s3, VARIANT_PREFIX, range(-5, 0))
    _put_hours(s3, VARIANT_PREFIX, range(0, 20))
    found = capture.CapturedRows(features=3)

    read = monitor.read_capture(s3, BUCKET, VARIANT_PREFIX, SINCE, found, hours_under_prefix=True)

    assert read == 20
    assert found.rows == 20
    assert found.first_time == SINCE.replace(second=0)


def test_read_capture_stops_at_the_first_object_after_max_rows(s3: Any, artifact_bucket: str) -> None:
    _put_hours(s3, VARIANT_PREFIX, range(0, 30))
    found = capture.CapturedRows(features=3)

    read = monitor.read_capture(s3, BUCKET, VARIANT_PREFIX, SINCE, found, max_rows=12, hours_under_prefix=True)

    assert (read, found.rows) == (12, 12)


class _WaitingS3:
    """Lists ``count`` capture keys; each GetObject waits until ``together`` of them are in flight at once."""

    def __init__(self, count: int, together: int) -> None:
        self.keys = [_key(VARIANT_PREFIX, SINCE + timedelta(minutes=index), f"k{index}") for index in range(count)]
        self._barrier = threading.Barrier(together, timeout=5)

    def get_paginator(self, _name: str) -> Any:
        keys = self.keys

        class _Paginator:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{"Contents": [{"Key": key} for key in keys]}]

        return _Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._barrier.wait()  # raises BrokenBarrierError if the reads come one at a time
        index = self.keys.index(Key)

        class _Body:
            def read(self) -> bytes:
                return _record(f"req{index}", SINCE + timedelta(minutes=index))

        return {"Body": _Body()}


def test_objects_are_read_several_at_a_time() -> None:
    """On S3 each GET is a round trip, mostly waiting: one at a time, a day of capture files takes minutes."""
    s3 = _WaitingS3(count=16, together=monitor.READ_WINDOW)
    found = capture.CapturedRows(features=3)

    read = monitor.read_capture(s3, BUCKET, VARIANT_PREFIX, SINCE, found, hours_under_prefix=True)

    assert (read, found.rows) == (16, 16)
