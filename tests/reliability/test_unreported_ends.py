"""Runs that end where no Catch can see them still end in a notification, and free their model.

Step Functions' "Execution Status Change" event (emitted offline by localcloud/execution_events.py)
reaches WatchRunsFunction, which reports the ends the state machine could not report itself:
a notification that could not be published, an execution stopped by hand. A run that reported
its own failure is not reported twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv
from tests.conftest import POLL_SECONDS, TIME_SCALE
from tests.reliability.conftest import settle, terminal

pytestmark = pytest.mark.e2e

QUICK = {
    "Hyperparameters": '{"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}',
    "BakeTimeSeconds": "60",
}


@pytest.fixture
def cloud() -> Iterator[OfflineCloud]:
    started = OfflineCloud(parameters=QUICK, time_scale=TIME_SCALE, use_sam_build=False).start()
    yield started
    started.stop()


def lock_item(cloud: OfflineCloud) -> dict[str, Any]:
    table = cloud.output("StateTableName")
    item: dict[str, Any] = cloud.client("dynamodb").get_item(TableName=table, Key={"id": {"S": "lock#tabular"}})
    return item.get("Item", {})


def lock_holder(cloud: OfflineCloud) -> str | None:
    return lock_item(cloud).get("holder", {}).get("S")


def queued_runs(cloud: OfflineCloud) -> list[Any]:
    return list(lock_item(cloud).get("pending", {}).get("L", []))


def test_a_run_whose_own_notification_cannot_be_published_is_reported_by_the_watch(cloud: OfflineCloud) -> None:
    # Only the state machine's publishes fail; the watch function's own publish goes through.
    cloud.faults.fail_api("sns", "Publish", kind="error", callers=("states:",))
    cloud.upload("incoming/unreported.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)
    [note] = terminal(cloud, count=1)

    assert run["status"] == "FAILED"
    described = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    assert described["error"] == "Conveyor.NotificationFailed"
    assert note.event == "pipeline.failed"
    assert note.body["execution"] == run["executionArn"]
    assert note.body["details"]["stage"] == "watch"
    assert "ended FAILED before it could report: Conveyor.NotificationFailed" in note.body["reason"]
    settle(cloud)
    assert len(cloud.notifications()) == 1, "reported once, however the end was delivered"


def test_a_run_stopped_by_hand_is_reported_and_the_queued_drop_runs(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/stopped.csv", breast_cancer_csv())
    deadline = time.monotonic() + 60
    while not cloud.executions() or "Train" not in cloud.states_entered(cloud.executions()[0]["executionArn"]):
        assert time.monotonic() < deadline, "the first run never reached Train"
        time.sleep(POLL_SECONDS)
    first = cloud.executions()[0]
    cloud.upload("incoming/queued.csv", breast_cancer_csv(seed=5))
    deadline = time.monotonic() + 30
    while not queued_runs(cloud):
        assert time.monotonic() < deadline, "the second drop was not queued behind the first"
        time.sleep(POLL_SECONDS)

    cloud.client("stepfunctions").stop_execution(executionArn=first["executionArn"], cause="operator stop")
    runs = cloud.wait_for_executions(2, timeout=240)

    assert [run["status"] for run in runs] == ["ABORTED", "SUCCEEDED"]
    notes = terminal(cloud, count=2)
    assert [n.event for n in notes] == ["pipeline.failed", "pipeline.succeeded"]
    assert notes[0].body["execution"] == first["executionArn"]
    assert "ended ABORTED before it could report: it was stopped" in notes[0].body["reason"]
    assert lock_holder(cloud) is None


def test_a_run_that_reported_its_own_failure_is_not_reported_again(cloud: OfflineCloud) -> None:
    cloud.faults.kill_training(after_seconds=0.2)
    cloud.upload("incoming/killed.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)
    [note] = terminal(cloud, count=1)
    settle(cloud)  # room for a duplicate to arrive, if the watch were to send one

    assert run["status"] == "FAILED"
    assert note.event == "pipeline.failed"
    assert note.body["details"].get("stage") != "watch"
    assert [n.event for n in cloud.notifications()] == ["pipeline.failed"]


def test_a_watch_that_cannot_report_dead_letters_the_end_and_the_notifier_reports_it(cloud: OfflineCloud) -> None:
    cloud.faults.fail_api("sns", "Publish", kind="error", callers=("states:",))
    cloud.faults.crash_function("WatchRunsFunction")
    cloud.upload("incoming/unreported-twice.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)
    [note] = terminal(cloud, count=1)

    assert run["status"] == "FAILED"
    assert note.event == "pipeline.failed"
    assert note.body["details"]["stage"] == "watch"
    assert note.body["details"]["execution"] == run["executionArn"]
    assert note.body["details"]["dead_letter"]["writer"] == "lambda"
    assert f"{run['executionArn']} ended FAILED and its report failed" in note.body["reason"]
