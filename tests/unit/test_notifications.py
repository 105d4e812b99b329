"""notifications.py: the message schema, subjects, severities, failure descriptions and publishing to SNS."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from conveyor_core.shared.notifications import (
    MAX_REASON,
    MAX_SUBJECT,
    SEVERITY,
    EventType,
    Notification,
    Severity,
    describe_failure,
    execution_console_link,
    publish,
    with_run_remarks,
)

REGION = "us-east-1"
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:conveyor-retrain:churn-0123456789abcdef01234567"


def make_notification(**overrides: Any) -> Notification:
    values: dict[str, Any] = {
        "event": EventType.MODEL_REJECTED,
        "model": "churn",
        "execution": EXECUTION_ARN,
        "reason": "rejected: validation:auc 0.81 vs production 0.93",
        "metrics": {"candidate": 0.81, "production": 0.93},
        "details": {"run_id": "churn-0123"},
        "console_link": execution_console_link(REGION, EXECUTION_ARN),
    }
    values.update(overrides)
    return Notification(**values)


# --- subject ------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", list(EventType))
def test_subject_names_the_model_and_the_event(event: EventType) -> None:
    subject = make_notification(event=event).subject()
    assert subject.startswith("[Conveyor] churn: ")
    assert len(subject) <= MAX_SUBJECT


@pytest.mark.parametrize(
    "model",
    ["m" * 500, "modèle-prédictif-" * 10, "模型" * 80, "emoji-\U0001f680" * 30, "short-ü"],
)
@pytest.mark.parametrize("event", [EventType.COMPILE_FALLBACK, EventType.PIPELINE_SUCCEEDED])
def test_subject_is_at_most_100_ascii_characters_for_long_or_unicode_model_names(model: str, event: EventType) -> None:
    subject = make_notification(model=model, event=event).subject()
    assert len(subject) <= MAX_SUBJECT
    assert subject.isascii()
    assert subject.startswith("[Conveyor] ")


def test_subject_replaces_non_ascii_characters_instead_of_dropping_them() -> None:
    assert make_notification(model="é-model").subject().startswith("[Conveyor] ?-model: ")


# --- body ---------------------------------------------------------------------------------------


def test_body_is_json_with_every_field_of_the_schema() -> None:
    notification = make_notification()
    body = json.loads(notification.body())
    assert body == {
        "event": "model.rejected",
        "model": "churn",
        "execution": EXECUTION_ARN,
        "reason": "rejected: validation:auc 0.81 vs production 0.93",
        "metrics": {"candidate": 0.81, "production": 0.93},
        "details": {"run_id": "churn-0123"},
        "severity": "warning",
        "console_link": execution_console_link(REGION, EXECUTION_ARN),
    }


def test_body_of_a_minimal_notification_has_nulls_and_empty_defaults() -> None:
    body = json.loads(Notification(event=EventType.RETRAIN_SKIPPED, model="churn").body())
    assert body["execution"] is None
    assert body["console_link"] is None
    assert body["reason"] == ""
    assert body["metrics"] == {}
    assert body["severity"] == "info"


def test_body_truncates_a_huge_reason_but_keeps_the_unicode_model_name() -> None:
    notification = make_notification(model="modèle", reason="x" * (MAX_REASON * 10))
    body = json.loads(notification.body())
    assert body["reason"] == "x" * MAX_REASON
    assert body["model"] == "modèle"
    assert len(notification.body().encode()) < 256 * 1024


# --- attributes and severity --------------------------------------------------------------------


@pytest.mark.parametrize("event", list(EventType))
def test_message_attributes_carry_event_and_severity_for_filtering(event: EventType) -> None:
    attributes = make_notification(event=event).message_attributes()
    assert attributes["event"] == {"DataType": "String", "StringValue": event.value}
    assert attributes["severity"] == {"DataType": "String", "StringValue": SEVERITY[event].value}
    assert attributes["model"] == {"DataType": "String", "StringValue": "churn"}


@pytest.mark.parametrize(
    ("event", "severity"),
    [
        (EventType.PIPELINE_SUCCEEDED, Severity.INFO),
        (EventType.RETRAIN_SKIPPED, Severity.INFO),
        (EventType.MODEL_REJECTED, Severity.WARNING),
        (EventType.COMPILE_FALLBACK, Severity.WARNING),
        (EventType.DATA_QUARANTINED, Severity.WARNING),
        (EventType.PIPELINE_FAILED, Severity.ERROR),
        (EventType.DEPLOYMENT_ROLLED_BACK, Severity.ERROR),
    ],
)
def test_severity_of_each_event_type(event: EventType, severity: Severity) -> None:
    assert make_notification(event=event).severity is severity


def test_every_event_type_has_a_severity() -> None:
    assert set(SEVERITY) == set(EventType)


def test_publish_request_has_topic_only_when_given() -> None:
    notification = make_notification()
    assert "TopicArn" not in notification.publish_request()
    request = notification.publish_request("arn:aws:sns:us-east-1:123456789012:t")
    assert request["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:t"
    assert request["Subject"] == notification.subject()
    assert request["Message"] == notification.body()
    assert request["MessageAttributes"] == notification.message_attributes()


# --- describe_failure ---------------------------------------------------------------------------


def test_describe_failure_reads_a_lambda_error_cause() -> None:
    cause = json.dumps(
        {
            "errorMessage": "dataset is 6 GB; the Lambda preprocessing limit is 5 GB",
            "errorType": "DatasetTooLargeError",
            "requestId": "abc",
            "stackTrace": ['  File "/var/task/app.py", line 1'],
        }
    )
    assert describe_failure("DatasetTooLargeError", cause) == (
        "DatasetTooLargeError: dataset is 6 GB; the Lambda preprocessing limit is 5 GB"
    )


def test_describe_failure_prefers_the_sagemaker_failure_reason() -> None:
    cause = json.dumps(
        {
            "TrainingJobName": "churn-0123",
            "TrainingJobStatus": "Failed",
            "FailureReason": "ClientError: label must be in [0, num_class)",
            "Message": "less useful",
        }
    )
    assert (
        describe_failure("States.TaskFailed", cause)
        == "States.TaskFailed: ClientError: label must be in [0, num_class)"
    )


@pytest.mark.parametrize("field", ["Message", "message"])
def test_describe_failure_reads_service_error_messages(field: str) -> None:
    assert describe_failure("SageMaker.ValidationException", json.dumps({field: "bad"})) == (
        "SageMaker.ValidationException: bad"
    )


def test_describe_failure_passes_plain_text_through() -> None:
    assert describe_failure("States.Timeout", "the task timed out after 300 s") == (
        "States.Timeout: the task timed out after 300 s"
    )


@pytest.mark.parametrize("cause", ['["a", "b"]', '{"other": 1}', '{"errorMessage": ""}', "42"])
def test_describe_failure_passes_json_without_a_message_through(cause: str) -> None:
    assert describe_failure("E", cause) == f"E: {cause}"


@pytest.mark.parametrize("cause", [None, ""])
def test_describe_failure_without_a_cause_is_the_error(cause: str | None) -> None:
    assert describe_failure("States.Timeout", cause) == "States.Timeout"


def test_describe_failure_with_nothing_at_all() -> None:
    assert describe_failure(None, None) == "UnknownError"
    assert describe_failure(None, "boom") == "UnknownError: boom"


# --- execution_console_link ---------------------------------------------------------------------


def test_console_link_url_encodes_the_execution_arn() -> None:
    link = execution_console_link("eu-west-1", EXECUTION_ARN)
    assert link.startswith(
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/"
    )
    encoded = link.rsplit("/", 1)[1]
    assert ":" not in encoded
    assert encoded.startswith("arn%3Aaws%3Astates%3Aus-east-1%3A")
    assert unquote(encoded) == EXECUTION_ARN


@pytest.mark.parametrize(
    ("region", "host"),
    [("cn-north-1", "console.amazonaws.cn"), ("us-gov-west-1", "console.amazonaws-us-gov.com")],
)
def test_console_link_outside_the_aws_partition_uses_that_partitions_console(region: str, host: str) -> None:
    assert execution_console_link(region, EXECUTION_ARN).startswith(f"https://{host}/states/home?region={region}#")


# --- publish (moto SNS -> SQS) ------------------------------------------------------------------


def test_publish_delivers_subject_body_and_attributes_to_an_sqs_subscriber(aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="conveyor-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    notification = make_notification(event=EventType.DEPLOYMENT_ROLLED_BACK, model="churn-ü")

    message_id = publish(sns, topic_arn, notification)

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == notification.subject()
    assert json.loads(envelope["Message"]) == json.loads(notification.body())
    assert json.loads(envelope["Message"])["severity"] == "error"
    assert envelope["MessageAttributes"]["event"] == {"Type": "String", "Value": "deployment.rolled_back"}
    assert envelope["MessageAttributes"]["severity"] == {"Type": "String", "Value": "error"}
    assert envelope["MessageAttributes"]["model"] == {"Type": "String", "Value": "churn-ü"}


def test_publish_subscription_filter_on_severity_sees_only_errors(aws: None) -> None:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="conveyor-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="pager")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"severity": ["error"]})},
    )
    for event in EventType:
        publish(sns, topic_arn, make_notification(event=event))

    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    events = sorted(json.loads(json.loads(m["Body"])["Message"])["event"] for m in received)
    assert events == sorted(event.value for event in EventType if SEVERITY[event] is Severity.ERROR)
    assert "pipeline.failed" in events


# --- what a run did differently from what the stack asked -----------------------------------------


def test_rollout_notes_and_a_failed_autoscaling_follow_the_reason() -> None:
    details = {
        "rollout_notes": ["canary rollout planned all at once: one instance"],
        "autoscaling": {"Error": "ApplicationAutoScaling.ValidationException", "Cause": "not allowed"},
    }
    assert with_run_remarks("m deployed", details) == (
        "m deployed; canary rollout planned all at once: one instance; "
        "autoscaling was not set up: ApplicationAutoScaling.ValidationException: not allowed"
    )


def test_a_registered_autoscaling_and_no_notes_leave_the_reason_alone() -> None:
    assert (
        with_run_remarks("m deployed", {"rollout_notes": [], "autoscaling": {"status": "registered"}}) == "m deployed"
    )
    assert with_run_remarks("m deployed", {}) == "m deployed"
