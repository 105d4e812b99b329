"""``arn:aws:states:::lambda:invoke.waitForTaskToken`` on the offline cloud, as on Step Functions.

The Lambda gets the Payload with ``$$.Task.Token`` (a token of this execution); the task waits until
SendTaskSuccess (its output is the task's result), SendTaskFailure (its error and cause go to
``Retry``/``Catch``), ``TimeoutSeconds`` (``States.Timeout``) or a missed ``HeartbeatSeconds``
(``States.HeartbeatTimeout``), all on the offline clock. A token whose task ended answers
``TaskTimedOut``, a token never issued ``InvalidToken``, an output that is not JSON ``InvalidOutput``
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html). Each test
builds a small machine and its function by hand on a fresh in-process cloud (no template).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import ACCOUNT_ID
from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime
from localcloud.runtime import Runtime
from tests.conftest import TIME_SCALE
from tests.localcloud import support

REGION = "us-east-1"
# The function keeps the event it got (its token) in a queue, the way the approval Lambda will store
# it; an event with "fail" makes it raise after that, like a notification that could not be sent.
HANDLER = """
import json, os, boto3

def handler(event, context):
    boto3.client("sqs").send_message(QueueUrl=os.environ["TOKENS"], MessageBody=json.dumps(event))
    if event.get("fail"):
        raise RuntimeError("could not notify the approvers")
    return {"notified": True}
"""

client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=20.0)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch, REGION, time_scale=TIME_SCALE, mock_config={"stepfunctions": {"execute_state_machine": True}}
    ) as runtime:
        yield runtime


def role(name: str, service: str, grants: list[tuple[str, str]]) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    iam = client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in grants],
    }
    iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


def approval_function(runtime: Runtime, code_dir: Path) -> tuple[str, str]:
    """(function ARN, queue URL): a function that keeps each event it gets in the queue."""
    queue = str(client("sqs").create_queue(QueueName="tokens")["QueueUrl"])
    (code_dir / "app.py").write_text(HANDLER)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    execution_role = role("approval-execution", "lambda.amazonaws.com", [("sqs:SendMessage", "*")])
    arn = str(
        client("lambda").create_function(
            FunctionName="approval",
            Runtime="python3.13",
            Role=execution_role,
            Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
            Environment={"Variables": {"TOKENS": queue}},
        )["FunctionArn"]
    )
    lambdas: LocalLambdaRuntime = runtime.lambdas
    lambdas.register(FunctionRuntime("approval", arn, REGION, ACCOUNT_ID, code_dir, "app.handler", {"TOKENS": queue}))
    return arn, queue


def machine(function_arn: str, task: dict[str, Any] | None = None, name: str = "approve") -> str:
    """A machine that waits for approval, then passes; a caught error goes to "Rejected" with ``$.error``."""
    wait = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {
            "FunctionName": function_arn,
            "Payload": {"token.$": "$$.Task.Token", "model.$": "$.model", "fail.$": "$.fail"},
        },
        "TimeoutSeconds": 3600,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rejected"}],
        "Next": "Approved",
        **(task or {}),
    }
    definition = {
        "StartAt": "WaitForApproval",
        "States": {
            "WaitForApproval": wait,
            "Approved": {"Type": "Pass", "End": True},
            "Rejected": {"Type": "Pass", "End": True},
        },
    }
    machine_role = role(f"{name}-machine", "states.amazonaws.com", [("lambda:InvokeFunction", function_arn)])
    return str(
        client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=machine_role
        )["stateMachineArn"]
    )


def start(machine_arn: str, fail: bool = False) -> str:
    document = json.dumps({"model": "m-1", "fail": fail})
    return str(client("stepfunctions").start_execution(stateMachineArn=machine_arn, input=document)["executionArn"])


def next_event(queue: str, timeout: float = 20.0) -> dict[str, Any]:
    """The next event the function kept (waiting for it)."""
    sqs = client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages", [])
        if messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
            event: dict[str, Any] = json.loads(messages[0]["Body"])
            return event
        time.sleep(0.01)
    raise TimeoutError("the function kept no event")


def finished(execution: str) -> dict[str, Any]:
    sfn = client("stepfunctions")
    wait_until(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", what="the end")
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
    return described


def entered(execution: str) -> list[str]:
    events = client("stepfunctions").get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return str(raised.value.response["Error"]["Code"])


def test_send_task_success_gives_the_task_its_result(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn))
    event = next_event(queue)
    assert event["model"] == "m-1"
    assert event["fail"] is False
    assert event["token"]  # a real token, in the Payload the function got
    sfn = client("stepfunctions")
    time.sleep(0.2)  # 20 simulated seconds: still waiting
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    sfn.send_task_success(taskToken=event["token"], output=json.dumps({"approved": True, "by": "alice"}))

    described = finished(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"approved": True, "by": "alice"}
    assert entered(execution) == ["WaitForApproval", "Approved"]
    # The task is closed: the token answers TaskTimedOut, a second time too.
    assert error_code(sfn.send_task_success, taskToken=event["token"], output="{}") == "TaskTimedOut"
    assert error_code(sfn.send_task_failure, taskToken=event["token"], error="Late") == "TaskTimedOut"


def test_send_task_failure_is_caught_with_its_error_and_cause(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn))
    token = next_event(queue)["token"]

    client("stepfunctions").send_task_failure(taskToken=token, error="ModelRejected", cause="accuracy too low")

    described = finished(execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["error"] == {"Error": "ModelRejected", "Cause": "accuracy too low"}
    assert entered(execution) == ["WaitForApproval", "Rejected"]


def test_uncaught_failure_fails_the_execution(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn, {"Catch": [{"ErrorEquals": ["Other"], "Next": "Rejected"}]}))
    client("stepfunctions").send_task_failure(taskToken=next_event(queue)["token"], error="ModelRejected", cause="no")
    described = finished(execution)
    assert (described["status"], described.get("error"), described.get("cause")) == ("FAILED", "ModelRejected", "no")


def test_timeout_seconds_on_the_offline_clock(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    # 60 simulated seconds: 0.6 s at the tests' time scale.
    execution = start(machine(function_arn, {"TimeoutSeconds": 60}))
    token = next_event(queue)["token"]
    began = time.monotonic()
    described = finished(execution)
    assert time.monotonic() - began < 10
    assert json.loads(described["output"])["error"]["Error"] == "States.Timeout"
    history = client("stepfunctions").get_execution_history(executionArn=execution)["events"]
    assert "TaskTimedOut" in [event["type"] for event in history]
    # Too late: the task timed out.
    assert error_code(client("stepfunctions").send_task_success, taskToken=token, output="{}") == "TaskTimedOut"


def test_missed_heartbeat_is_states_heartbeat_timeout(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    task = {
        "HeartbeatSeconds": 60,
        "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Rejected"}],
    }
    execution = start(machine(function_arn, task))
    next_event(queue)
    described = finished(execution)
    assert json.loads(described["output"])["error"]["Error"] == "States.HeartbeatTimeout"
    assert entered(execution) == ["WaitForApproval", "Rejected"]


def test_states_timeout_also_catches_a_missed_heartbeat(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    task = {
        "HeartbeatSeconds": 60,
        "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Rejected"}],
    }
    execution = start(machine(function_arn, task))
    next_event(queue)
    assert json.loads(finished(execution)["output"])["error"]["Error"] == "States.HeartbeatTimeout"


def test_heartbeats_keep_the_task_alive_until_timeout_seconds(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    # Heartbeats every 20 simulated seconds against 60: alive, until TimeoutSeconds (300) ends it.
    execution = start(machine(function_arn, {"HeartbeatSeconds": 60, "TimeoutSeconds": 300}))
    token = next_event(queue)["token"]
    sfn = client("stepfunctions")
    began = time.monotonic()
    beats = 0
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING" and time.monotonic() - began < 10:
        try:
            sfn.send_task_heartbeat(taskToken=token)
            beats += 1
        except sfn.exceptions.TaskTimedOut:
            break
        time.sleep(0.2)
    described = finished(execution)
    assert beats >= 5  # 3 s of heartbeats: far beyond one HeartbeatSeconds (0.6 s)
    assert json.loads(described["output"])["error"]["Error"] == "States.Timeout"


def test_heartbeat_then_success(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn, {"HeartbeatSeconds": 60}))
    token = next_event(queue)["token"]
    sfn = client("stepfunctions")
    for _ in range(3):
        time.sleep(0.3)
        sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    described = finished(execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": True})


def test_unknown_token_and_invalid_output(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn))
    token = next_event(queue)["token"]
    sfn = client("stepfunctions")
    assert error_code(sfn.send_task_success, taskToken="not-a-token", output="{}") == "InvalidToken"
    assert error_code(sfn.send_task_failure, taskToken="not-a-token") == "InvalidToken"
    assert error_code(sfn.send_task_heartbeat, taskToken="not-a-token") == "InvalidToken"
    assert error_code(sfn.send_task_success, taskToken=token, output="not json") == "InvalidOutput"
    too_big = json.dumps("x" * 262144)
    assert error_code(sfn.send_task_success, taskToken=token, output=too_big) == "ValidationException"
    # Neither refusal closed the task.
    sfn.send_task_success(taskToken=token, output="{}")
    assert finished(execution)["status"] == "SUCCEEDED"


def test_a_failed_invocation_fails_the_task_without_waiting(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn), fail=True)
    token = next_event(queue)["token"]  # kept before the function raised
    described = finished(execution)
    assert json.loads(described["output"])["error"]["Error"] == "RuntimeError"
    assert error_code(client("stepfunctions").send_task_success, taskToken=token, output="{}") == "TaskTimedOut"


def test_each_retry_attempt_gets_a_token_of_its_own(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    retry = {"Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}]}
    execution = start(machine(function_arn, retry))
    sfn = client("stepfunctions")
    first = next_event(queue)["token"]
    sfn.send_task_failure(taskToken=first, error="Flaky", cause="try again")
    second = next_event(queue)["token"]
    assert second != first
    assert error_code(sfn.send_task_success, taskToken=first, output="{}") == "TaskTimedOut"
    sfn.send_task_success(taskToken=second, output='{"attempt": 2}')
    described = finished(execution)
    assert json.loads(described["output"]) == {"attempt": 2}


def test_stopping_the_execution_closes_the_token(aws: Runtime, tmp_path: Path) -> None:
    function_arn, queue = approval_function(aws, tmp_path)
    execution = start(machine(function_arn))
    token = next_event(queue)["token"]
    sfn = client("stepfunctions")
    sfn.stop_execution(executionArn=execution, error="Abandoned", cause="nobody answered")
    assert finished(execution)["status"] == "ABORTED"
    assert error_code(sfn.send_task_success, taskToken=token, output="{}") == "TaskTimedOut"
