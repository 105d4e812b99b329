"""Keys as people type them, end to end on the offline cloud (issue 15, "Keys").

A name with spaces, accents or brackets trains like any other: every name the pipeline derives
from it (execution, split files, training channels, registry metadata) is a digest or an
escape, and the offline cloud checks every request against botocore's models. A key with a
control character is quarantined with its reason, and an event for a version that is gone,
while a newer upload holds the key, says so instead of "deleted".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor_core.release.registry import unescape
from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e

EVENT_TEMPLATE = "events/s3_object_created_single.json"
# CreateModelPackage's pattern for a CustomerMetadataProperties value.
METADATA_VALUE = re.compile(r"[\w\s.:/=+\-@]{1,256}")


@pytest.fixture(scope="module")
def cloud() -> Iterator[OfflineCloud]:
    started = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False).start()
    yield started
    started.stop()


def _new_notifications(cloud: OfflineCloud, before: int) -> list[Notification]:
    return cloud.notifications()[before:]


def _reason_document(cloud: OfflineCloud, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    document: dict[str, Any] = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def _quarantined_once(cloud: OfflineCloud, before: int) -> Notification:
    cloud.deliveries.wait_idle(timeout=60)
    quarantined = [n for n in _new_notifications(cloud, before) if n.event == "data.quarantined"]
    assert len(quarantined) == 1, [(n.event, n.body.get("reason")) for n in _new_notifications(cloud, before)]
    return quarantined[0]


def _object_created(cloud: OfflineCloud, key: str, put_response: dict[str, Any], size: int) -> dict[str, Any]:
    """The PutEvents entry S3 sends for one write, built from the recorded event in events/."""
    with open(EVENT_TEMPLATE, encoding="utf-8") as recorded:
        event = json.load(recorded)
    bucket = cloud.output("DataBucketName")
    detail = event["detail"]
    detail["bucket"]["name"] = bucket
    detail["object"] = {
        "key": key,
        "size": size,
        "etag": put_response["ETag"].strip('"'),
        "version-id": put_response["VersionId"],
        "sequencer": "00617F08299329D189",
    }
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Resources": [f"arn:aws:s3:::{bucket}"],
        "Detail": json.dumps(detail),
    }


def test_keys_with_spaces_accents_and_brackets_each_train_a_model(cloud: OfflineCloud) -> None:
    # Given two drops named as people name files (different data, so neither run is skipped)
    cloud.upload("incoming/données de mars.csv", breast_cancer_csv(rows=400, seed=1))
    cloud.upload("incoming/sales Q3 (final).csv", breast_cancer_csv(rows=500, seed=2))

    # When their runs end
    runs = cloud.wait_for_executions(2, timeout=300)

    # Then both runs succeed, under derived names
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,80}", run["name"]) for run in runs)
    # The first deploys a model; the second trains and is judged against it (deployed or rejected)
    outcomes = [n.event for n in cloud.notifications() if n.event.startswith(("pipeline.", "model."))]
    assert len(outcomes) == 2, outcomes
    assert outcomes[0] == "pipeline.succeeded", outcomes
    assert outcomes[1] in {"pipeline.succeeded", "model.rejected"}, outcomes
    sagemaker = cloud.client("sagemaker")
    for run in runs:
        run_input = json.loads(
            cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])["input"]
        )
        assert run_input["dataset"]["keys"][0] in {"incoming/données de mars.csv", "incoming/sales Q3 (final).csv"}
    jobs = sagemaker.list_training_jobs()["TrainingJobSummaries"]
    assert len(jobs) == 2, "each drop trained a model"
    for job in jobs:
        described = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])
        for channel in described["InputDataConfig"]:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            assert uri.isascii(), f"a training channel carries a raw key: {uri}"
            assert " " not in uri, f"a training channel carries a raw key: {uri}"
    packages = sagemaker.list_model_packages(ModelPackageGroupName=cloud.output("ModelPackageGroupName"))
    dataset_uris = set()
    for summary in packages["ModelPackageSummaryList"]:
        described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        metadata = described.get("CustomerMetadataProperties", {})
        # Letters of any script and spaces are in SageMaker's alphabet; anything else is escaped.
        assert all(METADATA_VALUE.fullmatch(value) for value in metadata.values()), metadata
        dataset_uris |= {unescape(value) for key, value in metadata.items() if key == "dataset_uri"}
    bucket = cloud.output("DataBucketName")
    expected = {f"s3://{bucket}/incoming/données de mars.csv", f"s3://{bucket}/incoming/sales Q3 (final).csv"}
    assert dataset_uris, "the deployed model's package records its dataset"
    assert dataset_uris <= expected


def test_a_key_with_a_control_character_is_quarantined_with_its_reason(cloud: OfflineCloud) -> None:
    before = len(cloud.notifications())
    executions = len(cloud.executions())
    key = "incoming/tab\there.csv"

    cloud.upload(key, breast_cancer_csv(rows=100))

    notification = _quarantined_once(cloud, before)
    assert notification.body["reason"].startswith("key-control-characters: key holds U+0009 (a control character)")
    assert "\t" not in notification.body["reason"]
    document = _reason_document(cloud, notification.body["details"]["quarantine"])
    assert document["reason"] == "key-control-characters"
    [record] = document["objects"]
    assert record["source"] == f"s3://{cloud.output('DataBucketName')}/{key}"
    assert record["status"] == "copied"
    assert re.fullmatch(r"s3://[^/]+/quarantine/ingest/[A-Za-z0-9_-]+/renamed/object-[0-9a-f]{32}\.csv", record["copy"])
    assert len(cloud.executions()) == executions, "a refused key starts no run"


def test_an_event_for_a_version_that_is_gone_says_so_not_that_the_object_was_deleted(cloud: OfflineCloud) -> None:
    # Given version 1 of a key, overwritten by version 2 and then deleted, while its event was in flight
    s3 = cloud.client("s3")
    bucket = cloud.output("DataBucketName")
    key = "incoming/overwritten later.csv"
    body = breast_cancer_csv(rows=100, seed=3)
    cloud.set_ingest(False)
    try:
        first = cloud.upload(key, body)
        cloud.upload(key, breast_cancer_csv(rows=100, seed=4))
        s3.delete_object(Bucket=bucket, Key=key, VersionId=first["VersionId"])
    finally:
        cloud.set_ingest(True)
    before = len(cloud.notifications())
    executions = len(cloud.executions())

    # When the event for version 1 arrives
    cloud.client("events").put_events(Entries=[_object_created(cloud, key, first, len(body))])

    # Then its run (ingest admits from the event alone) finds the version gone in Preprocess and
    # quarantines it as such; the current version is not copied and starts nothing more here
    cloud.wait_for_executions(executions + 1)
    notification = _quarantined_once(cloud, before)
    reason = notification.body["reason"]
    assert reason.startswith(f"version-gone: version {first['VersionId']} of s3://{bucket}/{key} no longer exists")
    assert "deleted after it landed" not in reason
    assert "separate upload" in reason
    document = _reason_document(cloud, notification.body["details"]["quarantine"])
    assert document["reason"] == "version-gone"
    assert [record["status"] for record in document["objects"]] == ["missing"]
    assert document["stage"] == "preprocess"
    assert len(cloud.executions()) == executions + 1
