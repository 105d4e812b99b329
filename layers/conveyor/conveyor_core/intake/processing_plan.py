"""The SageMaker Processing job for a drop too large for the Lambda: inputs, outputs, worker, instances.

Each instance runs ``shard_worker`` (the Lambda path's validation code, staged as a small archive)
on its share of the drop's objects: the data input is a manifest of exactly the drop's keys with
``ShardedByS3Key``, so an object goes to one instance. A single large object is therefore read by
one instance: sharding is by object, so a drop gets its parallelism from its parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor_core.families.pytorch import deep_learning_container
from conveyor_core.intake import s3_io
from conveyor_core.intake.training_code import stage_archive
from conveyor_core.shared.contracts import PipelineInput, ProcessingPlan

_BASE = "/opt/ml/processing"
# The worker's modules: the validation the Lambda runs, and the few it imports (none imports
# pydantic or boto3, which the image lacks).
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
WORKER_FILES = (
    "__init__.py",
    "intake/__init__.py",
    "intake/csv_dataset.py",
    "intake/drops.py",
    "intake/piece_parser.py",
    "intake/s3_io.py",
    "intake/shard_report.py",
    "intake/shard_worker.py",
)
# The PyTorch training Deep Learning Container: Python 3.11 with pandas and numpy, as the layer has.
# (SageMaker's scikit-learn processing images stop at Python 3.9, older than this code.)
DEFAULT_IMAGE_TAG = "2.5.1-cpu-py311"
_GIB = 1024**3


@dataclass(frozen=True)
class ProcessingConfig:
    """The stack's parameters for the Processing path (template: ProcessingThresholdBytes and the rest)."""

    threshold_bytes: int
    instance_count: int
    instance_type: str
    volume_gb: int
    max_seconds: int
    image: str = ""


class ProcessingCapacityError(RuntimeError):
    """The drop would not fit the instances' volumes; the message names the parameters that raise it."""


def default_image(region: str) -> str:
    try:
        return deep_learning_container("pytorch-training", region, DEFAULT_IMAGE_TAG)
    except ValueError:
        raise ValueError(
            f"SageMaker publishes no PyTorch Deep Learning Container in {region} for the Processing job: set "
            "ProcessingImage to an image with Python 3.11 or newer, pandas and numpy"
        ) from None


def worker_archive_files() -> dict[str, bytes]:
    return {f"conveyor_core/{name}": (_PACKAGE_ROOT / name).read_bytes() for name in WORKER_FILES}


def _common_folder(keys: list[str]) -> str:
    """The deepest folder (ending in "/", or "") that holds every key: the manifest's prefix."""
    common = keys[0][: keys[0].rfind("/") + 1]
    for key in keys[1:]:
        while not key.startswith(common):
            common = common[: common[:-1].rfind("/") + 1]
    return common


def instances_for(sizes: dict[str, int], config: ProcessingConfig) -> int:
    """How many instances the drop gets: never more than it has objects (the others would get none).

    Each instance's volume holds its objects and the split it writes (about their size again); the
    largest object bounds the busiest instance, whatever the sharding does with the rest.
    """
    instances = min(config.instance_count, len(sizes))
    total = sum(sizes.values())
    busiest = max(total / instances, *sizes.values())
    if 2 * busiest > config.volume_gb * _GIB:
        raise ProcessingCapacityError(
            f"the drop is {total} bytes in {len(sizes)} object(s) (the largest {max(sizes.values())} bytes); "
            f"{instances} Processing instance(s) with {config.volume_gb} GiB volumes cannot hold about "
            f"{2 * busiest / _GIB:.1f} GiB each (the data and its split): raise ProcessingVolumeSizeInGB"
            + (", or ProcessingInstanceCount" if instances < len(sizes) else ", or drop the data in more parts")
        )
    return instances


def plan(
    s3_client: Any,
    run: PipelineInput,
    sizes: dict[str, int],
    artifact_bucket: str,
    validation_fraction: float,
    config: ProcessingConfig,
    region: str | None = None,
) -> ProcessingPlan:
    """Stage the worker and the drop's manifest; the job CreateProcessingJob will be given."""
    dataset = run.dataset
    keys = list(dataset.keys)
    instances = instances_for(sizes, config)
    folder = _common_folder(keys)
    prefix = f"runs/{run.run_id}/processing/"
    manifest_uri = s3_io.put_json(
        s3_client,
        artifact_bucket,
        f"{prefix}manifest.json",
        [{"prefix": f"s3://{dataset.bucket}/{folder}"}, *(key[len(folder) :] for key in keys)],
    )
    drop_uri = s3_io.put_json(
        s3_client,
        artifact_bucket,
        f"{prefix}drop/drop.json",
        {"prefix": folder, "keys": keys, "validation_fraction": validation_fraction},
    )
    code_uri = stage_archive(s3_client, artifact_bucket, "code/processing", worker_archive_files(), "worker.tar.gz")
    data_uri = f"s3://{artifact_bucket}/runs/{run.run_id}/data/"
    image = config.image or default_image(region or os.environ.get("AWS_REGION", "us-east-1"))
    return ProcessingPlan(
        app_specification={
            "ImageUri": image,
            "ContainerEntrypoint": [
                "/bin/sh",
                "-c",
                f"cd {_BASE}/input/code && tar -xzf worker.tar.gz && "
                'exec python3 -m conveyor_core.intake.shard_worker "$@"',
                "shard_worker",
            ],
            "ContainerArguments": [
                *("--data", f"{_BASE}/input/data"),
                *("--drop", f"{_BASE}/input/drop/drop.json"),
                *("--output", f"{_BASE}/output"),
                *("--resource-config", "/opt/ml/config/resourceconfig.json"),
                *("--message", "/opt/ml/output/message"),
            ],
        },
        processing_inputs=[
            _input("data", manifest_uri, "ManifestFile", f"{_BASE}/input/data", "ShardedByS3Key"),
            _input("drop", drop_uri, "S3Prefix", f"{_BASE}/input/drop", "FullyReplicated"),
            _input("code", code_uri, "S3Prefix", f"{_BASE}/input/code", "FullyReplicated"),
        ],
        processing_output_config={
            "Outputs": [_output(name, f"{data_uri}{name}/") for name in ("train", "validation", "reports")]
        },
        processing_resources={
            "ClusterConfig": {
                "InstanceCount": instances,
                "InstanceType": config.instance_type,
                "VolumeSizeInGB": config.volume_gb,
            }
        },
        stopping_condition={"MaxRuntimeInSeconds": config.max_seconds},
        reports_uri=f"{data_uri}reports/",
        train_uri=f"{data_uri}train/",
        validation_uri=f"{data_uri}validation/",
        instance_count=instances,
    )


def _input(name: str, uri: str, data_type: str, local_path: str, distribution: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "S3DataType": data_type,
            "LocalPath": local_path,
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }


def _output(name: str, uri: str) -> dict[str, Any]:
    return {
        "OutputName": name,
        "S3Output": {"S3Uri": uri, "LocalPath": f"{_BASE}/output/{name}", "S3UploadMode": "EndOfJob"},
    }
