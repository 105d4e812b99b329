"""Step Functions "Execution Status Change" -> a notification for a run that ended without one."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.runs import watch
from conveyor_core.runs.closing import close_run
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import ExecutionStatusChange, ExecutionStatusChangeEvent
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.settings import WatchSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()
sfn = aws_clients.client("stepfunctions")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")


settings = load(WatchSettings)
idempotency_config = IdempotencyConfig(event_key_jmespath="execution_arn", expires_after_seconds=7 * 24 * 3600)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)


@idempotent_function(data_keyword_argument="change", config=idempotency_config, persistence_store=persistence)  # type: ignore[untyped-decorator]
def report_unreported_end(change: dict[str, Any]) -> dict[str, Any]:
    """Runs at most once per execution, however often EventBridge delivers its end."""
    status_change = ExecutionStatusChange.model_validate(change)
    ending = watch.describe_ending(sfn, status_change.execution_arn)
    if ending.was_notified:
        return {"action": "already-notified", "status": ending.status, "error": ending.error}
    is_rollback = status_change.state_machine_arn == settings.rollback_state_machine_arn
    model = watch.model_of(status_change, settings.model_name)
    notification = watch.unreported_notification(status_change, ending, model, is_rollback=is_rollback)
    notifications.publish(sns, settings.topic_arn, notification)
    metrics.add_metric(name="UnreportedEndsNotified", unit=MetricUnit.Count, value=1)
    logger.warning("an execution ended without its notification", extra={"reason": notification.reason})
    closed: dict[str, Any] = {}
    if not is_rollback:
        # The run never reached FinalizeRun (or did, and this is a no-op): free its model for the queue.
        closed = close_run(
            status_change.name,
            ModelLock(dynamodb, settings.lock_table, model),
            sfn,
            settings.retrain_state_machine_arn,
        )
    return {"action": "notified", "event": notification.event.value, "closed": closed}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ExecutionStatusChangeEvent)
def lambda_handler(event: ExecutionStatusChangeEvent, context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    watched = {settings.retrain_state_machine_arn, settings.rollback_state_machine_arn}
    if event.detail.state_machine_arn not in watched or event.detail.status not in watch.UNREPORTED_STATUSES:
        return {"action": "ignored", "status": event.detail.status}
    result: dict[str, Any] = report_unreported_end(change=event.detail.model_dump(by_alias=False))
    return result
