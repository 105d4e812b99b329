"""Every case of the bad-input corpus, end to end on the offline cloud.

For each bad input: no training job starts; the input is copied to ``quarantine/`` with a
``reason.json`` whose ``reason`` is the case's code; one ``data.quarantined`` notification carries
that code; and the uploaded object is untouched (same bytes, same version, still current). The
valid edge cases run to a completed training job instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from conveyor_core.intake.drops import is_safe_key
from conveyor_core.intake.s3_io import split_uri
from localcloud.cloud import Notification, OfflineCloud
from tests.reliability.bad_inputs import (
    BAD_INPUTS,
    PROCESSING_THRESHOLD_BYTES,
    SMALL_LIMIT_BYTES,
    VALID_INPUTS,
    BadInput,
    Upload,
    ValidInput,
)
from tests.reliability.conftest import Clouds, ObjectCreated, bus_entry

pytestmark = pytest.mark.e2e

CLOUD_PARAMETERS: dict[str, dict[str, str]] = {
    "default": {},
    "small-limit": {"MaxDatasetBytes": str(SMALL_LIMIT_BYTES)},
    "processing": {"ProcessingThresholdBytes": str(PROCESSING_THRESHOLD_BYTES), "ProcessingInstanceCount": "2"},
}
# Valid cases: a quick model, and a gate no later model can pass, so only the first run deploys.
VALID_CLOUD = {
    "Hyperparameters": '{"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}',
    "MinImprovement": "1",
}
MAX_S3_KEY_BYTES = 1024
FAKE_HOLDER = "reliability-run-in-progress"


@dataclass(frozen=True)
class Snapshot:
    executions: int
    notifications: int
    training_jobs: int
    quarantined: frozenset[str]

    @classmethod
    def take(cls, cloud: OfflineCloud) -> Snapshot:
        return cls(
            executions=len(cloud.executions()),
            notifications=len(cloud.notifications()),
            training_jobs=len(training_jobs(cloud)),
            quarantined=frozenset(quarantine_keys(cloud)),
        )


def training_jobs(cloud: OfflineCloud) -> list[dict[str, Any]]:
    sagemaker = cloud.client("sagemaker")
    jobs: list[dict[str, Any]] = []
    for page in sagemaker.get_paginator("list_training_jobs").paginate():
        jobs.extend(page["TrainingJobSummaries"])
    return jobs


def quarantine_keys(cloud: OfflineCloud) -> list[str]:
    s3 = cloud.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=cloud.output("DataBucketName"), Prefix="quarantine/"
    ):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def upload(cloud: OfflineCloud, item: Upload) -> dict[str, Any]:
    extra = {"ContentType": item.content_type} if item.content_type else {}
    response: dict[str, Any] = cloud.client("s3").put_object(
        Bucket=cloud.output("DataBucketName"), Key=item.key, Body=item.body, **extra
    )
    return response


def hold_the_model_lock(cloud: OfflineCloud) -> None:
    """Make it look as if a run of the model is in progress: later drops queue behind it."""
    cloud.client("dynamodb").put_item(
        TableName=cloud.output("StateTableName"),
        Item={
            "id": {"S": "lock#tabular"},
            "holder": {"S": FAKE_HOLDER},
            "acquired_at": {"N": str(int(time.time()))},
        },
    )


def finish_the_run_in_progress(cloud: OfflineCloud) -> dict[str, Any]:
    """What the holder's FinalizeRun state does: release the lock and start the queued drop."""
    assert cloud.stack is not None
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.stack.physical("FinalizeRunFunction"),
        Payload=json.dumps({"model": "tabular", "run_id": FAKE_HOLDER}).encode(),
    )
    result: dict[str, Any] = json.loads(response["Payload"].read())
    return result


def deliver(cloud: OfflineCloud, case: BadInput, object_created: ObjectCreated) -> dict[str, dict[str, Any]]:
    """Upload the case's objects and get its event to the ingest function; returns the put responses."""
    s3 = cloud.client("s3")
    bucket = cloud.output("DataBucketName")
    trigger = case.trigger
    responses: dict[str, dict[str, Any]] = {}
    if case.delivery == "upload":
        for item in case.uploads:
            responses[item.key] = upload(cloud, item)
        return responses
    if case.delivery == "direct":
        responses[trigger.key] = upload(cloud, trigger)
        event = object_created(bucket, trigger.key, responses[trigger.key], len(trigger.body))
        answer = cloud.client("lambda").invoke(
            FunctionName=cloud.output("IngestFunctionName"), Payload=json.dumps(event).encode()
        )
        result = json.loads(answer["Payload"].read())
        assert result["action"] == "quarantined", result
        return responses
    if case.delivery == "deleted":
        # The object lands while its event is held back, is deleted, then the event arrives.
        cloud.set_ingest(False)
        try:
            responses[trigger.key] = upload(cloud, trigger)
            s3.delete_object(Bucket=bucket, Key=trigger.key)
        finally:
            cloud.set_ingest(True)
        event = object_created(bucket, trigger.key, responses[trigger.key], len(trigger.body))
        assert cloud.client("events").put_events(Entries=[bus_entry(event)])["FailedEntryCount"] == 0
        return responses
    assert case.delivery == "queued-then-deleted"
    before = len(cloud.executions())
    hold_the_model_lock(cloud)
    responses[trigger.key] = upload(cloud, trigger)
    cloud.wait_for_executions(before)
    assert len(cloud.executions()) == before, "the drop queues behind the run in progress"
    s3.delete_object(Bucket=bucket, Key=trigger.key)
    assert finish_the_run_in_progress(cloud)["next_execution"], "the queued drop starts when the lock passes on"
    return responses


def read_json(cloud: OfflineCloud, uri: str) -> dict[str, Any]:
    bucket, key = split_uri(uri)
    document: dict[str, Any] = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def read_bytes(cloud: OfflineCloud, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    return bytes(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def assert_untouched(cloud: OfflineCloud, item: Upload, response: dict[str, Any], deleted_by_us: bool) -> None:
    """The same bytes at the same version; nothing written over it; still current unless we deleted it."""
    s3 = cloud.client("s3")
    bucket = cloud.output("DataBucketName")
    listing = s3.list_object_versions(Bucket=bucket, Prefix=item.key)
    versions = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == item.key]
    markers = [m for m in listing.get("DeleteMarkers", []) if m["Key"] == item.key]
    assert versions == [response["VersionId"]], f"{item.key!r} gained or lost versions: {versions}"
    assert len(markers) == (1 if deleted_by_us else 0), f"{item.key!r} delete markers: {markers}"
    original = s3.get_object(Bucket=bucket, Key=item.key, VersionId=response["VersionId"])
    assert original["Body"].read() == item.body
    if not deleted_by_us:
        assert s3.head_object(Bucket=bucket, Key=item.key)["VersionId"] == response["VersionId"]


def only_new_notification(cloud: OfflineCloud, before: Snapshot) -> Notification:
    new = cloud.notifications()[before.notifications :]
    assert len(new) == 1, [(n.event, n.body.get("reason")) for n in new]
    return new[0]


ORDERED_BAD_INPUTS = sorted(BAD_INPUTS, key=lambda case: list(CLOUD_PARAMETERS).index(case.cloud))


def test_the_corpus_covers_at_least_thirty_bad_inputs_each_with_a_reason_code() -> None:
    assert len(BAD_INPUTS) >= 30
    assert len({case.id for case in BAD_INPUTS}) == len(BAD_INPUTS)
    assert all(case.reason for case in BAD_INPUTS)
    assert all(case.uploads for case in BAD_INPUTS)


@pytest.mark.parametrize("case", ORDERED_BAD_INPUTS, ids=lambda case: case.id)
def test_bad_input_is_quarantined_with_its_reason_and_no_training_job_starts(
    case: BadInput, clouds: Clouds, object_created: ObjectCreated
) -> None:
    cloud = clouds.get(**CLOUD_PARAMETERS[case.cloud])
    before = Snapshot.take(cloud)

    responses = deliver(cloud, case, object_created)
    runs_expected = before.executions + (1 if case.stage == "preprocess" else 0)
    runs = cloud.wait_for_executions(runs_expected, timeout=90)

    # (1) no training job, and a run only where the case is stopped inside one
    assert len(runs) == runs_expected
    assert len(training_jobs(cloud)) == before.training_jobs
    notification = only_new_notification(cloud, before)
    if case.stage == "preprocess":
        [run] = runs[before.executions :]
        assert run["status"] == "SUCCEEDED", "a quarantined dataset is a handled outcome, not a failure"
        states = cloud.states_entered(run["executionArn"])
        assert "QuarantinedOutcome" in states
        assert ("MergeShards" in states) == (case.cloud == "processing")
        assert "Train" not in states
        assert notification.body["execution"] == run["executionArn"]
    # (3) one data.quarantined notification carrying the reason code
    assert notification.event == "data.quarantined"
    assert notification.attributes["event"] == "data.quarantined"
    assert notification.body["reason"].startswith(f"{case.reason}: "), notification.body["reason"]
    assert notification.body["severity"] == "warning"
    # (2) reason.json in quarantine/, machine-readable, and the copies (or why there are none)
    reason = read_json(cloud, notification.body["details"]["quarantine"])
    assert reason["reason"] == case.reason
    assert reason["stage"] == case.stage
    assert reason["detail"]
    bucket = cloud.output("DataBucketName")
    records = {record["source"]: record for record in reason["objects"]}
    bodies = {item.key: item.body for item in case.uploads}
    for key in case.copied_keys:
        record = records[f"s3://{bucket}/{key}"]
        assert record["status"] == "copied", record
        assert record["version_id"] == responses[key]["VersionId"]
        assert read_bytes(cloud, record["copy"]) == bodies[key]
    if case.delivery in ("deleted", "queued-then-deleted"):
        # Withdrawn data is reported but never copied back into existence.
        assert reason["missing_sources"] == [case.trigger.key]
        assert [record["status"] for record in reason["objects"]] == ["missing"]
    written = set(quarantine_keys(cloud)) - before.quarantined
    _, reason_key = split_uri(notification.body["details"]["quarantine"])
    assert {key for key in written if key.endswith("/reason.json")} == {reason_key}
    assert len(written) == 1 + len(case.copied_keys), "reason.json and one copy per input, nothing else"
    for key in written:
        assert is_safe_key(key), f"an unsafe name was reused under quarantine/: {key!r}"
        assert len(key.encode()) <= MAX_S3_KEY_BYTES
    # (4) the originals are untouched
    for item in case.uploads:
        if item.key in responses:
            assert_untouched(cloud, item, responses[item.key], deleted_by_us=case.delivery.endswith("deleted"))


def test_inputs_that_only_wait_are_neither_run_nor_quarantined(clouds: Clouds) -> None:
    # A console "Create folder" placeholder, and parts whose marker has not landed yet.
    cloud = clouds.get(**CLOUD_PARAMETERS["default"])
    before = Snapshot.take(cloud)

    for item in (
        Upload("incoming/new-folder/", b""),
        Upload("incoming/waiting/part-0000.csv", b"1,2\n"),
        Upload("incoming/waiting/part-0001.csv.gz", b"\x1f\x8b"),
        Upload("incoming/waiting/notes.txt", b"the marker comes later\n"),
    ):
        upload(cloud, item)
    cloud.wait_for_executions(before.executions)

    assert Snapshot.take(cloud) == before


@pytest.mark.parametrize("case", VALID_INPUTS, ids=lambda case: case.id)
def test_valid_edge_case_runs_to_a_completed_training_job(case: ValidInput, clouds: Clouds) -> None:
    cloud = clouds.get(**VALID_CLOUD)
    before = Snapshot.take(cloud)

    responses = {item.key: upload(cloud, item) for item in case.uploads}
    runs = cloud.wait_for_executions(before.executions + 1, timeout=180)

    [run] = runs[before.executions :]
    assert run["status"] == "SUCCEEDED"
    states = cloud.states_entered(run["executionArn"])
    assert states[:3] == ["Preprocess", "DatasetAccepted", "Train"]
    jobs = training_jobs(cloud)
    assert len(jobs) == before.training_jobs + 1
    job = cloud.client("sagemaker").describe_training_job(TrainingJobName=run["name"])
    assert job["TrainingJobStatus"] == "Completed"
    statistics = read_json(cloud, f"s3://{cloud.output('ArtifactBucketName')}/runs/{run['name']}/statistics.json")
    assert statistics["rows"] == case.rows, "every row of the drop was read, and nothing else"
    assert statistics["features"] == 30
    notification = only_new_notification(cloud, before)
    assert notification.event in {"pipeline.succeeded", "model.rejected"}, notification.body.get("reason")
    assert set(quarantine_keys(cloud)) == before.quarantined
    for item in case.uploads:
        assert_untouched(cloud, item, responses[item.key], deleted_by_us=False)
