"""SageMaker Processing jobs offline: one worker process per instance, the container's view of /opt/ml.

Each job here runs a small script as its container: it lists what its instance received and which
host it is, so the tests see the sharding, the config files and the outputs as SageMaker lays them out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.runtime import Runtime
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
BUCKET = "processing-bucket"
ROLE = "arn:aws:iam::123456789012:role/processing"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311"

LIST_SCRIPT = b"""
import json, os, pathlib, sys
root = pathlib.Path(sys.argv[1])
config = json.loads(pathlib.Path(sys.argv[2]).read_text())
out = pathlib.Path(sys.argv[3])
files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
(out / (config["current_host"] + ".json")).write_text(json.dumps({"hosts": config["hosts"], "files": files}))
"""
FAIL_SCRIPT = b"""
import pathlib, sys
pathlib.Path(sys.argv[1]).write_text("shard algo-2: no space left on device")
sys.exit(1 if "algo-2" in pathlib.Path(sys.argv[2]).read_text() else 0)
"""
SLEEP_SCRIPT = b"""
import time
time.sleep(60)
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch,
        REGION,
        time_scale=TIME_SCALE,
        bucket=BUCKET,
        settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=30),
    ) as runtime:
        yield runtime


def _s3() -> Any:
    return support.client("s3", REGION)


def _sagemaker() -> Any:
    return support.client("sagemaker", REGION)


def _job(name: str, script: bytes, arguments: list[str], instances: int, seconds: int = 60) -> None:
    _s3().put_object(Bucket=BUCKET, Key=f"code/{name}/run.py", Body=script)
    _sagemaker().create_processing_job(
        ProcessingJobName=name,
        RoleArn=ROLE,
        AppSpecification={
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/run.py"],
            # ContainerArguments has at least one item when given (the API's minimum).
            **({"ContainerArguments": arguments} if arguments else {}),
        },
        ProcessingInputs=[
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/data/",
                    "S3DataType": "S3Prefix",
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "ShardedByS3Key",
                },
            },
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/code/{name}/run.py",
                    "S3DataType": "S3Prefix",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            },
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "listing",
                    "S3Output": {
                        "S3Uri": f"s3://{BUCKET}/out/{name}/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={
            "ClusterConfig": {"InstanceCount": instances, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 10}
        },
        StoppingCondition={"MaxRuntimeInSeconds": seconds},
    )


def _wait(name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = _sagemaker().describe_processing_job(ProcessingJobName=name)
        if job["ProcessingJobStatus"] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} did not end in {timeout}s")


def _upload_data(count: int) -> None:
    for number in range(count):
        _s3().put_object(Bucket=BUCKET, Key=f"data/day-{number}/part.csv", Body=b"1,2\n")


def test_each_instance_gets_its_share_of_a_sharded_input_and_its_own_host_name(aws: Runtime) -> None:
    _upload_data(5)
    arguments = ["/opt/ml/processing/input", "/opt/ml/config/resourceconfig.json", "/opt/ml/processing/output"]
    _job("listing", LIST_SCRIPT, arguments, instances=3)

    job = _wait("listing")

    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 3
    listings = {}
    for host in ("algo-1", "algo-2", "algo-3"):
        body = _s3().get_object(Bucket=BUCKET, Key=f"out/listing/{host}.json")["Body"].read()
        listings[host] = json.loads(body)
    assert {host: listing["hosts"] for host, listing in listings.items()} == {
        host: ["algo-1", "algo-2", "algo-3"] for host in listings
    }
    data = {host: [f for f in listing["files"] if f.startswith("data/")] for host, listing in listings.items()}
    # Objects dealt out in key order, each to one instance; the replicated code to every instance.
    assert data == {
        "algo-1": ["data/day-0/part.csv", "data/day-3/part.csv"],
        "algo-2": ["data/day-1/part.csv", "data/day-4/part.csv"],
        "algo-3": ["data/day-2/part.csv"],
    }
    assert all("code/run.py" in listing["files"] for listing in listings.values())


def test_a_failing_instance_fails_the_job_with_its_message_in_exit_message(aws: Runtime) -> None:
    _upload_data(2)
    _job("failing", FAIL_SCRIPT, ["/opt/ml/output/message", "/opt/ml/config/resourceconfig.json"], instances=2)

    job = _wait("failing")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: See job logs for more information"
    assert "shard algo-2: no space left on device" in job["ExitMessage"]
    # A failed job uploads nothing.
    assert "Contents" not in _s3().list_objects_v2(Bucket=BUCKET, Prefix="out/failing/")


def test_max_runtime_stops_the_instances_still_running(aws: Runtime) -> None:
    _upload_data(1)
    _job("sleepy", SLEEP_SCRIPT, [], instances=1, seconds=1)

    job = _wait("sleepy", timeout=30)

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("MaxRuntimeExceeded: Processing job exceeded MaxRuntimeInSeconds of 1 s")
    assert "stopped algo-1, still running" in job["FailureReason"]


def test_a_taken_name_is_refused_with_resource_in_use(aws: Runtime) -> None:
    _upload_data(1)
    arguments = ["/opt/ml/processing/input", "/opt/ml/config/resourceconfig.json", "/opt/ml/processing/output"]
    _job("twice", LIST_SCRIPT, arguments, instances=1)
    with pytest.raises(ClientError) as refused:
        _job("twice", LIST_SCRIPT, arguments, instances=1)
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
    _wait("twice")
