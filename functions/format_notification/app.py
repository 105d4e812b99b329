"""Turn a run outcome into the one notification schema: Subject, JSON body and MessageAttributes."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.shared.contracts import NotificationInput, PublishRequest
from conveyor_core.shared.notifications import (
    Notification,
    describe_failure,
    execution_console_link,
    with_run_remarks,
)
from conveyor_core.shared.outcome_metrics import count_outcome
from conveyor_core.shared.settings import NotificationSettings, load

logger = Logger()


def build(event: NotificationInput, region: str) -> Notification:
    reason = event.reason or (describe_failure(event.error, event.cause) if event.error else "")
    metrics = {name: value for name, value in event.metrics.items() if value is not None and math.isfinite(value)}
    if event.started_at:
        started = dt.datetime.fromisoformat(event.started_at.replace("Z", "+00:00"))
        metrics["duration_seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds(), 3)
    return Notification(
        event=event.event,
        model=event.model,
        execution=event.execution,
        reason=with_run_remarks(reason, event.details),
        metrics=metrics,
        details=event.details,
        console_link=execution_console_link(region, event.execution) if event.execution else None,
    )


@logger.inject_lambda_context(clear_state=True)
@event_parser(model=NotificationInput)
def lambda_handler(event: NotificationInput, context: LambdaContext) -> dict[str, Any]:
    notification = build(event, load(NotificationSettings).region)
    count_outcome(notification.event.value, notification.metrics.get("duration_seconds"))
    logger.info("notification formatted", extra={"event": notification.event.value})
    return PublishRequest.model_validate(notification.publish_request()).model_dump(by_alias=True)
