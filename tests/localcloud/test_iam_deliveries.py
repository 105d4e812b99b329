"""EventBridge and Scheduler deliveries are authorized as AWS authorizes them, before the target is called.

A rule's state machine target and every schedule's target are called with the target's RoleArn: the
role must trust the service and be allowed the call. A rule's Lambda target without a role needs the
function's resource policy. A refusal is not retried: the event goes to the dead-letter queue with
``NO_PERMISSIONS`` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html), and
a refusal to write there loses the event. Each test builds its roles by hand on a fresh in-process
cloud (no template); the last one checks the template's own roles.
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

from localcloud.cloud import ACCOUNT_ID, OfflineCloud
from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime
from localcloud.runtime import Runtime
from localcloud.scheduler import deliver, target_payload
from tests.conftest import TIME_SCALE
from tests.localcloud import support

REGION = "us-east-1"
SOURCE = "conveyor.test"
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
HANDLER = "def handler(event, context):\n    return event\n"


client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=20.0)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch, REGION, time_scale=TIME_SCALE, settle=lambda runtime: runtime.deliveries.wait_idle(timeout=30)
    ) as runtime:
        yield runtime


# --- resources -----------------------------------------------------------------------------------


def role(name: str, service: str, grants: list[tuple[str, str]]) -> str:
    """A role that ``service`` may assume, allowed each (action, resource) of ``grants``."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    iam = client("iam")
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    statements = [{"Effect": "Allow", "Action": action, "Resource": resource} for action, resource in grants]
    if statements:
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(policy))
    return arn


def dead_letter_queue(name: str = "dead-letters", events_may_send: bool = True) -> tuple[str, str]:
    """(URL, ARN) of a queue EventBridge rules of this account may send to (as SAM's DLQ policy says)."""
    sqs = client("sqs")
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    if events_may_send:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def dead_letters(url: str) -> list[dict[str, Any]]:
    response = client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    )
    return list(response.get("Messages", []))


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def code_package() -> bytes:
    # moto insists on one; the runtime runs the handler from its code directory.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


def function(runtime: Runtime, code_dir: Path, name: str = "target") -> FunctionRuntime:
    """A deployed function whose handler returns its event; ``invocations`` counts its runs."""
    (code_dir / "app.py").write_text(HANDLER)
    execution_role = role(f"{name}-execution", "lambda.amazonaws.com", [])
    arn = client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=execution_role,
        Handler="app.handler",
        Code={"ZipFile": code_package()},
    )["FunctionArn"]
    registered = FunctionRuntime(name, arn, REGION, ACCOUNT_ID, code_dir, "app.handler", {})
    lambdas: LocalLambdaRuntime = runtime.lambdas
    lambdas.register(registered)
    return registered


def state_machine(name: str = "target") -> str:
    machine_role = role(f"{name}-machine", "states.amazonaws.com", [])
    return str(
        client("stepfunctions").create_state_machine(name=name, definition=PASS_MACHINE, roleArn=machine_role)[
            "stateMachineArn"
        ]
    )


def executions(machine_arn: str) -> list[dict[str, Any]]:
    return list(client("stepfunctions").list_executions(stateMachineArn=machine_arn)["executions"])


def rule(target: dict[str, Any], name: str = "deliveries") -> str:
    events = client("events")
    arn = str(events.put_rule(Name=name, EventPattern=json.dumps({"source": [SOURCE]}))["RuleArn"])
    events.put_targets(Rule=name, Targets=[{"Id": "target", **target}])
    return arn


def send_event(runtime: Runtime) -> None:
    client("events").put_events(Entries=[{"Source": SOURCE, "DetailType": "Test", "Detail": "{}"}])
    assert runtime.deliveries.wait_idle(timeout=30)


def schedule(target: dict[str, Any], name: str = "nightly") -> str:
    return str(
        client("scheduler").create_schedule(
            Name=name, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target
        )["ScheduleArn"]
    )


def fire(runtime: Runtime, schedule_arn: str) -> None:
    """One firing of the schedule, handed to the deliveries as the scheduler runner hands it."""
    target = client("scheduler").get_schedule(Name=schedule_arn.rsplit("/", 1)[1])["Target"]
    deliver(runtime.deliveries, schedule_arn, target, target_payload(schedule_arn, target, time.time()))
    assert runtime.deliveries.wait_idle(timeout=30)


# --- rules ---------------------------------------------------------------------------------------


def test_a_rule_whose_role_may_start_the_state_machine_starts_it(aws: Runtime) -> None:
    machine = state_machine()
    _, queue_arn = dead_letter_queue()
    starter = role("rule-starts", "events.amazonaws.com", [("states:StartExecution", machine)])
    rule({"Arn": machine, "RoleArn": starter, "DeadLetterConfig": {"Arn": queue_arn}})

    send_event(aws)

    assert len(executions(machine)) == 1
    checks = aws.iam.stats()
    assert checks.refused == 0
    assert {"sts:AssumeRole", "states:StartExecution"} <= set(checks.by_action)


def test_a_rule_whose_role_may_not_start_the_state_machine_dead_letters_the_event_without_retrying(
    aws: Runtime,
) -> None:
    machine = state_machine()
    queue_url, queue_arn = dead_letter_queue()
    other = machine.replace(":target", ":another")
    starter = role("rule-starts-another", "events.amazonaws.com", [("states:StartExecution", other)])
    rule_arn = rule(
        {
            "Arn": machine,
            "RoleArn": starter,
            "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
            "DeadLetterConfig": {"Arn": queue_arn},
        }
    )

    send_event(aws)

    assert executions(machine) == []
    [message] = dead_letters(queue_url)
    sent = attributes(message)
    assert sent["ERROR_CODE"] == "NO_PERMISSIONS"
    assert sent["ERROR_MESSAGE"] == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/rule-starts-another/deliveries is not authorized to "
        f"perform: states:StartExecution on resource: {machine} because no identity-based policy allows the "
        "states:StartExecution action"
    )
    assert (sent["RULE_ARN"], sent["TARGET_ARN"], sent["RETRY_ATTEMPTS"]) == (rule_arn, machine, "0")
    assert json.loads(message["Body"])["source"] == SOURCE
    assert aws.deliveries.counts.delivery_retries == 0
    [refusal] = aws.iam.stats().refusals
    assert (refusal.action, refusal.resource) == ("states:StartExecution", machine)


def test_a_role_that_does_not_trust_eventbridge_fails_to_be_assumed(aws: Runtime) -> None:
    machine = state_machine()
    queue_url, queue_arn = dead_letter_queue()
    lambdas_only = role("trusts-lambda", "lambda.amazonaws.com", [("states:StartExecution", machine)])
    rule({"Arn": machine, "RoleArn": lambdas_only, "DeadLetterConfig": {"Arn": queue_arn}})

    send_event(aws)

    assert executions(machine) == []
    [message] = dead_letters(queue_url)
    assert attributes(message)["ERROR_CODE"] == "FAILED_TO_ASSUME_ROLE"
    assert "events.amazonaws.com is not authorized to perform: sts:AssumeRole" in attributes(message)["ERROR_MESSAGE"]


def test_a_rule_invokes_a_function_whose_resource_policy_allows_the_rule(aws: Runtime, tmp_path: Path) -> None:
    target = function(aws, tmp_path)
    _, queue_arn = dead_letter_queue()
    rule_arn = rule({"Arn": target.arn, "DeadLetterConfig": {"Arn": queue_arn}})
    client("lambda").add_permission(
        FunctionName=target.name,
        StatementId="TargetDeliveriesPermission",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )

    send_event(aws)

    assert target.invocations == 1
    assert aws.iam.stats().refused == 0


def test_a_rule_cannot_invoke_a_function_that_only_another_rule_may_invoke(aws: Runtime, tmp_path: Path) -> None:
    target = function(aws, tmp_path)
    queue_url, queue_arn = dead_letter_queue()
    rule({"Arn": target.arn, "DeadLetterConfig": {"Arn": queue_arn}})
    client("lambda").add_permission(
        FunctionName=target.name,
        StatementId="OtherRulePermission",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/another",
    )

    send_event(aws)

    assert target.invocations == 0
    [message] = dead_letters(queue_url)
    assert attributes(message)["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes(message)["ERROR_MESSAGE"] == (
        f"events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on resource: {target.arn} "
        "because no resource-based policy allows the lambda:InvokeFunction action"
    )


def test_an_event_whose_dead_letter_queue_refuses_eventbridge_is_lost(aws: Runtime, tmp_path: Path) -> None:
    target = function(aws, tmp_path)
    queue_url, queue_arn = dead_letter_queue(events_may_send=False)
    rule({"Arn": target.arn, "DeadLetterConfig": {"Arn": queue_arn}})

    send_event(aws)

    assert target.invocations == 0
    assert dead_letters(queue_url) == []
    assert aws.deliveries.failed == 1
    refused = {(r.action, r.resource) for r in aws.iam.stats().refusals}
    assert refused == {("lambda:InvokeFunction", target.arn), ("sqs:SendMessage", queue_arn)}


# --- schedules -----------------------------------------------------------------------------------


def test_a_schedule_whose_role_may_invoke_the_function_invokes_it(aws: Runtime, tmp_path: Path) -> None:
    target = function(aws, tmp_path)
    _, queue_arn = dead_letter_queue()
    invoker = role(
        "schedule-invokes",
        "scheduler.amazonaws.com",
        [("lambda:InvokeFunction", target.arn), ("sqs:SendMessage", queue_arn)],
    )
    arn = schedule({"Arn": target.arn, "RoleArn": invoker, "Input": "{}", "DeadLetterConfig": {"Arn": queue_arn}})

    fire(aws, arn)

    assert target.invocations == 1
    assert aws.iam.stats().refused == 0


def test_a_schedule_whose_role_may_not_invoke_the_function_dead_letters_the_firing(
    aws: Runtime, tmp_path: Path
) -> None:
    target = function(aws, tmp_path)
    queue_url, queue_arn = dead_letter_queue()
    # It may write to its dead-letter queue (as Scheduler's docs ask), not invoke the function.
    writer = role("schedule-writes-only", "scheduler.amazonaws.com", [("sqs:SendMessage", queue_arn)])
    arn = schedule(
        {
            "Arn": target.arn,
            "RoleArn": writer,
            "Input": '{"scheduled": "<aws.scheduler.schedule-arn>"}',
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
            "DeadLetterConfig": {"Arn": queue_arn},
        }
    )

    fire(aws, arn)

    assert target.invocations == 0
    [message] = dead_letters(queue_url)
    sent = attributes(message)
    assert sent["ERROR_CODE"] == "NO_PERMISSIONS"
    assert (
        "assumed-role/schedule-writes-only/nightly is not authorized to perform: lambda:InvokeFunction"
        in (sent["ERROR_MESSAGE"])
    )
    assert (sent["TARGET_ARN"], sent["RETRY_ATTEMPTS"]) == (target.arn, "0")
    assert json.loads(message["Body"]) == {"scheduled": arn}


def test_a_schedule_whose_role_may_not_write_its_dead_letter_queue_loses_the_firing(
    aws: Runtime, tmp_path: Path
) -> None:
    target = function(aws, tmp_path)
    queue_url, queue_arn = dead_letter_queue()
    nothing = role("schedule-may-nothing", "scheduler.amazonaws.com", [])
    arn = schedule({"Arn": target.arn, "RoleArn": nothing, "Input": "{}", "DeadLetterConfig": {"Arn": queue_arn}})

    fire(aws, arn)

    assert target.invocations == 0
    assert dead_letters(queue_url) == [], "the queue's policy allows EventBridge rules, not the schedule's role"
    assert aws.deliveries.failed == 1


def test_a_schedule_with_a_role_iam_does_not_hold_is_not_checked(aws: Runtime, tmp_path: Path) -> None:
    target = function(aws, tmp_path)
    arn = schedule({"Arn": target.arn, "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/never-created", "Input": "{}"})

    fire(aws, arn)

    assert target.invocations == 1
    assert aws.iam.stats().authorizations == 0


# --- the template's own roles --------------------------------------------------------------------


@pytest.mark.e2e
def test_the_templates_schedule_and_rules_deliver_with_the_roles_it_gives_them() -> None:
    cloud = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False).start()
    try:
        assert cloud.stack is not None
        assert cloud.runtime is not None
        runtime = cloud.runtime
        scheduler = cloud.client("scheduler")
        retrain = scheduler.get_schedule(Name=cloud.stack.resources["RetrainScheduleRule"]["Ref"])
        # A schedule firing (SchedulerRole), and an alarm's rule starting the rollback machine (SAM's
        # event role): each must be delivered, not dead-lettered.
        payload = target_payload(retrain["Arn"], retrain["Target"], time.time())
        deliver(runtime.deliveries, retrain["Arn"], retrain["Target"], payload)
        cloud.alarm_event(cloud.output("RollbackAlarmNames").split(",")[0])
        wait_until(lambda: len(cloud.rollback_executions()) == 1, what="the rollback execution")
        assert runtime.deliveries.wait_idle(timeout=30)

        checks = runtime.iam.stats()
        assert checks.refused == 0, checks.refusals
        assert runtime.deliveries.failed == 0
        assert {"sts:AssumeRole", "lambda:InvokeFunction", "states:StartExecution"} <= set(checks.by_action)
    finally:
        cloud.stop()
