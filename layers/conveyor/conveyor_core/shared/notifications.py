"""The one notification schema every Conveyor message follows (docs/operations.md lists it).

Subscribers filter on the ``event`` and ``severity`` message attributes; people read the Subject;
machines parse the JSON body.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from conveyor_core.shared.outcome_metrics import count_outcome


class EventType(StrEnum):
    PIPELINE_SUCCEEDED = "pipeline.succeeded"
    MODEL_REJECTED = "model.rejected"
    PIPELINE_FAILED = "pipeline.failed"
    COMPILE_FALLBACK = "compile.fallback"
    DEPLOYMENT_ROLLED_BACK = "deployment.rolled_back"
    RETRAIN_SKIPPED = "retrain.skipped"
    DATA_QUARANTINED = "data.quarantined"
    ROLLBACK_DEFERRED = "rollback.deferred"
    ROLLBACK_IMPOSSIBLE = "rollback.impossible"
    ROLLBACK_FAILED = "rollback.failed"
    # A folder drop still waiting for its marker after DropTimeoutSeconds (the drop is not cancelled).
    DROP_INCOMPLETE = "drop.incomplete"
    # The drift alarm fired: captured traffic no longer matches the production model's training baseline.
    MODEL_DRIFT_DETECTED = "model.drift_detected"
    # The drift monitor could not judge the production model (no baseline, unreadable baseline).
    MONITORING_FAILED = "monitoring.failed"
    # ApprovalMode=manual: a model waits for a reviewer; no decision came within ApprovalTimeoutSeconds.
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_EXPIRED = "approval.expired"


class RunError(StrEnum):
    """The errors of the Fail states an execution ends in; the run watcher tells them apart."""

    # The run published its outcome, and that outcome was a failure or a rollback.
    PIPELINE_FAILED = "Conveyor.PipelineFailed"
    ROLLBACK_FAILED = "Conveyor.RollbackFailed"
    # The outcome could not be published: nobody was told.
    NOTIFICATION_FAILED = "Conveyor.NotificationFailed"


# After publishing, a retrain execution ends Succeeded on these outcomes and Failed on any other,
# so a console or alarm on failed executions sees failures and rollbacks.
RETRAIN_SUCCEEDS_ON = frozenset(
    {
        EventType.PIPELINE_SUCCEEDED,
        EventType.MODEL_REJECTED,
        EventType.DATA_QUARANTINED,
        EventType.RETRAIN_SKIPPED,
        EventType.APPROVAL_EXPIRED,
    }
)
# A rollback execution fails only when the rollback itself failed; a deferral is not a failure.
ROLLBACK_FAILS_ON = frozenset({EventType.ROLLBACK_FAILED})


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


SEVERITY: dict[EventType, Severity] = {
    EventType.PIPELINE_SUCCEEDED: Severity.INFO,
    EventType.RETRAIN_SKIPPED: Severity.INFO,
    EventType.MODEL_REJECTED: Severity.WARNING,
    EventType.COMPILE_FALLBACK: Severity.WARNING,
    EventType.DATA_QUARANTINED: Severity.WARNING,
    EventType.PIPELINE_FAILED: Severity.ERROR,
    EventType.DEPLOYMENT_ROLLED_BACK: Severity.ERROR,
    EventType.ROLLBACK_DEFERRED: Severity.WARNING,
    EventType.ROLLBACK_IMPOSSIBLE: Severity.ERROR,
    EventType.ROLLBACK_FAILED: Severity.ERROR,
    EventType.DROP_INCOMPLETE: Severity.WARNING,
    EventType.MODEL_DRIFT_DETECTED: Severity.WARNING,
    EventType.MONITORING_FAILED: Severity.ERROR,
    EventType.APPROVAL_REQUESTED: Severity.INFO,
    EventType.APPROVAL_EXPIRED: Severity.WARNING,
}

_HEADLINE: dict[EventType, str] = {
    EventType.PIPELINE_SUCCEEDED: "new model deployed",
    EventType.MODEL_REJECTED: "model rejected by the quality gate",
    EventType.PIPELINE_FAILED: "pipeline failed",
    EventType.COMPILE_FALLBACK: "Neo compilation failed, deploying the uncompiled model",
    EventType.DEPLOYMENT_ROLLED_BACK: "deployment rolled back",
    EventType.RETRAIN_SKIPPED: "scheduled retrain skipped",
    EventType.DATA_QUARANTINED: "dataset quarantined",
    EventType.ROLLBACK_DEFERRED: "alarm during a deployment, guardrails own the rollback",
    EventType.ROLLBACK_IMPOSSIBLE: "alarm fired but no earlier good config to roll back to",
    EventType.ROLLBACK_FAILED: "rollback failed",
    EventType.DROP_INCOMPLETE: "dataset folder still incomplete",
    EventType.MODEL_DRIFT_DETECTED: "data drift in production traffic",
    EventType.MONITORING_FAILED: "drift monitoring failed",
    EventType.APPROVAL_REQUESTED: "a model waits for your approval",
    EventType.APPROVAL_EXPIRED: "no approval decision in time, model not deployed",
}

# SNS limits: Subject <= 100 ASCII characters, message <= 256 KB. A failure cause can be a
# whole stack trace, so it is cut well below the limit.
MAX_SUBJECT = 100
MAX_REASON = 8000


class Notification(BaseModel):
    """One outcome, as published on the topic."""

    model_config = ConfigDict(frozen=True)

    event: EventType
    model: str
    execution: str | None = None
    reason: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    console_link: str | None = None

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.event]

    def subject(self) -> str:
        text = f"[Conveyor] {self.model}: {_HEADLINE[self.event]}"
        ascii_text = text.encode("ascii", "replace").decode("ascii")
        return ascii_text[:MAX_SUBJECT]

    def body(self) -> str:
        payload = self.model_dump(mode="json")
        payload["severity"] = self.severity.value
        payload["reason"] = self.reason[:MAX_REASON]
        return json.dumps(payload, sort_keys=True)

    def message_attributes(self) -> dict[str, dict[str, str]]:
        return {
            "event": {"DataType": "String", "StringValue": self.event.value},
            "severity": {"DataType": "String", "StringValue": self.severity.value},
            "model": {"DataType": "String", "StringValue": self.model},
        }

    def publish_request(self, topic_arn: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``sns.publish`` (and the ASL ``sns:publish`` task)."""
        request: dict[str, Any] = {
            "Subject": self.subject(),
            "Message": self.body(),
            "MessageAttributes": self.message_attributes(),
        }
        if topic_arn:
            request["TopicArn"] = topic_arn
        return request


# The console's host outside the aws partition (China, GovCloud); the aws partition uses <region>.console.
_CONSOLE_HOSTS = (("cn-", "console.amazonaws.cn"), ("us-gov-", "console.amazonaws-us-gov.com"))


def execution_console_link(region: str, execution_arn: str) -> str:
    host = next((h for prefix, h in _CONSOLE_HOSTS if region.startswith(prefix)), f"{region}.console.aws.amazon.com")
    return f"https://{host}/states/home?region={region}#/v2/executions/details/{quote(execution_arn, safe='')}"


def describe_failure(error: str | None, cause: str | None) -> str:
    """Turn a Step Functions ``Catch`` result into one readable reason.

    Lambda errors arrive as a JSON cause with errorType/errorMessage, SageMaker .sync failures
    as the job's Describe JSON with FailureReason; a processing job's container says what went
    wrong in ExitMessage (its /opt/ml/output/message), as its FailureReason only points at the logs.
    Anything else is passed through.
    """
    error = error or "UnknownError"
    if not cause:
        return error
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return f"{error}: {cause}"
    if isinstance(parsed, dict):
        if parsed.get("FailureReason") and parsed.get("ExitMessage"):
            return f"{error}: {parsed['FailureReason']}: {parsed['ExitMessage']}"
        for field in ("FailureReason", "errorMessage", "Message", "message"):
            if parsed.get(field):
                return f"{error}: {parsed[field]}"
    return f"{error}: {cause}"


def with_run_remarks(reason: str, details: dict[str, Any]) -> str:
    """The reason, followed by what a successful run did differently from what the stack asked.

    A deployment's ``details`` carry the plan's ``rollout_notes`` (a canary planned all at once, a
    timeout lengthened, a Failed endpoint recreated) and ``autoscaling``, which is the caught
    ``{Error, Cause}`` when registering autoscaling failed: the model serves, but someone should know.
    """
    remarks = [str(note) for note in details.get("rollout_notes") or []]
    autoscaling = details.get("autoscaling")
    if isinstance(autoscaling, dict) and autoscaling.get("Error"):
        remarks.append(
            f"autoscaling was not set up: {describe_failure(autoscaling['Error'], autoscaling.get('Cause'))}"
        )
    return "; ".join([reason, *remarks]) if remarks else reason


def publish(sns_client: Any, topic_arn: str, notification: Notification) -> str:
    response = sns_client.publish(**notification.publish_request(topic_arn))
    count_outcome(notification.event.value, notification.metrics.get("duration_seconds"))
    return str(response["MessageId"])
