"""Fixtures for the reliability tests: reusable offline clouds and real S3 event shapes.

A cloud takes seconds to deploy, so a module reuses one per parameter set (each case uses keys of
its own and compares counts before and after). moto's backends are process-wide, so only one cloud
lives at a time: asking for other parameters stops the current cloud first, and the module's last
test stops the last one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from tests.conftest import POLL_SECONDS, SETTLE_SECONDS, TIME_SCALE


def terminal(cloud: OfflineCloud, timeout: float = 120.0, count: int = 1) -> list[Any]:
    """Wait for ``count`` notifications other than compile.fallback; return them."""
    notes: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notes = [n for n in cloud.notifications() if n.event != "compile.fallback"]
        if len(notes) >= count:
            return notes
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"fewer than {count} notifications after {timeout}s: {[n.event for n in notes]}")


EVENTS = Path(__file__).resolve().parents[2] / "events"


class Clouds:
    """One offline cloud at a time, kept while consecutive tests ask for the same parameters."""

    def __init__(self) -> None:
        self._cloud: OfflineCloud | None = None
        self._parameters: dict[str, str] | None = None

    def get(self, **parameters: str) -> OfflineCloud:
        if self._cloud is not None and self._parameters == parameters:
            return self._cloud
        self.close()
        self._cloud = OfflineCloud(parameters=parameters, time_scale=TIME_SCALE, use_sam_build=False).start()
        self._parameters = parameters
        return self._cloud

    def close(self) -> None:
        if self._cloud is not None:
            cloud, self._cloud, self._parameters = self._cloud, None, None
            cloud.stop()


@pytest.fixture(scope="module")
def clouds() -> Iterator[Clouds]:
    manager = Clouds()
    yield manager
    manager.close()


def settle(cloud: OfflineCloud) -> None:
    """Give a late event its chance: a short grace for one still being put, then every delivery done."""
    time.sleep(SETTLE_SECONDS)
    cloud.deliveries.wait_idle(timeout=60)


ObjectCreated = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def object_created() -> ObjectCreated:
    """S3's "Object Created" event as EventBridge delivers it (events/), for one real write."""
    recorded = json.loads((EVENTS / "s3_object_created_single.json").read_text())

    def build(bucket: str, key: str, put_response: dict[str, Any], size: int) -> dict[str, Any]:
        event = json.loads(json.dumps(recorded))
        event["resources"] = [f"arn:aws:s3:::{bucket}"]
        event["detail"]["bucket"]["name"] = bucket
        event["detail"]["object"] = {
            "key": key,
            "size": size,
            "etag": put_response["ETag"].strip('"'),
            "version-id": put_response.get("VersionId"),
            "sequencer": "00617F08299329D189",
        }
        return event

    return build


def bus_entry(event: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry that puts ``event`` on the default bus, as S3 would."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Resources": event["resources"],
        "Detail": json.dumps(event["detail"]),
    }


@pytest.fixture(scope="session")
def to_bus_entry() -> Callable[[dict[str, Any]], dict[str, Any]]:
    return bus_entry
