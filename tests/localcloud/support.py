"""Scaffolding the offline cloud's tests share: clients, waiting, a fresh cloud per test, a training job.

Each test module keeps its own constants (region, bucket, image, time scale) and passes them in: a
module binds ``client`` and ``wait_until`` to its region and its patience with ``functools.partial``,
and its ``aws`` fixture enters ``offline_cloud``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from localcloud.datasets import breast_cancer_csv
from localcloud.runtime import Runtime


def client(service: str, region: str, **config: Any) -> Any:
    """A boto3 client of ``service`` in ``region``; ``config`` (if any) is botocore's ``Config``."""
    return boto3.client(service, region_name=region, config=Config(**config) if config else None)


def wait_until(
    condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition", *, interval: float = 0.01
) -> None:
    """Return once ``condition()`` holds, looking every ``interval`` s; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


@contextmanager
def offline_cloud(
    env: pytest.MonkeyPatch,
    region: str,
    *,
    time_scale: float,
    bucket: str | None = None,
    settle: Callable[[Runtime], object] | None = None,
    mock_config: dict[str, Any] | None = None,
) -> Iterator[Runtime]:
    """A runtime of its own under ``mock_aws``, with test credentials and ``region`` in its environment.

    The runtime is activated first: it swaps os.environ for its overlay, which ``env`` then edits (and
    undoes when its owner says). ``bucket`` is created once moto is up; ``settle`` runs on the way out,
    still under the mock: what the module waits for before its cloud goes (deliveries, SageMaker jobs).
    """
    with Runtime(time_scale=time_scale) as runtime:
        for variable, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", region),
        ):
            env.setenv(variable, value)
        with mock_aws(config=mock_config):
            if bucket is not None:
                client("s3", region).create_bucket(Bucket=bucket)
            yield runtime
            if settle is not None:
                settle(runtime)


# --- training ------------------------------------------------------------------------------------


def upload_dataset(region: str, bucket: str, *, rows: int, train_rows: int, **put: Any) -> None:
    """The first ``rows`` breast-cancer rows in ``bucket``: ``train_rows`` of them under ``data/train/``,
    the rest under ``data/validation/``; ``put`` goes to each PutObject (encryption, say)."""
    lines = breast_cancer_csv(rows=rows).decode().splitlines(keepends=True)
    s3 = client("s3", region)
    s3.put_object(Bucket=bucket, Key="data/train/train.csv", Body="".join(lines[:train_rows]).encode(), **put)
    s3.put_object(Bucket=bucket, Key="data/validation/validation.csv", Body="".join(lines[train_rows:]).encode(), **put)


def start_training_job(
    region: str, name: str, *, image: str, role_arn: str, bucket: str, hyperparameters: dict[str, str]
) -> Any:
    """CreateTrainingJob on the channels ``upload_dataset`` wrote, output under ``output/``; the SageMaker client."""
    sagemaker = client("sagemaker", region)
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=role_arn,
        HyperParameters=hyperparameters,
        InputDataConfig=[
            {
                "ChannelName": channel,
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/data/{channel}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for channel in ("train", "validation")
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return sagemaker


def training_job_ended(sagemaker: Any, name: str, timeout: float, what: str = "ending") -> dict[str, Any]:
    """The training job's description once it is no longer InProgress (within ``timeout`` s)."""
    wait_until(
        lambda: sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] != "InProgress",
        timeout,
        f"training job {name} {what}",
    )
    described: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
    return described
