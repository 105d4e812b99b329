"""Shared fixtures: fake AWS credentials, moto-backed clients, a bucket, the lock table, a state machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DATA_BUCKET = "conveyor-test-data"
ARTIFACT_BUCKET = "conveyor-test-artifacts"
LOCK_TABLE = "conveyor-test-locks"
STATE_MACHINE_NAME = "conveyor-test-retrain"
SFN_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/conveyor-test-sfn"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for every test, so nothing can ever reach a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    # Keeping boto3's default session (and its loaded service models) across tests cuts client
    # creation from ~0.2 s to ~0.01 s. Safe: the credentials are the fake ones set above, and
    # mock_aws intercepts every request regardless.
    # execute_state_machine off: the offline cloud turns it on process-wide, and these tests rely on
    # moto's default of leaving executions RUNNING.
    with mock_aws(config={"core": {"reset_boto3_session": False}, "stepfunctions": {"execute_state_machine": False}}):
        yield


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A versioned data bucket, as the stack creates it."""
    s3.create_bucket(Bucket=DATA_BUCKET)
    s3.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return DATA_BUCKET


@pytest.fixture
def artifact_bucket(s3: Any) -> str:
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    return ARTIFACT_BUCKET


@pytest.fixture
def dynamodb(aws: None) -> Any:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def lock_table(dynamodb: Any) -> str:
    dynamodb.create_table(
        TableName=LOCK_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return LOCK_TABLE


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def state_machine_arn(sfn: Any) -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    response = sfn.create_state_machine(
        name=STATE_MACHINE_NAME, definition=json.dumps(definition), roleArn=SFN_ROLE_ARN, type="STANDARD"
    )
    return str(response["stateMachineArn"])
