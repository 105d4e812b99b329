"""Worker mode: a handler in its own process reaches moto's server, and its calls are checked as its role's.

Each function's workers get credentials of their own; the server maps the access key a request was
signed with back to the function and checks the call against the function's execution role, as an
in-process handler's calls are checked. Other keys (the operator's, the CLI's) are not checked.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from localcloud.cloud import ACCOUNT_ID
from localcloud.lambdas import FunctionRuntime
from localcloud.runtime import Runtime
from localcloud.workers import WorkerLambdaRuntime

REGION = "us-east-1"
TIME_SCALE = 0.01
HANDLER = """
import boto3
import botocore

s3 = boto3.client("s3")


def read(event, context):
    try:
        return s3.get_object(Bucket=event["bucket"], Key="data.csv")["Body"].read().decode()
    except botocore.exceptions.ClientError as error:
        return {"code": error.response["Error"]["Code"], "message": error.response["Error"]["Message"]}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    started = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    started.start()
    host, port = started.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        started.stop()


@pytest.fixture
def cloud(server: str) -> Iterator[Runtime]:
    workers = WorkerLambdaRuntime(extra_environment={"AWS_ENDPOINT_URL": server})
    with Runtime(time_scale=TIME_SCALE, lambdas=workers) as runtime:
        yield runtime


def client(server: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=server)


def code_package() -> bytes:
    # moto insists on one; the worker runs the handler from its code directory.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


def deploy_reader(cloud: Runtime, server: str, code_dir: Path, readable: str) -> FunctionRuntime:
    """A function whose role may read ``readable``'s objects, and nothing else."""
    (code_dir / "app.py").write_text(HANDLER)
    iam = client(server, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{readable}/*"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
    arn = client(server, "lambda").create_function(
        FunctionName="reader", Runtime="python3.13", Role=role, Handler="app.read", Code={"ZipFile": code_package()}
    )["FunctionArn"]
    function = FunctionRuntime("reader", arn, REGION, ACCOUNT_ID, code_dir, "app.read", {}, timeout_seconds=30)
    cloud.lambdas.register(function)
    return function


def test_a_workers_calls_are_checked_against_its_functions_role(cloud: Runtime, server: str, tmp_path: Path) -> None:
    s3 = client(server, "s3")
    for bucket in ("allowed", "denied"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="data.csv", Body=f"{bucket} data".encode())
    function = deploy_reader(cloud, server, tmp_path, readable="allowed")

    allowed, allowed_errored, _ = cloud.lambdas.invoke(function.name, {"bucket": "allowed"})
    denied, denied_errored, _ = cloud.lambdas.invoke(function.name, {"bucket": "denied"})

    assert not allowed_errored, allowed
    assert json.loads(allowed) == "allowed data"
    assert not denied_errored, denied
    assert json.loads(denied) == {
        "code": "AccessDenied",
        "message": (
            f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/reader/reader is not authorized to perform: "
            's3:GetObject on resource: "arn:aws:s3:::denied/data.csv" because no identity-based policy allows '
            "the s3:GetObject action"
        ),
    }
    checks = cloud.iam.stats()
    assert checks.by_caller["reader"] == 2
    assert [(r.action, r.resource) for r in checks.refusals] == [("s3:GetObject", "arn:aws:s3:::denied/data.csv")]
    # The operator's own calls (another key) are not checked.
    assert s3.get_object(Bucket="denied", Key="data.csv")["Body"].read() == b"denied data"


def test_each_function_gets_temporary_credentials_of_its_own(cloud: Runtime) -> None:
    workers = cloud.lambdas
    assert isinstance(workers, WorkerLambdaRuntime)

    first, second = workers.credentials("first"), workers.credentials("second")

    assert first["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert len(first["AWS_ACCESS_KEY_ID"]) == 20
    assert first["AWS_ACCESS_KEY_ID"] != second["AWS_ACCESS_KEY_ID"]
    assert workers.credentials("first") == first, "issued once per function"
    assert workers.function_of_access_key(first["AWS_ACCESS_KEY_ID"]) == "first"
    assert workers.function_of_access_key("testing") is None
