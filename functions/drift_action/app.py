"""The drift alarm went into ALARM: say which features drift, and retrain when DriftAction asks for it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.monitoring import monitor
from conveyor_core.monitoring.drift_notice import drift_notification
from conveyor_core.release.rollback import parse_time
from conveyor_core.runs.retrain_newest import RetrainOutcome, retrain_on_newest_drop
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import AlarmStateChangeEvent
from conveyor_core.shared.settings import DriftActionSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
s3 = aws_clients.client("s3")
sfn = aws_clients.client("stepfunctions")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")


def alarm_report(settings: DriftActionSettings, alarm_time: str) -> dict[str, Any] | None:
    """The report of the run that moved the alarm: the last one at or before its state change.

    ``latest.json`` when no such run is found (an older stack wrote no per-run reports), and it holds
    the last run's failure, which has no report of its own.
    """
    try:
        at = parse_time(alarm_time)
    except ValueError:
        at = None
    bucket, endpoint, prefix = settings.artifact_bucket, settings.endpoint_name, settings.report_prefix
    try:
        found = None if at is None else monitor.report_at(s3, bucket, endpoint, at, prefix)
        return found or monitor.read_json(s3, f"s3://{bucket}/{monitor.latest_report_key(endpoint, prefix)}")
    except s3.exceptions.NoSuchKey:
        return None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=AlarmStateChangeEvent)
def lambda_handler(event: AlarmStateChangeEvent, context: LambdaContext) -> dict[str, Any]:
    settings = load(DriftActionSettings)
    retrain: RetrainOutcome | None = None
    # The alarm's transition: a redelivered event carries the same time, so it starts one run at most.
    occasion = event.detail.state.timestamp or event.time
    if settings.drift_action == "retrain":
        retrain = retrain_on_newest_drop(s3, sfn, dynamodb, settings, "drift", occasion)
    report = alarm_report(settings, occasion)
    notification = drift_notification(settings.model_name, event.detail, report, retrain)
    notifications.publish(sns, settings.topic_arn, notification)
    logger.info("drift reported", extra={"reason": notification.reason, "action": settings.drift_action})
    return {"action": settings.drift_action, "retrain_started": bool(retrain and retrain.started)}
