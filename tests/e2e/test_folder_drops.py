"""Folder drops never wait in silence (issue 15, "Drops that never wait silently"), end to end.

The offline cloud fires the drop sweeper's ``rate(1 minute)`` schedule on its scaled clock (every
0.6 s here), while the quiet period and the timeout compare the S3 events' real times: the stacks
below set them to seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]


def wait_for_event(cloud: OfflineCloud, event: str, timeout: float = 120.0, count: int = 1) -> list[Notification]:
    deadline = time.monotonic() + timeout
    found: list[Notification] = []
    while time.monotonic() < deadline:
        found = [n for n in cloud.notifications() if n.event == event]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {event} within {timeout}s: {[n.event for n in cloud.notifications()]}")


def data_uri(cloud: OfflineCloud, key: str) -> str:
    return f"s3://{cloud.output('DataBucketName')}/{key}"


def pending(cloud: OfflineCloud) -> list[dict[str, Any]]:
    items = cloud.client("dynamodb").scan(TableName=cloud.output("DropTableName"))["Items"]
    return [item for item in items if item["status"]["S"] != "completed"]


def test_a_partitioned_csv_with_no_marker_runs_after_the_quiet_period(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(DropQuietSeconds="2", DropTimeoutSeconds="600")
    cloud.upload("incoming/churn/2026-12-05/file.csv", breast_cancer_csv(rows=120))

    [note] = wait_for_event(cloud, "pipeline.succeeded")

    [run] = cloud.wait_for_executions(1)
    assert run["status"] == "SUCCEEDED"
    assert note.body["details"]["dataset"] == data_uri(cloud, "incoming/churn/2026-12-05/")
    assert note.body["details"]["skipped_objects"] == []
    assert pending(cloud) == []
    assert not [n for n in cloud.notifications() if n.event == "drop.incomplete"]


def test_a_folder_waiting_for_its_marker_is_reported_then_still_runs_when_the_marker_lands(
    cloud_factory: CloudFactory,
) -> None:
    cloud = cloud_factory(DropQuietSeconds="0", DropTimeoutSeconds="2")
    folder = "incoming/sales/2026-12-05/"
    cloud.upload(f"{folder}part-0000.csv", breast_cancer_csv(rows=120))
    cloud.upload(f"{folder}part-0001.csv", b"")
    cloud.upload(f"{folder}README.txt", b"exported by the nightly job")

    [incomplete] = wait_for_event(cloud, "drop.incomplete")

    assert incomplete.body["severity"] == "warning"
    assert incomplete.body["details"]["folder"] == data_uri(cloud, folder)
    assert "_SUCCESS" in incomplete.body["details"]["waits_for"]
    assert "DropQuietSeconds is 0" in incomplete.body["details"]["waits_for"]
    assert incomplete.body["details"]["skipped_objects"] == [
        f"{folder}README.txt: not a .csv or .csv.gz file",
        f"{folder}part-0001.csv: zero bytes",
    ]
    assert incomplete.body["metrics"]["parts"] == 3
    assert cloud.executions() == [], "reporting does not start (or cancel) the drop"
    time.sleep(3)  # further sweeps past the timeout do not repeat the notice
    assert len([n for n in cloud.notifications() if n.event == "drop.incomplete"]) == 1

    cloud.upload(f"{folder}_SUCCESS", b"")
    [succeeded] = wait_for_event(cloud, "pipeline.succeeded")

    assert succeeded.body["details"]["dataset"] == data_uri(cloud, folder)
    assert succeeded.body["details"]["skipped_objects"] == incomplete.body["details"]["skipped_objects"]
    assert pending(cloud) == []


def test_a_folder_of_only_empty_and_non_data_objects_is_reported_not_run(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(DropQuietSeconds="1", DropTimeoutSeconds="3")
    folder = "incoming/empty/2026-12-05/"
    cloud.upload(f"{folder}part-0000.csv", b"")

    [incomplete] = wait_for_event(cloud, "drop.incomplete")

    assert incomplete.body["details"]["skipped_objects"] == [f"{folder}part-0000.csv: zero bytes"]
    assert "1 s with no new object" in incomplete.body["details"]["waits_for"]
    assert cloud.executions() == []
