"""EventBridge Scheduler -> retrain on the newest complete dataset, or skip when nothing changed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.runs.retrain_newest import retrain_on_newest_drop
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import ScheduledInvocation
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import ScheduleSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()
s3 = aws_clients.client("s3")
sfn = aws_clients.client("stepfunctions")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")


def skip(settings: ScheduleSettings, reason: str, scheduled_time: str) -> dict[str, Any]:
    notifications.publish(
        sns,
        settings.topic_arn,
        Notification(
            event=EventType.RETRAIN_SKIPPED,
            model=settings.model_name,
            reason=reason,
            details={"scheduled_time": scheduled_time},
        ),
    )
    metrics.add_metric(name="ScheduledRetrainsSkipped", unit=MetricUnit.Count, value=1)
    logger.info("scheduled retrain skipped", extra={"reason": reason})
    return {"action": "skipped", "reason": reason}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ScheduledInvocation)
def lambda_handler(event: ScheduledInvocation, context: LambdaContext) -> dict[str, Any]:
    settings = load(ScheduleSettings)
    outcome = retrain_on_newest_drop(s3, sfn, dynamodb, settings, "schedule", event.scheduled_time)
    if not outcome.started or outcome.admission is None:
        return skip(settings, outcome.reason, event.scheduled_time)
    logger.info("scheduled retrain admitted", extra=outcome.admission)
    return outcome.admission
