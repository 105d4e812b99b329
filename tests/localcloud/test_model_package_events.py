"""The offline SageMaker's "SageMaker Model Package State Change" events on the default bus.

SageMaker announces a version registered in a model package group and a change of its
``ModelApprovalStatus`` (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html);
a rule on the default bus routes the event to its targets, here a queue and a function. An update
that leaves the status unchanged announces nothing. Each test builds its group and rule by hand on a
fresh in-process cloud (no template).
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import ACCOUNT_ID
from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime
from localcloud.runtime import Runtime
from tests.conftest import SETTLE_SECONDS, TIME_SCALE
from tests.localcloud import support

REGION = "us-east-1"
GROUP = "conveyor-models"
PATTERN = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"]}
HANDLER = """
import json, os, boto3

def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["SEEN"], MessageBody=json.dumps(event))
"""

client = partial(support.client, region=REGION)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch, REGION, time_scale=TIME_SCALE, settle=lambda runtime: runtime.deliveries.wait_idle(timeout=30)
    ) as runtime:
        yield runtime


def queue(name: str) -> tuple[str, str]:
    sqs = client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    return url, arn


def rule_to(target_arn: str, pattern: dict[str, Any] | None = None) -> str:
    events = client("events")
    arn = str(events.put_rule(Name="approvals", EventPattern=json.dumps(pattern or PATTERN))["RuleArn"])
    events.put_targets(Rule="approvals", Targets=[{"Id": "target", "Arn": target_arn}])
    return arn


def received(url: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The first ``count`` messages of the queue, as JSON (waiting for them)."""
    sqs = client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        time.sleep(0.01)
    return found


def nothing_more(aws: Runtime, url: str) -> bool:
    time.sleep(SETTLE_SECONDS)
    aws.deliveries.wait_idle(timeout=10)
    return not client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages")


def register(status: str = "PendingManualApproval") -> str:
    sagemaker = client("sagemaker")
    if not sagemaker.list_model_package_groups(NameContains=GROUP)["ModelPackageGroupSummaryList"]:
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return str(
        sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelPackageDescription="retrained on today's data",
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                        "ModelDataUrl": "s3://bucket/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"run": "r-1"},
        )["ModelPackageArn"]
    )


ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_registration_and_approval_reach_a_queue(aws: Runtime) -> None:
    url, queue_arn = queue("approvals")
    rule_to(queue_arn)
    package = register()
    client("sagemaker").update_model_package(
        ModelPackageArn=package, ModelApprovalStatus="Approved", ApprovalDescription="looks good"
    )

    created, approved = received(url, 2)
    for event in (created, approved):
        assert event["source"] == "aws.sagemaker"
        assert event["detail-type"] == "SageMaker Model Package State Change"
        # (moto's SQS delivery drops the envelope's "account"; the Lambda test checks it.)
        assert (event["region"], event["resources"]) == (REGION, [package])
        assert ISO_SECONDS.match(event["time"])
        detail = event["detail"]
        assert (detail["ModelPackageGroupName"], detail["ModelPackageVersion"]) == (GROUP, 1)
        assert detail["ModelPackageArn"] == package
        assert detail["ModelPackageStatus"] == "Completed"
        assert detail["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]
        assert detail["CustomerMetadataProperties"] == {"run": "r-1"}
        assert ISO_SECONDS.match(detail["CreationTime"])
        assert ISO_SECONDS.match(detail["LastModifiedTime"])
    assert created["detail"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert approved["detail"]["ModelApprovalStatus"] == "Approved"
    assert approved["detail"]["ApprovalDescription"] == "looks good"
    assert nothing_more(aws, url)


def test_an_unchanged_status_announces_nothing(aws: Runtime) -> None:
    url, queue_arn = queue("approvals")
    package = register()
    rule_to(queue_arn)
    sagemaker = client("sagemaker")
    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="PendingManualApproval")
    sagemaker.update_model_package(ModelPackageArn=package, CustomerMetadataProperties={"note": "seen"})
    assert nothing_more(aws, url)
    # The update without a status kept it (it did not clear it).
    assert sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "PendingManualApproval"

    sagemaker.update_model_package(ModelPackageArn=package, ModelApprovalStatus="Rejected")
    (rejected,) = received(url, 1)
    assert rejected["detail"]["ModelApprovalStatus"] == "Rejected"
    assert rejected["detail"]["CustomerMetadataProperties"] == {"run": "r-1", "note": "seen"}


def test_a_rule_matches_on_the_detail(aws: Runtime) -> None:
    url, queue_arn = queue("approved-only")
    rule_to(queue_arn, {**PATTERN, "detail": {"ModelApprovalStatus": ["Approved"], "ModelPackageGroupName": [GROUP]}})
    package = register()
    client("sagemaker").update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    events = received(url, 1)
    assert [event["detail"]["ModelApprovalStatus"] for event in events] == ["Approved"]
    assert nothing_more(aws, url)


def test_a_lambda_target_gets_the_event(aws: Runtime, tmp_path: Path) -> None:
    url, _ = queue("seen")
    (tmp_path / "app.py").write_text(HANDLER)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="on-approval", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    grants = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}
    iam.put_role_policy(RoleName="on-approval", PolicyName="grants", PolicyDocument=json.dumps(grants))
    awslambda = client("lambda")
    function_arn = str(
        awslambda.create_function(
            FunctionName="on-approval",
            Runtime="python3.13",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
            Environment={"Variables": {"SEEN": url}},
        )["FunctionArn"]
    )
    lambdas: LocalLambdaRuntime = aws.lambdas
    lambdas.register(
        FunctionRuntime("on-approval", function_arn, REGION, ACCOUNT_ID, tmp_path, "app.handler", {"SEEN": url})
    )
    rule_arn = rule_to(function_arn)
    awslambda.add_permission(
        FunctionName="on-approval",
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )

    package = register()
    client("sagemaker").update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")

    # Each event is its own asynchronous invocation, and EventBridge does not promise order: by status.
    by_status = {event["detail"]["ModelApprovalStatus"]: event for event in received(url, 2)}
    assert sorted(by_status) == ["Approved", "PendingManualApproval"]
    approved = by_status["Approved"]
    assert (approved["account"], approved["region"], approved["resources"]) == (ACCOUNT_ID, REGION, [package])
    assert ISO_SECONDS.match(approved["time"])
