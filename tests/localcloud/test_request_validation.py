"""The offline cloud refuses what AWS's servers refuse: every request is checked against its model.

botocore checks required members, types and minimums before it sends; AWS's servers check maximums,
enums and patterns too, and answer with their own error code. The validator's unit tests run on
botocore's real service models; the in-cloud tests make the calls through a running cloud.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import OperationModel, ServiceModel
from botocore.validate import validate_parameters
from moto import mock_aws

from localcloud.request_validation import (
    Violation,
    client_error,
    find_violations,
    java_to_python,
    refusal,
    wire_response,
)
from localcloud.runtime import Runtime
from tests.conftest import TIME_SCALE

REGION = "us-east-1"
ACCOUNT = "123456789012"
SAGEMAKER_NAME = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


@pytest.fixture(scope="module")
def session() -> botocore.session.Session:
    return botocore.session.get_session()


def operation(session: botocore.session.Session, service: str, name: str) -> OperationModel:
    return session.get_service_model(service).operation_model(name)


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def refused_as(service: str, model: OperationModel, found: list[Violation]) -> ClientError:
    error = client_error(client(service), model, refusal(model, found))
    assert isinstance(error, ClientError)
    return error


def variant() -> dict[str, Any]:
    return {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}


# --- what the validator finds, on botocore's real models -------------------------------------------


def test_a_sagemaker_name_over_63_characters_fails_its_length_and_its_pattern(session: Any) -> None:
    model = operation(session, "sagemaker", "CreateEndpointConfig")
    name = "a" * 64

    found = find_violations(model, {"EndpointConfigName": name, "ProductionVariants": [variant()]})

    assert [(v.path, v.constraint) for v in found] == [
        ("endpointConfigName", "Member must have length less than or equal to 63"),
        ("endpointConfigName", f"Member must satisfy regular expression pattern: {SAGEMAKER_NAME}"),
    ]
    assert refusal(model, found).message == (
        f"2 validation errors detected: Value '{name}' at 'endpointConfigName' failed to satisfy constraint: "
        f"Member must have length less than or equal to 63; Value '{name}' at 'endpointConfigName' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {SAGEMAKER_NAME}"
    )


def test_a_sagemaker_name_with_an_underscore_fails_the_whole_name_pattern(session: Any) -> None:
    model = operation(session, "sagemaker", "CreateEndpointConfig")

    found = find_violations(model, {"EndpointConfigName": "my_config", "ProductionVariants": [variant()]})

    refused = refusal(model, found)
    assert refused.code == "ValidationException"
    assert refused.message == (
        "1 validation error detected: Value 'my_config' at 'endpointConfigName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {SAGEMAKER_NAME}"
    )


def test_an_instance_type_outside_the_enum_is_named_by_its_list_member_path(session: Any) -> None:
    model = operation(session, "sagemaker", "CreateEndpointConfig")
    bad = {**variant(), "InstanceType": "ml.m5.huge"}

    found = find_violations(model, {"EndpointConfigName": "c", "ProductionVariants": [variant(), bad]})

    [violation] = found
    assert violation.path == "productionVariants.2.member.instanceType"
    assert violation.value == "ml.m5.huge"
    assert violation.constraint.startswith("Member must satisfy enum value set: [ml.t2.medium, ml.t2.large, ")


def test_a_blue_green_wait_interval_over_3600_seconds_is_refused(session: Any) -> None:
    model = operation(session, "sagemaker", "UpdateEndpoint")
    routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 4000}
    params = {
        "EndpointName": "e",
        "EndpointConfigName": "c",
        "DeploymentConfig": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}},
    }

    [violation] = find_violations(model, params)

    assert violation.describe() == (
        "Value '4000' at 'deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.waitIntervalInSeconds' "
        "failed to satisfy constraint: Member must have value less than or equal to 3600"
    )


def test_an_execution_timeout_under_600_seconds_is_refused_by_botocore_before_it_is_sent(session: Any) -> None:
    # The minimum is one of the checks botocore makes itself; the validator finds it too, for a
    # client built with parameter_validation=False.
    model = operation(session, "sagemaker", "UpdateEndpoint")
    policy = {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}
    params = {
        "EndpointName": "e",
        "EndpointConfigName": "c",
        "DeploymentConfig": {"BlueGreenUpdatePolicy": {**policy, "MaximumExecutionTimeoutInSeconds": 500}},
    }

    with pytest.raises(ParamValidationError, match="valid min value: 600"):
        validate_parameters(params, model.input_shape)
    [violation] = find_violations(model, params)
    assert violation.constraint == "Member must have value greater than or equal to 600"


def test_a_request_within_every_constraint_has_no_violations(session: Any) -> None:
    model = operation(session, "sagemaker", "CreateEndpointConfig")
    params = {
        "EndpointConfigName": "conveyor-churn-1a2b3c",
        "ProductionVariants": [variant()],
        "Tags": [{"Key": "conveyor:stack", "Value": "conveyor"}],
    }

    assert find_violations(model, params) == []


def test_a_list_of_scalars_is_reported_whole_with_every_constraint_of_its_members(session: Any) -> None:
    model = operation(session, "cloudwatch", "DescribeAlarms")
    names = ["ok", "x" * 256]

    [violation] = find_violations(model, {"AlarmNames": names})

    assert violation.describe() == (
        f"Value '[ok, {'x' * 256}]' at 'alarmNames' failed to satisfy constraint: Member must satisfy constraint: "
        "[Member must have length less than or equal to 255, Member must have length greater than or equal to 1]"
    )


def test_map_keys_and_values_are_reported_as_aws_reports_them(session: Any) -> None:
    model = operation(session, "sagemaker", "CreateModel")
    params = {
        "ModelName": "m",
        "ExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        "PrimaryContainer": {"Environment": {"1BAD": "ok", "GOOD": "v" * 1025}},
    }

    found = find_violations(model, params)

    assert [v.path for v in found] == ["primaryContainer.environment"] * 2
    assert found[0].constraint.startswith("Map keys must satisfy constraint: [Member must have length less than")
    assert found[1].constraint.startswith("Map value must satisfy constraint: [Member must have length less than")


def test_a_sensitive_blob_over_its_maximum_is_refused_without_its_value(session: Any) -> None:
    model = operation(session, "sagemaker-runtime", "InvokeEndpoint")

    [violation] = find_violations(model, {"EndpointName": "e", "Body": b"x" * 6_291_457})

    assert violation.describe() == (
        "Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 6291456"
    )
    error = refused_as("sagemaker-runtime", model, [violation])
    assert error.response["Error"]["Code"] == "ValidationError"


# --- the error each service answers ----------------------------------------------------------------


def test_a_json_service_answers_validation_exception_parsed_as_a_client_error(session: Any) -> None:
    model = operation(session, "stepfunctions", "StartExecution")
    found = find_violations(model, {"stateMachineArn": "arn", "name": "n" * 81})
    sfn = client("stepfunctions")

    error = client_error(sfn, model, refusal(model, found))

    assert isinstance(error, sfn.exceptions.ValidationException)
    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "at 'name' failed to satisfy constraint: Member must have length less than or equal to 80" in str(error)


def test_a_rest_json_service_answers_validation_exception_in_its_error_type_header(session: Any) -> None:
    model = operation(session, "lambda", "Invoke")
    found = find_violations(model, {"FunctionName": "not a name"})

    status, headers, _ = wire_response(model, refusal(model, found))
    error = refused_as("lambda", model, found)

    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert error.response["Error"]["Code"] == "ValidationException"


def test_a_query_service_answers_validation_error_in_escaped_xml(session: Any) -> None:
    model = operation(session, "sns", "TagResource")
    found = find_violations(model, {"ResourceArn": "arn", "Tags": [{"Key": "<&>" * 50, "Value": "v"}]})

    error = refused_as("sns", model, found)

    assert error.response["Error"]["Code"] == "ValidationError"
    assert f"Value '{'<&>' * 50}' at 'tags.1.member.key'" in error.response["Error"]["Message"]


def test_cloudwatch_answers_its_query_code_validation_error_over_json(session: Any) -> None:
    model = operation(session, "cloudwatch", "PutMetricData")
    found = find_violations(model, {"Namespace": "Conveyor", "MetricData": [{"MetricName": "m", "Unit": "Furlongs"}]})
    cloudwatch = client("cloudwatch")

    error = client_error(cloudwatch, model, refusal(model, found))

    assert isinstance(error, cloudwatch.exceptions.ValidationException)
    assert error.response["Error"]["Code"] == "ValidationError"
    assert "at 'metricData.1.member.unit'" in error.response["Error"]["Message"]


def test_an_unknown_sqs_attribute_is_sqs_own_invalid_attribute_name(session: Any) -> None:
    model = operation(session, "sqs", "GetQueueAttributes")
    found = find_violations(model, {"QueueUrl": "q", "AttributeNames": ["VisibilityTimeout", "Colour"]})
    sqs = client("sqs")

    error = client_error(sqs, model, refusal(model, found))

    assert isinstance(error, sqs.exceptions.InvalidAttributeName)
    assert error.response["Error"]["Message"] == "Unknown Attribute Colour."


def test_message_attribute_names_in_receive_message_are_not_refused_despite_the_models_enum(session: Any) -> None:
    model = operation(session, "sqs", "ReceiveMessage")

    assert find_violations(model, {"QueueUrl": "q", "AttributeNames": ["ApproximateReceiveCount"]}) == []


def test_s3_answers_invalid_argument(session: Any) -> None:
    model = operation(session, "s3", "ListBuckets")
    found = find_violations(model, {"MaxBuckets": 10_001})

    error = refused_as("s3", model, found)

    assert error.response["Error"]["Code"] == "InvalidArgument"


# --- Java patterns -----------------------------------------------------------------------------------


def test_java_posix_classes_stay_ascii_and_surrogate_pairs_become_code_points() -> None:
    import re

    assert re.fullmatch(java_to_python(r"\p{Print}+"), "abc ~")
    assert not re.fullmatch(java_to_python(r"\p{Print}+"), "café")
    assert not re.fullmatch(java_to_python(r"\P{ASCII}"), "a")
    xml_chars = java_to_python(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*")
    assert re.fullmatch(xml_chars, "text 🚀\t")
    assert not re.fullmatch(xml_chars, "\x00")


def test_java_dash_after_a_class_shorthand_and_end_anchor_are_read_as_java_reads_them() -> None:
    import re

    assert re.fullmatch(java_to_python(r"[\w-_]*"), "a-b_c")
    assert re.search(java_to_python(r"^\S+\z"), "abc")
    assert not re.search(java_to_python(r"^\S+\z"), "abc\n")


def _one_member_model(pattern: str) -> OperationModel:
    model = ServiceModel(
        {
            "metadata": {"protocol": "json", "serviceId": "Fake", "jsonVersion": "1.1", "targetPrefix": "Fake"},
            "operations": {
                "Put": {"name": "Put", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "In"}}
            },
            "shapes": {
                "In": {"type": "structure", "members": {"Name": {"shape": "Name"}}},
                "Name": {"type": "string", "pattern": pattern},
            },
        },
        service_name="fake",
    )
    return model.operation_model("Put")


def test_a_pattern_python_cannot_run_is_recorded_and_not_enforced() -> None:
    skipped: list[tuple[str, str]] = []

    found = find_violations(_one_member_model("[a-z]{2}{3}"), {"Name": "anything"}, lambda *why: skipped.append(why))

    assert found == []
    [(pattern, why)] = skipped
    assert pattern == "[a-z]{2}{3}"
    assert "does not compile" in why


def test_an_unanchored_pattern_must_match_the_whole_value_and_an_anchored_one_follows_its_anchors() -> None:
    assert find_violations(_one_member_model("[a-z]+"), {"Name": "abc1"})
    assert not find_violations(_one_member_model("^[a-z]+"), {"Name": "abc1"})


# --- through a running cloud -------------------------------------------------------------------------


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), Runtime(time_scale=TIME_SCALE) as cloud:
        yield cloud


def create_endpoint_config(name: str) -> dict[str, Any]:
    return dict(
        boto3.client("sagemaker").create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant()])
    )


def test_a_call_through_the_running_cloud_is_refused_with_the_aws_error_code(running: Runtime) -> None:
    with pytest.raises(ClientError) as refused:
        create_endpoint_config("my_config")

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    [recorded] = running.validation.refused
    assert (recorded.service, recorded.operation) == ("sagemaker", "CreateEndpointConfig")
    assert running.validation.checked["sagemaker:CreateEndpointConfig"] == 1
    assert running.validation.summary().startswith(
        "1 requests of 1 operations checked (0 from other processes), 1 refused"
    )


def test_validation_ends_with_the_cloud(running: Runtime) -> None:
    running.close()

    # Plain moto again: it accepts the name and fails on the model that does not exist.
    with pytest.raises(ClientError, match="Could not find model"):
        create_endpoint_config("my_config")


def test_a_presigned_url_is_not_checked_when_it_is_signed(running: Runtime) -> None:
    s3 = boto3.client("s3")

    url = s3.generate_presigned_url("list_buckets", Params={"MaxBuckets": 10_001})

    assert "max-buckets=10001" in url
    assert running.validation.refused == []


def test_a_state_machines_sdk_call_is_refused_like_any_other(running: Runtime) -> None:
    # The ASL interpreter's clients are moto's own: the refusal fails the task with SQS's error.
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sqs:getQueueAttributes",
        "Parameters": {"QueueUrl": url, "AttributeNames": ["Colour"]},
        "End": True,
    }
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="m",
        definition=json.dumps({"StartAt": "Read", "States": {"Read": task}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]

    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.05)

    assert described["status"] == "FAILED"
    assert "Unknown Attribute Colour." in described.get("cause", "")
    assert any(r.operation == "GetQueueAttributes" for r in running.validation.refused)


# --- over moto's server, from another process -------------------------------------------------------

_OTHER_PROCESS = """
import sys, boto3, botocore
sagemaker = boto3.client("sagemaker", endpoint_url=sys.argv[1])
variant = {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
try:
    sagemaker.create_endpoint_config(EndpointConfigName="my_config", ProductionVariants=[variant])
except botocore.exceptions.ClientError as error:
    print(error.response["Error"]["Code"], error.response["Error"]["Message"])
"""


def test_a_request_from_another_process_is_refused_by_motos_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Lambda worker of `conveyor local up` is such a process: its clients are not this one's.
    from moto.server import ThreadedMotoServer

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with Runtime(time_scale=TIME_SCALE) as cloud:
            done = subprocess.run(
                [sys.executable, "-c", _OTHER_PROCESS, f"http://{host}:{port}"],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            seen = dict(cloud.validation.checked_on_the_wire)
    finally:
        server.stop()

    assert done.stdout.startswith("ValidationException 1 validation error detected: Value 'my_config'"), done
    assert seen == {"sagemaker:CreateEndpointConfig": 1}
