"""Scheduled retraining on the offline cloud: the schedule's target is the real function.

A lost S3 event is the case the schedule exists for, so the tests switch the data-arrival rule off
to land a drop that no run has seen.
"""

from __future__ import annotations

import json

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e


def _events(cloud: OfflineCloud) -> list[str]:
    return [n.event for n in cloud.notifications()]


def _upload_unseen(cloud: OfflineCloud, key: str, body: bytes) -> None:
    cloud.set_ingest(False)
    cloud.upload(key, body)
    cloud.set_ingest(True)


def test_schedule_skips_when_the_newest_drop_is_the_production_models(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)

    result = cloud.fire_schedule("RetrainScheduleRule")

    assert result["action"] == "skipped"
    assert len(cloud.executions()) == 1, "no run starts"
    skipped = [n for n in cloud.notifications() if n.event == "retrain.skipped"]
    assert len(skipped) == 1
    assert skipped[0].attributes["severity"] == "info"
    assert "incoming/cancer.csv is the drop the production model was trained on" in skipped[0].body["reason"]


def test_schedule_retrains_on_a_drop_whose_event_was_lost(cloud: OfflineCloud) -> None:
    _upload_unseen(cloud, "incoming/missed.csv", breast_cancer_csv())
    assert cloud.executions() == []

    result = cloud.fire_schedule("RetrainScheduleRule", scheduled_time="2026-11-30T00:00:00Z")
    [run] = cloud.wait_for_executions(1)

    assert result["action"] == "started"
    assert run["status"] == "SUCCEEDED"
    described = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    assert json.loads(described["input"])["trigger"] == "schedule"
    assert _events(cloud) == ["pipeline.succeeded"]
    assert (
        cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointStatus"]
        == "InService"
    )


def test_a_scheduled_run_on_unchanged_content_is_skipped_before_training(cloud: OfflineCloud) -> None:
    data = breast_cancer_csv()
    cloud.upload("incoming/original.csv", data)
    cloud.wait_for_executions(1)
    _upload_unseen(cloud, "incoming/same-bytes-new-name.csv", data)

    cloud.fire_schedule("RetrainScheduleRule")
    runs = cloud.wait_for_executions(2)

    assert runs[1]["status"] == "SUCCEEDED"
    states = cloud.states_entered(runs[1]["executionArn"])
    assert "DatasetUnchanged" in states
    assert "Train" not in states
    assert _events(cloud) == ["pipeline.succeeded", "retrain.skipped"]
    assert "same content" in cloud.notifications()[-1].body["reason"]
    assert len(cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == 1


def test_a_scheduled_run_waits_for_the_running_data_run(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    # Fire while the data-arrival run holds the model lock.
    while not cloud.executions():
        pass

    result = cloud.fire_schedule("RetrainScheduleRule")
    runs = cloud.wait_for_executions(2, timeout=180)

    assert result["action"] == "queued"
    released = next(
        e["timestamp"]
        for e in cloud.history(runs[0]["executionArn"])
        if e.get("stateEnteredEventDetails", {}).get("name") == "FinalizeRun"
    )
    assert runs[1]["startDate"] >= released, "the scheduled run never overlapped the data run"
    # The data run releases the lock before it publishes, so the two notifications may arrive
    # in either order; each run must still have ended in its own.
    assert sorted(_events(cloud)) == ["pipeline.succeeded", "retrain.skipped"]
