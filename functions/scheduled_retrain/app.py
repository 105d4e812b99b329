"""EventBridge Scheduler -> retrain on the newest complete dataset, or skip when nothing changed."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.intake import ingest
from conveyor_core.intake.dataset_keys import KeyListStore
from conveyor_core.intake.drops import InvalidDropError
from conveyor_core.release import history
from conveyor_core.runs import schedule
from conveyor_core.shared import notifications
from conveyor_core.shared.contracts import ScheduledInvocation
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import ScheduleSettings, load

logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
sfn = boto3.client("stepfunctions")
dynamodb = boto3.client("dynamodb")
sns = boto3.client("sns")


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
    drop = schedule.newest_complete_drop(s3, settings.data_bucket, settings.incoming_prefix)
    current = history.current(dynamodb, settings.history_table, settings.model_name)
    deployments = history.deployments(dynamodb, settings.history_table, settings.model_name)
    decision = schedule.decide(drop, current, schedule.rolled_back_identities(deployments))
    if not decision.retrain or drop is None:
        return skip(settings, decision.reason, event.scheduled_time)
    try:
        dataset = ingest.resolve_dataset(s3, drop, settings.max_object_bytes)
    except InvalidDropError as error:
        return skip(settings, f"the newest drop is unusable: {error.reason}: {error.detail}", event.scheduled_time)
    admission = ingest.admit(
        drop,
        dataset,
        settings.model_name,
        settings.state_machine_arn,
        sfn,
        ModelLock(dynamodb, settings.lock_table, settings.model_name),
        key_lists=KeyListStore(s3, settings.artifact_bucket),
        trigger="schedule",
        # One run per schedule firing: a retried delivery of the same firing maps to the same name.
        run_identity=f"{drop.identity}|schedule|{event.scheduled_time}",
    )
    logger.info("scheduled retrain admitted", extra=admission.as_output())
    return admission.as_output()
