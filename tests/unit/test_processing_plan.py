"""The Processing job Preprocess plans for a large drop: instances, capacity, inputs, outputs, worker archive."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import pytest
from moto import mock_aws

from conveyor_core.intake import processing_plan
from conveyor_core.intake.processing_plan import ProcessingCapacityError, ProcessingConfig
from conveyor_core.shared.contracts import DatasetRef, PipelineInput

GIB = 1024**3
CONFIG = ProcessingConfig(
    threshold_bytes=GIB, instance_count=4, instance_type="ml.m5.xlarge", volume_gb=100, max_seconds=3600
)


def test_never_more_instances_than_objects() -> None:
    assert processing_plan.instances_for({"a": 2 * GIB, "b": 2 * GIB}, CONFIG) == 2
    assert processing_plan.instances_for({f"p{n}": GIB for n in range(10)}, CONFIG) == 4


def test_a_drop_that_would_not_fit_the_volumes_names_the_parameters_that_raise_them() -> None:
    with pytest.raises(ProcessingCapacityError) as refused:
        processing_plan.instances_for({f"p{n}": 30 * GIB for n in range(8)}, CONFIG)
    message = str(refused.value)
    assert "raise ProcessingVolumeSizeInGB, or ProcessingInstanceCount" in message
    # One huge object bounds its instance whatever the count: more instances would not help.
    with pytest.raises(ProcessingCapacityError, match="raise ProcessingVolumeSizeInGB, or drop the data in more parts"):
        processing_plan.instances_for({"huge.csv": 60 * GIB}, CONFIG)


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="artifacts")
        yield client


def _run(keys: list[str]) -> PipelineInput:
    dataset = DatasetRef(bucket="data", keys=keys, uri="s3://data/incoming/big/", kind="folder")
    return PipelineInput(model="tabular", run_id="tabular-0123", dataset=dataset)


def _json(s3: Any, uri: str) -> Any:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_the_plan_shards_a_manifest_of_exactly_the_drops_keys(s3: Any) -> None:
    keys = ["incoming/big/part-0.csv", "incoming/big/part-1.csv.gz", "incoming/big/sub/part-2.csv"]
    plan = processing_plan.plan(s3, _run(keys), dict.fromkeys(keys, GIB), "artifacts", 0.2, CONFIG, region="eu-west-1")

    inputs = {item["InputName"]: item["S3Input"] for item in plan.processing_inputs}
    assert inputs["data"]["S3DataType"] == "ManifestFile"
    assert inputs["data"]["S3DataDistributionType"] == "ShardedByS3Key"
    assert _json(s3, inputs["data"]["S3Uri"]) == [
        {"prefix": "s3://data/incoming/big/"},
        "part-0.csv",
        "part-1.csv.gz",
        "sub/part-2.csv",
    ]
    assert inputs["drop"]["S3DataDistributionType"] == inputs["code"]["S3DataDistributionType"] == "FullyReplicated"
    assert _json(s3, inputs["drop"]["S3Uri"]) == {
        "prefix": "incoming/big/",
        "keys": keys,
        "validation_fraction": 0.2,
    }
    assert all(item["LocalPath"].startswith("/opt/ml/processing/") for item in inputs.values())
    assert plan.processing_resources == {
        "ClusterConfig": {"InstanceCount": 3, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 100}
    }
    assert plan.instance_count == 3
    outputs = {item["OutputName"]: item["S3Output"] for item in plan.processing_output_config["Outputs"]}
    assert outputs["reports"]["S3Uri"] == plan.reports_uri == "s3://artifacts/runs/tabular-0123/data/reports/"
    assert outputs["train"]["S3Uri"] == plan.train_uri
    assert {output["S3UploadMode"] for output in outputs.values()} == {"EndOfJob"}
    assert plan.app_specification["ImageUri"] == (
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.5.1-cpu-py311"
    )
    assert plan.stopping_condition == {"MaxRuntimeInSeconds": 3600}
    # CreateProcessingJob's limits: at most 100 entrypoint and argument items of 256 characters each.
    app = plan.app_specification
    assert all(len(item) <= 256 for item in [*app["ContainerEntrypoint"], *app["ContainerArguments"]])


def test_the_worker_archive_holds_the_validation_and_nothing_that_needs_pydantic(s3: Any) -> None:
    keys = ["incoming/big/a.csv", "incoming/big/b.csv"]
    plan = processing_plan.plan(s3, _run(keys), dict.fromkeys(keys, GIB), "artifacts", 0.2, CONFIG)
    [code] = [item["S3Input"]["S3Uri"] for item in plan.processing_inputs if item["InputName"] == "code"]
    bucket, key = code.removeprefix("s3://").split("/", 1)
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        sources = {name: tar.extractfile(name).read().decode() for name in tar.getnames()}  # type: ignore[union-attr]
    assert "conveyor_core/intake/shard_worker.py" in sources
    assert all(name.startswith("conveyor_core/") for name in sources)
    # A second plan finds the archive staged: the key holds the code's digest.
    again = processing_plan.plan(s3, _run(keys), dict.fromkeys(keys, GIB), "artifacts", 0.2, CONFIG)
    assert next(i for i in again.processing_inputs if i["InputName"] == "code")["S3Input"]["S3Uri"] == code


def test_the_worker_modules_import_without_pydantic_or_boto3() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(processing_plan.__file__).resolve().parents[2]
    probe = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.split('.')[0] in ('pydantic', 'boto3', 'botocore', 'aws_lambda_powertools'):\n"
        "        raise ImportError('the Processing image has no ' + name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import conveyor_core.intake.shard_worker\n"
        "import conveyor_core.intake.piece_parser\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root)},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_a_region_without_the_default_image_names_the_parameter_to_set() -> None:
    with pytest.raises(ValueError, match=r"set ProcessingImage to an image with Python 3\.11"):
        processing_plan.default_image("xx-nowhere-1")
