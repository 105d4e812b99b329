"""Drops over ProcessingThresholdBytes go to a SageMaker Processing job (issue 19), end to end.

The offline cloud runs the job for real: one worker process per instance, each with its share of
the drop's parts (``ShardedByS3Key`` over the manifest), then Preprocess merges the shard reports.
The threshold is set to a few bytes so that small folder drops take this path.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]
OUTCOMES = frozenset({"pipeline.succeeded", "pipeline.failed", "data.quarantined", "model.rejected"})
FOLDER = "incoming/large/2026-12-05/"
LARGE = {"ProcessingThresholdBytes": "1000", "ProcessingInstanceCount": "2", "DropQuietSeconds": "0"}


def wait_for_event(cloud: OfflineCloud, event: str, timeout: float = 180.0) -> Notification:
    """The run's notification, which must be ``event``: any other outcome fails at once with its reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in cloud.notifications():
            if note.event == event:
                return note
            if note.event in OUTCOMES:
                raise AssertionError(f"{note.event} where {event} was expected: {note.body.get('reason')}")
        time.sleep(0.1)
    raise AssertionError(f"no {event} within {timeout}s: {[n.event for n in cloud.notifications()]}")


def _parts(rows: int, count: int) -> list[bytes]:
    lines = breast_cancer_csv(rows=rows).splitlines(keepends=True)
    size = -(-len(lines) // count)
    return [b"".join(lines[start : start + size]) for start in range(0, len(lines), size)]


def _drop(cloud: OfflineCloud, parts: list[bytes]) -> None:
    for number, body in enumerate(parts):
        cloud.upload(f"{FOLDER}part-{number:04d}.csv", body)
    cloud.upload(f"{FOLDER}_SUCCESS", b"")


def _objects(cloud: OfflineCloud, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = cloud.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def _processing_job(cloud: OfflineCloud, run_id: str) -> dict[str, Any]:
    job: dict[str, Any] = cloud.client("sagemaker").describe_processing_job(ProcessingJobName=run_id)
    return job


def _run_id(execution: dict[str, Any]) -> str:
    return str(execution["name"])


def test_a_large_folder_drop_is_validated_by_a_processing_job_and_trains(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(**LARGE, TrainingInstanceCount="2")
    parts = _parts(rows=400, count=4)
    _drop(cloud, parts)

    note = wait_for_event(cloud, "pipeline.succeeded")

    [run] = cloud.wait_for_executions(1)
    run_id = _run_id(run)
    states = cloud.states_entered(run["executionArn"])
    assert states[:4] == ["Preprocess", "DatasetAccepted", "ProcessLargeDrop", "MergeShards"]
    job = _processing_job(cloud, run_id)
    assert job["ProcessingJobStatus"] == "Completed"
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 2
    [data_input] = [i for i in job["ProcessingInputs"] if i["InputName"] == "data"]
    assert data_input["S3Input"]["S3DataDistributionType"] == "ShardedByS3Key"

    artifacts = cloud.output("ArtifactBucketName")
    reports = _objects(cloud, artifacts, f"runs/{run_id}/data/reports/")
    assert sorted(key.rsplit("/", 1)[1] for key in reports) == ["algo-1.json", "algo-2.json"]
    # Each instance read two of the four parts: sharding by object, dealt out in key order.
    files = {json.loads(body)["host"]: [f["index"] for f in json.loads(body)["files"]] for body in reports.values()}
    assert files == {"algo-1": [0, 2], "algo-2": [1, 3]}
    train = _objects(cloud, artifacts, f"runs/{run_id}/data/train/")
    validation = _objects(cloud, artifacts, f"runs/{run_id}/data/validation/")
    assert len(train) == 4
    statistics = json.loads(
        _objects(cloud, artifacts, f"runs/{run_id}/statistics.json")[f"runs/{run_id}/statistics.json"]
    )
    split_rows = sum(body.count(b"\n") for body in (*train.values(), *validation.values()))
    assert statistics["rows"] == split_rows == 400
    assert statistics["train_rows"] + statistics["validation_rows"] == 400

    training = cloud.client("sagemaker").describe_training_job(TrainingJobName=run_id)
    assert training["ResourceConfig"]["InstanceCount"] == 2
    [train_channel] = [c for c in training["InputDataConfig"] if c["ChannelName"] == "train"]
    assert train_channel["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert note.body["details"]["dataset"] == f"s3://{cloud.output('DataBucketName')}/{FOLDER}"


def test_bad_data_in_one_shard_is_quarantined_with_the_lambda_paths_reason(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(**LARGE)
    parts = _parts(rows=300, count=3)
    lines = parts[2].splitlines(keepends=True)
    lines[4] = b"oops," + lines[4].split(b",", 1)[1]
    parts[2] = b"".join(lines)
    _drop(cloud, parts)

    note = wait_for_event(cloud, "data.quarantined")

    assert note.body["reason"].startswith(
        f"bad-label: {FOLDER}part-0002.csv line 5: the label 'oops' is not a finite number"
    )
    bucket = cloud.output("DataBucketName")
    # Nothing is lost: the originals stay, and the quarantine holds copies and the reason.
    assert _objects(cloud, bucket, FOLDER)[f"{FOLDER}part-0002.csv"] == parts[2]
    [run] = cloud.wait_for_executions(1)
    reason = json.loads(
        _objects(cloud, bucket, f"quarantine/{_run_id(run)}/reason.json")[f"quarantine/{_run_id(run)}/reason.json"]
    )
    assert reason["reason"] == "bad-label"
    assert reason["stage"] == "preprocess"


def test_a_failing_shard_ends_the_run_with_a_notification_naming_it(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(**LARGE)
    cloud.faults.break_processing_output(host="algo-2")
    _drop(cloud, _parts(rows=300, count=3))

    note = wait_for_event(cloud, "pipeline.failed")

    reason = note.body["reason"]
    assert "AlgorithmError: See job logs for more information" in reason
    assert f"shard algo-2: 1 files, 0 done; failed on {FOLDER}part-0001.csv" in reason
    [run] = cloud.wait_for_executions(1)
    assert run["status"] == "FAILED"
    assert _processing_job(cloud, _run_id(run))["ProcessingJobStatus"] == "Failed"


def test_a_drop_over_every_limit_is_refused_naming_the_parameter(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(**LARGE, MaxDatasetBytes="5000")
    _drop(cloud, _parts(rows=300, count=3))

    note = wait_for_event(cloud, "data.quarantined")

    assert "the largest drop Conveyor accepts (MaxDatasetBytes) is 5000 bytes" in note.body["reason"]
    assert "raise MaxDatasetBytes" in note.body["reason"]
    assert cloud.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []


def test_the_worker_runs_from_the_staged_archive(cloud_factory: CloudFactory) -> None:
    """The job's code input is the archive Preprocess staged: the worker and the validation it imports."""
    import tarfile

    cloud = cloud_factory(**LARGE)
    _drop(cloud, _parts(rows=200, count=2))
    wait_for_event(cloud, "pipeline.succeeded")
    [run] = cloud.wait_for_executions(1)
    [code] = [i for i in _processing_job(cloud, _run_id(run))["ProcessingInputs"] if i["InputName"] == "code"]
    bucket, key = code["S3Input"]["S3Uri"].removeprefix("s3://").split("/", 1)
    archive = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
    assert "conveyor_core/intake/shard_worker.py" in names
    assert "conveyor_core/intake/csv_dataset.py" in names
    assert not [name for name in names if "contracts" in name or "settings" in name]


def test_a_processing_job_whose_create_answer_was_lost_is_adopted(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(**LARGE)
    cloud.faults.fail_api("sagemaker", "CreateProcessingJob", kind="lost_response", times=1)
    _drop(cloud, _parts(rows=300, count=3))

    wait_for_event(cloud, "pipeline.succeeded")

    [run] = cloud.wait_for_executions(1)
    states = cloud.states_entered(run["executionArn"])
    assert "AdoptProcessingJob" in states, "the retry met ResourceInUse and waited for its own job"
    assert states.index("ProcessingJobDone") < states.index("MergeShards")
    assert len(cloud.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]) == 1
