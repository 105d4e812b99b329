"""DeadLetterQueue -> one notification per event that failed every retry, with the cause.

Three AWS services write to the queue, each in its own shape:

* Lambda, once an asynchronous invocation of IngestFunction or ScheduledRetrainFunction has failed
  its retries: the body is the original event, the attributes ``RequestID``, ``ErrorCode`` and
  ``ErrorMessage``;
* EventBridge, when it could not deliver an event to a rule's target within the RetryPolicy: the
  body is the event, the attributes ``ERROR_CODE``, ``ERROR_MESSAGE``, ``RULE_ARN``, ``TARGET_ARN``;
* EventBridge Scheduler, when it could not invoke the scheduled function: the body is the target
  input, the attributes ``ERROR_CODE`` and ``ERROR_MESSAGE``.

A dataset drop that never became a run becomes ``pipeline.failed`` (stage ``ingest``), a schedule
firing that never ran one ``pipeline.failed`` (stage ``schedule``), an alarm whose rollback never
started ``rollback.failed``. The batch size is 1: a failed publish raises, so SQS delivers the
message again, and after five receives moves it to DeadLetterArchive.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import CommonSettings, load

logger = Logger()
sns = aws_clients.client("sns")


class DeadLetterSettings(CommonSettings):
    topic_arn: str = Field(alias="TOPIC_ARN")


def _attribute(record: dict[str, Any], *names: str) -> str:
    attributes = record.get("messageAttributes") or {}
    for name in names:
        value = (attributes.get(name) or {}).get("stringValue")
        if value:
            return str(value)
    return ""


def _cause(record: dict[str, Any]) -> tuple[str, str]:
    """(who gave up, why) from the attributes the writing service set."""
    if _attribute(record, "RequestID") or _attribute(record, "ErrorMessage"):
        return "lambda", _attribute(record, "ErrorMessage") or "the function failed every attempt"
    code = _attribute(record, "ERROR_CODE")
    message = _attribute(record, "ERROR_MESSAGE")
    writer = "eventbridge" if _attribute(record, "RULE_ARN") else "scheduler"
    if code or message:
        retries = _attribute(record, "RETRY_ATTEMPTS")
        suffix = f" after {retries} retries" if retries else ""
        return writer, f"{code}: {message}{suffix}".strip(": ")
    return "unknown", "no error attributes on the message"


def describe(record: dict[str, Any], model: str) -> Notification:
    writer, cause = _cause(record)
    body_text = str(record.get("body") or "")
    try:
        body: Any = json.loads(body_text)
    except json.JSONDecodeError:
        body = None
    details: dict[str, Any] = {
        "dead_letter": {
            "writer": writer,
            "message_id": record.get("messageId"),
            "receive_count": (record.get("attributes") or {}).get("ApproximateReceiveCount"),
            "rule": _attribute(record, "RULE_ARN") or None,
            "target": _attribute(record, "TARGET_ARN") or None,
        }
    }
    if isinstance(body, dict) and body.get("source") == "aws.s3":
        detail = body.get("detail") or {}
        uri = f"s3://{(detail.get('bucket') or {}).get('name')}/{(detail.get('object') or {}).get('key')}"
        details.update(stage="ingest", dataset=uri, sources=[uri])
        reason = f"the drop {uri} never started a run: {cause}"
        return Notification(event=EventType.PIPELINE_FAILED, model=model, reason=reason, details=details)
    if isinstance(body, dict) and body.get("source") == "aws.cloudwatch":
        alarm = (body.get("detail") or {}).get("alarmName", "an alarm")
        details.update(stage="rollback", alarm=alarm)
        reason = f"the rollback for {alarm} never started: {cause}"
        return Notification(event=EventType.ROLLBACK_FAILED, model=model, reason=reason, details=details)
    if isinstance(body, dict) and body.get("source") == "aws.states":
        # The run watcher could not report this end itself: the run's end is all there is to say.
        change = body.get("detail") or {}
        execution = change.get("executionArn", "an execution")
        details.update(stage="watch", execution=execution, status=change.get("status"))
        reason = f"{execution} ended {change.get('status')} and its report failed: {cause}"
        return Notification(event=EventType.PIPELINE_FAILED, model=model, reason=reason, details=details)
    if isinstance(body, dict) and "schedule_arn" in body:
        details.update(stage="schedule", schedule=body.get("schedule_arn"), scheduled_time=body.get("scheduled_time"))
        reason = f"the scheduled retrain of {body.get('scheduled_time')} never ran: {cause}"
        return Notification(event=EventType.PIPELINE_FAILED, model=model, reason=reason, details=details)
    details.update(stage="unknown", body=body_text[:1000])
    reason = f"an event failed: {cause}"
    return Notification(event=EventType.PIPELINE_FAILED, model=model, reason=reason, details=details)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(DeadLetterSettings)
    published = []
    for record in event.get("Records", []):
        notification = describe(record, settings.model_name)
        notifications.publish(sns, settings.topic_arn, notification)
        logger.warning(
            "dead-lettered event notified",
            extra={"event": notification.event.value, "reason": notification.reason, "details": notification.details},
        )
        published.append(record.get("messageId"))
    return {"notified": published}
