"""SageMaker acts as the execution role it was given, and fails the way SageMaker fails when the role falls short.

A training job reads its channels and writes its artefact as its ``RoleArn``; an endpoint loads a
model's artefact as the model's ``ExecutionRoleArn``; a guarded update reads its auto-rollback
alarms as the new models' role (``cloudwatch:DescribeAlarms``, the product's reading of the
guardrails docs). Each test builds its roles by hand on a fresh in-process cloud (no template).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import xgboost
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import ACCOUNT_ID
from localcloud.runtime import Runtime
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
BUCKET = "role-tests"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENDPOINT = "scoring"
VARIANT = "primary"
ALARM = "scoring-5xx"
ALARM_ARN = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{ALARM}"
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "5", "max_depth": "2"}


client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=60.0)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch,
        REGION,
        time_scale=TIME_SCALE,
        bucket=BUCKET,
        settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=60),
    ) as runtime:
        yield runtime


def role(name: str, grants: list[tuple[str, str]]) -> str:
    """A SageMaker execution role allowed each (action, resource) of ``grants``."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    statements = [{"Effect": "Allow", "Action": action, "Resource": resource} for action, resource in grants]
    policy = {"Version": "2012-10-17", "Statement": statements}
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


READ_DATA = [("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"), ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/data/*")]
WRITE_OUTPUT = [("s3:PutObject", f"arn:aws:s3:::{BUCKET}/output/*")]
READ_MODELS = [("s3:GetObject", f"arn:aws:s3:::{BUCKET}/models/*")]
READ_ALARM = [("cloudwatch:DescribeAlarms", ALARM_ARN)]


# --- training --------------------------------------------------------------------------------------


def upload_dataset(**extra: Any) -> None:
    support.upload_dataset(REGION, BUCKET, rows=200, train_rows=150, **extra)


def train(name: str, role_arn: str) -> dict[str, Any]:
    """Run a training job on the uploaded dataset as ``role_arn``; its description once it has ended."""
    sagemaker = support.start_training_job(
        REGION, name, image=XGBOOST_IMAGE, role_arn=role_arn, bucket=BUCKET, hyperparameters=HYPERPARAMETERS
    )
    return support.training_job_ended(sagemaker, name, timeout=60.0)


def test_a_training_job_whose_role_reads_the_data_and_writes_the_artefact_completes(aws: Runtime) -> None:
    upload_dataset()
    trainer = role("trainer", READ_DATA + WRITE_OUTPUT)

    described = train("allowed", trainer)

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    checks = aws.iam.stats()
    assert checks.refused == 0
    assert checks.by_caller["SageMaker"] >= 5  # two listings, two downloads, one upload
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject"} <= set(checks.by_action)


def test_a_training_job_whose_role_cannot_read_the_data_fails_as_sagemaker_reports_it(aws: Runtime) -> None:
    upload_dataset()
    lists_only = role("lists-only", [READ_DATA[0], *WRITE_OUTPUT])

    described = train("unreadable", lists_only)

    assert described["TrainingJobStatus"] == "Failed"
    assert described["SecondaryStatus"] == "Failed"
    assert described["FailureReason"] == (
        f"ClientError: Data download failed:Unable to download data from s3://{BUCKET}/data/train/ "
        f"(AccessDenied: User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/lists-only/SageMaker is not authorized to "
        f'perform: s3:GetObject on resource: "arn:aws:s3:::{BUCKET}/data/train/train.csv" because no '
        "identity-based policy allows the s3:GetObject action)"
    )
    assert client("s3").list_objects_v2(Bucket=BUCKET, Prefix="output/").get("KeyCount") == 0


def test_a_training_job_whose_role_cannot_write_the_artefact_fails_after_training(aws: Runtime) -> None:
    upload_dataset()
    reader = role("reader", READ_DATA)

    described = train("unwritable", reader)

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        f"ClientError: Artifact upload failed:Unable to upload s3://{BUCKET}/output/unwritable/output/model.tar.gz "
        "(AccessDenied: "
    )
    assert "is not authorized to perform: s3:PutObject" in described["FailureReason"]


def test_a_training_job_whose_role_may_not_decrypt_kms_encrypted_data_fails(aws: Runtime) -> None:
    key = client("kms").create_key()["KeyMetadata"]["Arn"]
    upload_dataset(ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    no_key = role("no-key", READ_DATA + WRITE_OUTPUT)

    described = train("encrypted", no_key)

    assert described["TrainingJobStatus"] == "Failed"
    # S3 answers for its key, quoting the resource as S3 does.
    assert f'is not authorized to perform: kms:Decrypt on resource: "{key}"' in described["FailureReason"]
    assert described["FailureReason"].startswith("ClientError: Data download failed:")


# --- hosting ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artefacts() -> dict[str, bytes]:
    """Two small XGBoost artefacts, as the built-in container saves them."""
    features, labels = load_breast_cancer(return_X_y=True)
    matrix = xgboost.DMatrix(features, label=labels)
    found = {}
    for name, depth in (("a", 3), ("b", 1)):
        booster = xgboost.train({"objective": "binary:logistic", "max_depth": depth, "seed": 1}, matrix, 3)
        model = bytes(booster.save_raw(raw_format="json"))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo("xgboost-model")
            info.size = len(model)
            archive.addfile(info, io.BytesIO(model))
        found[name] = buffer.getvalue()
    return found


def model(name: str, artefact: bytes, role_arn: str) -> None:
    """A model and a one-variant config of it, both called ``name``."""
    client("s3").put_object(Bucket=BUCKET, Key=f"models/{name}.tar.gz", Body=artefact)
    sagemaker = client("sagemaker")
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/{name}.tar.gz"},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": VARIANT, "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )


def settled(status: str = "InService") -> dict[str, Any]:
    sagemaker = client("sagemaker")
    wait_until(
        lambda: sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] in {status, "Failed"},
        what=f"endpoint {status}",
    )
    described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    return described


def test_an_endpoint_whose_model_role_cannot_read_the_artefact_fails(aws: Runtime, artefacts: dict[str, bytes]) -> None:
    model("a", artefacts["a"], role("reads-data", READ_DATA))

    client("sagemaker").create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="a")
    described = settled()

    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"] == (
        f'Failed to download model data for container "container_1" from URL: "s3://{BUCKET}/models/a.tar.gz". '
        "Please ensure that there is an object located at the URL and that the role passed to CreateModel has "
        "permissions to download the object."
    )
    [refusal] = aws.iam.stats().refusals
    assert (refusal.action, refusal.resource) == ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/models/a.tar.gz")


def guarded_update(new_config: str) -> None:
    client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    client("sagemaker").update_endpoint(
        EndpointName=ENDPOINT,
        EndpointConfigName=new_config,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60},
                "TerminationWaitInSeconds": 0,
                "MaximumExecutionTimeoutInSeconds": 600,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
        },
    )


def serve_a(artefacts: dict[str, bytes]) -> None:
    model("a", artefacts["a"], role("serves-a", READ_MODELS + READ_ALARM))
    client("sagemaker").create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="a")
    assert settled()["EndpointStatus"] == "InService"


def test_a_guarded_update_whose_models_role_reads_the_alarms_is_promoted(
    aws: Runtime, artefacts: dict[str, bytes]
) -> None:
    serve_a(artefacts)
    model("b", artefacts["b"], role("serves-b", READ_MODELS + READ_ALARM))

    guarded_update("b")
    wait_until(lambda: settled()["EndpointConfigName"] == "b", what="config b serving")

    checks = aws.iam.stats()
    assert checks.refused == 0
    assert checks.by_action["cloudwatch:DescribeAlarms"] >= 1


def test_a_guarded_update_whose_models_role_may_not_read_the_alarms_rolls_back(
    aws: Runtime, artefacts: dict[str, bytes]
) -> None:
    serve_a(artefacts)
    model("b", artefacts["b"], role("blind-b", READ_MODELS))

    guarded_update("b")
    described = settled()

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "a", "the previous config still serves"
    assert described["FailureReason"] == (
        "Deployment rolled back: the auto-rollback alarms could not be read: "
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/blind-b/SageMaker is not authorized to perform: "
        f"cloudwatch:DescribeAlarms on resource: {ALARM_ARN} because no identity-based policy allows the "
        "cloudwatch:DescribeAlarms action"
    )
    assert aws.sagemaker.traffic_shares(ACCOUNT_ID, REGION, ENDPOINT) == {VARIANT: 1.0}
