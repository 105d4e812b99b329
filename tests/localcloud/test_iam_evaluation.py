"""The offline IAM evaluator: policy grammar, conditions, decisions, SAM's roles, request mapping, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud.iam import acting_as, sam
from localcloud.iam.actions import Authorization, Call, UnmappedOperation, authorizations
from localcloud.iam.conditions import UnsupportedCondition, conditions_hold
from localcloud.iam.errors import refusal
from localcloud.iam.evaluator import Decision, ResourcePolicy, decide
from localcloud.iam.patterns import UnsupportedPolicy, arn_match, wildcard_match
from localcloud.iam.policies import Policy, Principal
from localcloud.iam.wire import WireRequest, read
from localcloud.runtime import Runtime

ACCOUNT = "123456789012"
ROLE = Principal(f"arn:aws:iam::{ACCOUNT}:role/conveyor-IngestFunctionRole-1a2b3c4d", "conveyor-IngestFunction-1a2b")
BUCKET_OBJECT = "arn:aws:s3:::data-bucket/incoming/a.csv"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/state"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.parse("test", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# ----------------------------------------------------------------------------- wildcards


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("s3:Get*", "s3:GetObject", True),
        ("s3:Get?bject", "s3:GetObject", True),
        ("s3:Put*", "s3:GetObject", False),
        ("sqs:SendMessage*", "sqs:SendMessageBatch", True),
    ],
)
def test_action_wildcards_match_whole_names(pattern: str, value: str, matches: bool) -> None:
    assert wildcard_match(pattern, value, ignore_case=True) is matches


def test_actions_compare_case_insensitively_and_resources_case_sensitively() -> None:
    statement = policy(allow("S3:getobject", "arn:aws:s3:::Bucket/*"))

    assert list(statement.applicable("Allow", "s3:GetObject", "arn:aws:s3:::Bucket/key", {}))
    assert not list(statement.applicable("Allow", "s3:GetObject", "arn:aws:s3:::bucket/key", {}))


def test_an_arn_wildcard_stays_in_its_segment() -> None:
    assert arn_match(
        "arn:aws:sagemaker:*:123456789012:model/tabular-*", "arn:aws:sagemaker:us-east-1:123456789012:model/tabular-1"
    )
    assert arn_match("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket-other/key:with:colons"), "the resource part spans"
    assert not arn_match("arn:aws:*:us-east-1:123456789012:table/t", "arn:aws:dynamodb:us-west-2:123456789012:table/t")
    assert arn_match("*", "arn:aws:sns:us-east-1:123456789012:topic")


def test_a_policy_variable_is_refused_rather_than_matched_literally() -> None:
    with pytest.raises(UnsupportedPolicy):
        arn_match("arn:aws:s3:::bucket/${aws:username}/*", BUCKET_OBJECT)


def test_not_principal_is_refused() -> None:
    with pytest.raises(UnsupportedPolicy):
        Policy.parse("bucket", {"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": "x"}, "Action": "*"}]})


# ----------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("block", "context", "holds"),
    [
        (
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            {"iam:passedtoservice": ["sagemaker.amazonaws.com"]},
            True,
        ),
        (
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            {"iam:passedtoservice": ["ec2.amazonaws.com"]},
            False,
        ),
        ({"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, {}, False),
        (
            {"StringLike": {"cloudwatch:namespace": ["aws/sagemaker/*", "/aws/sagemaker/*"]}},
            {"cloudwatch:namespace": ["/aws/sagemaker/TrainingJobs"]},
            True,
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/*"}},
            {"aws:sourcearn": ["arn:aws:events:us-east-1:123456789012:rule/r"]},
            True,
        ),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": ["true"]}, False),
        ({"Bool": {"aws:SecureTransport": False}}, {"aws:securetransport": ["false"]}, True),
        ({"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}, {}, True),  # negated + missing key: true
        ({"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}, {}, True),
        ({"Null": {"aws:SourceAccount": "true"}}, {}, True),
        ({"Null": {"aws:SourceAccount": "false"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:tagkeys": ["a"]}, True),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:tagkeys": ["a", "c"]}, False),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["c"]}}, {"aws:tagkeys": ["a", "c"]}, True),
        ({"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["5"]}, True),
    ],
)
def test_condition_operators(block: dict[str, Any], context: dict[str, list[str]], holds: bool) -> None:
    assert conditions_hold(block, context) is holds


def test_condition_keys_are_case_insensitive() -> None:
    assert conditions_hold({"StringEquals": {"AWS:SourceAccount": ACCOUNT}}, {"aws:sourceaccount": [ACCOUNT]})


def test_an_unsupported_operator_fails_loudly() -> None:
    with pytest.raises(UnsupportedCondition, match="DateLessThan"):
        conditions_hold({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {})


# ----------------------------------------------------------------------------- decisions


def test_an_identity_allow_allows() -> None:
    assert decide(
        ROLE, "s3:GetObject", BUCKET_OBJECT, {}, [policy(allow("s3:GetObject", "arn:aws:s3:::data-bucket/*"))]
    ).allowed


def test_nothing_allowing_is_an_implicit_deny_in_aws_words() -> None:
    decision = decide(ROLE, "s3:PutObject", BUCKET_OBJECT, {}, [policy(allow("s3:GetObject", "*"))])

    assert decision == Decision(False, "because no identity-based policy allows the s3:PutObject action")


def test_an_explicit_deny_wins_over_any_allow() -> None:
    identity = [policy(allow("s3:*")), policy(deny("s3:GetObject", "arn:aws:s3:::data-bucket/incoming/*"))]

    decision = decide(ROLE, "s3:GetObject", BUCKET_OBJECT, {}, identity)

    assert decision.reason == "with an explicit deny in an identity-based policy"


def test_not_action_and_not_resource_invert_the_match() -> None:
    identity = [policy({"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"})]

    assert decide(ROLE, "s3:GetObject", BUCKET_OBJECT, {}, identity).allowed
    assert not decide(ROLE, "iam:PassRole", "*", {}, identity).allowed
    assert not decide(ROLE, "s3:GetObject", "arn:aws:s3:::secret/x", {}, identity).allowed


def test_a_conditioned_statement_applies_only_when_its_condition_holds() -> None:
    passed = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    identity = [policy(allow("iam:PassRole", "arn:aws:iam::123456789012:role/sm", Condition=passed))]

    to_sagemaker = {"iam:passedtoservice": ("sagemaker.amazonaws.com",)}
    to_ec2 = {"iam:passedtoservice": ("ec2.amazonaws.com",)}
    assert decide(ROLE, "iam:PassRole", "arn:aws:iam::123456789012:role/sm", to_sagemaker, identity).allowed
    assert not decide(ROLE, "iam:PassRole", "arn:aws:iam::123456789012:role/sm", to_ec2, identity).allowed


def test_a_bucket_policy_deny_refuses_what_the_role_may_do() -> None:
    bucket = ResourcePolicy(policy(deny("s3:*", "arn:aws:s3:::data-bucket/*", Principal="*")))

    decision = decide(ROLE, "s3:GetObject", BUCKET_OBJECT, {}, [policy(allow("s3:*"))], bucket)

    assert decision.reason == "with an explicit deny in a resource-based policy"


def test_the_tls_only_deny_refuses_nothing_offline() -> None:
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    bucket = ResourcePolicy(policy(deny("s3:*", "arn:aws:s3:::data-bucket/*", Principal="*", Condition=tls)))

    assert decide(
        ROLE, "s3:GetObject", BUCKET_OBJECT, {"aws:securetransport": ("true",)}, [policy(allow("s3:*"))], bucket
    ).allowed


def test_a_resource_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    named = ResourcePolicy(policy(allow("sqs:SendMessage", queue, Principal={"AWS": ROLE.role_arn})))
    account = ResourcePolicy(policy(allow("sqs:SendMessage", queue, Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})))
    service = ResourcePolicy(policy(allow("sqs:SendMessage", queue, Principal={"Service": "events.amazonaws.com"})))

    assert decide(ROLE, "sqs:SendMessage", queue, {}, [], named).allowed
    assert not decide(ROLE, "sqs:SendMessage", queue, {}, [], account).allowed, "the account delegates to IAM"
    assert not decide(ROLE, "sqs:SendMessage", queue, {}, [], service).allowed


def test_a_kms_key_policy_must_allow_too() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    identity = [policy(allow("kms:Decrypt", key))]
    delegating = ResourcePolicy(
        policy(allow("kms:*", "*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), required=True
    )
    closed = ResourcePolicy(
        policy(allow("kms:*", "*", Principal={"AWS": "arn:aws:iam::123456789012:role/other"})), required=True
    )

    assert decide(ROLE, "kms:Decrypt", key, {}, identity, delegating).allowed
    assert not decide(ROLE, "kms:Decrypt", key, {}, [], delegating).allowed
    assert decide(ROLE, "kms:Decrypt", key, {}, identity, closed).reason == (
        "because no resource-based policy allows the kms:Decrypt action"
    )


# ----------------------------------------------------------------------------- SAM's roles


def test_a_function_role_is_what_sam_generates() -> None:
    props = {
        "Tracing": "Active",
        "DeadLetterQueue": {"Type": "SQS", "TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
        "EventInvokeConfig": {
            "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": "arn:aws:sqs:us-east-1:123456789012:f"}}
        },
        "Policies": [
            {"S3ReadPolicy": {"BucketName": "data-bucket"}},
            {"Statement": [allow("sns:Publish", "arn:aws:sns:us-east-1:123456789012:t")]},
            "AmazonS3ReadOnlyAccess",
        ],
    }

    role = sam.function_role("IngestFunction", props)

    assert role is not None
    assert role.logical_id == "IngestFunctionRole"
    assert role.managed == [
        sam.BASIC_EXECUTION_ROLE,
        sam.XRAY_WRITE_ONLY,
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ]
    names = [name for name, _ in role.inline]
    assert names == [
        "DeadLetterQueuePolicy",
        "IngestFunctionEventInvokeConfigOnFailureSQSPolicy",
        "IngestFunctionRolePolicy0",
        "IngestFunctionRolePolicy1",
    ]
    dead_letter = role.inline[0][1]["Statement"][0]
    assert dead_letter == {
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:us-east-1:123456789012:dlq",
        "Effect": "Allow",
    }
    s3_read = role.inline[2][1]["Statement"][0]
    assert "s3:GetObject" in s3_read["Action"]
    assert s3_read["Resource"][1] == {
        "Fn::Sub": ["arn:${AWS::Partition}:s3:::${bucketName}/*", {"bucketName": "data-bucket"}]
    }


def test_a_given_role_means_no_generated_one() -> None:
    assert sam.function_role("F", {"Role": "arn:aws:iam::123456789012:role/r"}) is None
    assert sam.state_machine_role("M", {"Role": "arn:aws:iam::123456789012:role/r"}) is None


def test_a_traced_state_machine_gets_xray_write_access() -> None:
    role = sam.state_machine_role(
        "RetrainStateMachine",
        {"Tracing": {"Enabled": True}, "Policies": [{"LambdaInvokePolicy": {"FunctionName": "f"}}]},
    )

    assert role is not None
    assert role.managed == [sam.XRAY_WRITE_ONLY]
    assert [name for name, _ in role.inline] == ["RetrainStateMachineRolePolicy0"]


def test_an_eventbridge_rule_of_a_state_machine_gets_a_role_that_starts_it() -> None:
    role = sam.state_machine_event_role(
        "RollbackStateMachine", "EndpointAlarm", "arn:aws:states:us-east-1:1:stateMachine:m"
    )

    assert role.logical_id == "RollbackStateMachineEndpointAlarmRole"
    assert role.trust["Statement"][0]["Principal"] == {"Service": ["events.amazonaws.com"]}
    [(name, document)] = role.inline
    assert name == "RollbackStateMachineEndpointAlarmRoleStartExecutionPolicy"
    assert document["Statement"][0]["Action"] == "states:StartExecution"


def test_a_policy_template_needs_its_parameters() -> None:
    with pytest.raises(sam.SamRoleError, match="TableName"):
        sam.expand_template("DynamoDBCrudPolicy", {})


def _sam_installed_templates() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    for venv in (".venv-sam", ".venv"):
        found = sorted(
            (root / venv).glob("lib/python*/site-packages/samtranslator/policy_templates_data/policy_templates.json")
        )
        if found:
            return found[0]
    return None


def test_the_vendored_policy_templates_are_samtranslators() -> None:
    installed = _sam_installed_templates()
    if installed is None:
        pytest.skip("samtranslator is not installed here (make sam-validate installs it)")

    assert json.loads(installed.read_text())["Templates"] == dict(sam.policy_templates())


# ----------------------------------------------------------------------------- what a call asks


class _NoKeys:
    def topic_kms_key(self, topic_arn: str) -> str | None:
        return "arn:aws:kms:us-east-1:123456789012:key/topic-key"

    def queue_kms_key(self, queue_arn: str) -> str | None:
        return None

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        return None

    def bucket_kms_key(self, bucket: str) -> str | None:
        return None


def call(service: str, operation: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> Call:
    return Call(service, operation, WireRequest(params, headers or {}), "us-east-1", ACCOUNT, _NoKeys())


def test_a_versioned_read_is_get_object_version() -> None:
    [grant] = authorizations(call("s3", "HeadObject", {"Bucket": "b", "Key": "k", "versionId": "v1"}))

    assert grant == Authorization("s3:GetObjectVersion", "arn:aws:s3:::b/k")


def test_a_copy_reads_the_source_and_writes_the_target() -> None:
    grants = authorizations(
        call(
            "s3",
            "CopyObject",
            {"Bucket": "b", "Key": "quarantine/k"},
            {"x-amz-copy-source": "b/incoming/k%20x?versionId=3"},
        )
    )

    assert [(g.action, g.resource) for g in grants] == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/incoming/k x"),
        ("s3:PutObject", "arn:aws:s3:::b/quarantine/k"),
    ]


def test_a_transaction_is_each_item_action() -> None:
    items = [{"Put": {"TableName": "history"}}, {"Put": {"TableName": "history"}}, {"Update": {"TableName": "state"}}]

    grants = authorizations(call("dynamodb", "TransactWriteItems", {"TransactItems": items}))

    assert [(g.action, g.resource.rsplit("/", 1)[1]) for g in grants] == [
        ("dynamodb:PutItem", "history"),
        ("dynamodb:UpdateItem", "state"),
    ]


def test_passing_a_role_and_tagging_are_authorized_with_the_create() -> None:
    params = {
        "TrainingJobName": "Tabular-1",
        "RoleArn": "arn:aws:iam::123456789012:role/sm",
        "Tags": [{"Key": "conveyor:model", "Value": "tabular"}],
    }

    grants = authorizations(call("sagemaker", "CreateTrainingJob", params))

    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/tabular-1"
    assert [(g.action, g.resource) for g in grants] == [
        ("sagemaker:CreateTrainingJob", job),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/sm"),
        ("sagemaker:AddTags", job),
    ]
    assert grants[1].context == {"iam:passedtoservice": ("sagemaker.amazonaws.com",)}
    assert grants[0].context["aws:tagkeys"] == ("conveyor:model",)


def test_publishing_to_an_encrypted_topic_needs_its_key() -> None:
    grants = authorizations(call("sns", "Publish", {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}))

    assert [(g.action, g.error_code) for g in grants] == [
        ("sns:Publish", None),
        ("kms:GenerateDataKey", "KMSAccessDenied"),
        ("kms:Decrypt", "KMSAccessDenied"),
    ]


def test_an_unmapped_operation_fails_loudly() -> None:
    with pytest.raises(UnmappedOperation, match="sagemaker:CreateHyperParameterTuningJob"):
        authorizations(call("sagemaker", "CreateHyperParameterTuningJob", {}))


# ----------------------------------------------------------------------------- the wire, and refusals


@pytest.fixture
def sent() -> list[Any]:
    """Requests a client would send, captured before they leave (nothing is sent)."""
    return []


def _capture(service: str, captured: list[Any], answer: Any = None) -> Any:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")

    def before_send(request: Any, **_: Any) -> Any:
        captured.append(request)
        return answer(request) if answer else _ok(request)

    client.meta.events.register("before-send", before_send)
    return client


def _ok(request: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    return AWSResponse(request.url, 200, {}, MockRawResponse(b""))


def test_parameters_are_read_back_from_every_protocol(sent: list[Any]) -> None:
    _capture("dynamodb", sent).get_item(TableName="state", Key={"id": {"S": "x"}})
    _capture("sns", sent, _sns_ok).publish(TopicArn="arn:aws:sns:us-east-1:123456789012:t", Message="m")
    _capture("lambda", sent).invoke(FunctionName="conveyor-Ingest", Qualifier="live", Payload=b"{}")
    _capture("s3", sent).head_object(Bucket="data-bucket", Key="incoming/a b.csv", VersionId="v1")
    _capture("cloudwatch", sent).describe_alarms(AlarmNames=["a", "b"], StateValue="ALARM")

    dynamodb, sns, invoke, s3, alarms = (
        read(s, o, r).params
        for (s, o), r in zip(
            [
                ("dynamodb", "GetItem"),
                ("sns", "Publish"),
                ("lambda", "Invoke"),
                ("s3", "HeadObject"),
                ("cloudwatch", "DescribeAlarms"),
            ],
            sent,
            strict=True,
        )
    )
    assert dynamodb["TableName"] == "state"
    assert sns["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:t"
    assert (invoke["FunctionName"], invoke["Qualifier"]) == ("conveyor-Ingest", "live")
    assert (s3["Bucket"], s3["Key"], s3["versionId"]) == ("data-bucket", "incoming/a b.csv", "v1")
    assert alarms["AlarmNames"] == ["a", "b"]


def _sns_ok(request: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    body = b"<PublishResponse><PublishResult><MessageId>1</MessageId></PublishResult></PublishResponse>"
    return AWSResponse(request.url, 200, {}, MockRawResponse(body))


@pytest.mark.parametrize(
    ("service", "operation", "kwargs", "code", "status"),
    [
        ("sagemaker", "describe_endpoint", {"EndpointName": "e"}, "AccessDeniedException", 400),
        ("dynamodb", "get_item", {"TableName": "t", "Key": {"id": {"S": "x"}}}, "AccessDeniedException", 400),
        ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "AccessDenied", 403),
        (
            "sns",
            "publish",
            {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "m"},
            "AuthorizationError",
            403,
        ),
        (
            "sqs",
            "send_message",
            {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "MessageBody": "m"},
            "AccessDenied",
            403,
        ),
        ("cloudwatch", "describe_alarms", {"AlarmNames": ["a"]}, "AccessDenied", 403),
        ("lambda", "invoke", {"FunctionName": "f"}, "AccessDeniedException", 403),
    ],
)
def test_a_refusal_reaches_the_caller_as_the_services_own_error(
    sent: list[Any], service: str, operation: str, kwargs: dict[str, Any], code: str, status: int
) -> None:
    grant = Authorization(f"{service}:Something", "arn:aws:x")
    decision = Decision(False, f"because no identity-based policy allows the {service}:Something action")
    client = _capture(service, sent, lambda request: refusal(service, request.url, ROLE, grant, decision))

    with pytest.raises(ClientError) as raised:
        getattr(client, operation)(**kwargs)

    error = raised.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["Error"]["Message"].startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/conveyor-IngestFunctionRole-1a2b3c4d/conveyor-IngestFunction-1a2b "
        f"is not authorized to perform: {service}:Something on resource: "
    )
    assert error["Error"]["Message"].endswith(f"because no identity-based policy allows the {service}:Something action")


# ----------------------------------------------------------------------------- through moto's request path


@pytest.fixture
def running() -> Iterator[Any]:
    """A runtime of its own around moto: its patches (the IAM check too) are in place."""
    with Runtime() as runtime, mock_aws():
        yield runtime


def _role(name: str, statements: list[dict[str, Any]]) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    return str(arn)


def test_lambda_refuses_a_dead_letter_queue_its_role_may_not_send_to(running: Any) -> None:
    queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="dlq")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"
    lambda_ = boto3.client("lambda", region_name="us-east-1")
    function = {"Runtime": "python3.13", "Handler": "app.handler", "Code": {"ZipFile": b"PK\x05\x06" + b"\0" * 18}}

    with pytest.raises(ClientError) as refused:
        lambda_.create_function(
            FunctionName="f", Role=_role("mute", []), DeadLetterConfig={"TargetArn": queue_arn}, **function
        )
    allowed = _role("sends", [allow("sqs:SendMessage", queue_arn)])
    lambda_.create_function(FunctionName="g", Role=allowed, DeadLetterConfig={"TargetArn": queue_arn}, **function)

    assert queue
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert refused.value.response["Error"]["Message"] == (
        "The provided execution role does not have permissions to call SendMessage on SQS"
    )


def test_a_product_call_is_made_as_its_role_and_an_operator_call_is_not_checked(running: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    reader = _role("reader", [allow("dynamodb:GetItem", TABLE)])

    with acting_as(reader, "f"):
        dynamodb.get_item(TableName="state", Key={"id": {"S": "x"}})
        with pytest.raises(ClientError) as refused:
            dynamodb.put_item(TableName="state", Item={"id": {"S": "x"}})
    dynamodb.put_item(TableName="state", Item={"id": {"S": "x"}})  # the operator

    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert refused.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/f is not authorized to perform: dynamodb:PutItem "
        f"on resource: {TABLE} because no identity-based policy allows the dynamodb:PutItem action"
    )
    stats = running.iam.stats()
    assert (stats.calls, stats.refused) == (2, 1)
