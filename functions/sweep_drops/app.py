"""Every minute (EventBridge Scheduler): complete quiet folder drops, report ones still incomplete."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.intake import ingest
from conveyor_core.intake.dataset_keys import KeyListStore
from conveyor_core.intake.drops import InvalidDropError
from conveyor_core.intake.pending_drops import PendingDrops, now_seconds
from conveyor_core.intake.sweep import DropSweeper, SweepPolicy
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import DatasetRef, ScheduledInvocation
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import SweepSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
settings = load(SweepSettings)
s3 = aws_clients.client("s3")
sfn = aws_clients.client("stepfunctions")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")


def _count(name: str) -> None:
    # One EMF document per count, not Powertools' shared metric set with log_metrics: the sweeper runs
    # every minute, mostly with nothing to count, and the offline cloud runs functions in one process,
    # where a flush of the shared set can race another function's.
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=settings.metrics_namespace):
        pass


def admit(drop: ingest.Drop, dataset: DatasetRef) -> None:
    admission = ingest.admit(
        drop,
        dataset,
        settings.model_name,
        settings.state_machine_arn,
        sfn,
        ModelLock(dynamodb, settings.lock_table, settings.model_name),
        key_lists=KeyListStore(s3, settings.artifact_bucket),
    )
    _count("QuietDropsStarted")
    logger.info("quiet folder drop admitted", extra=admission.as_output())


def quarantine(drop: ingest.Drop, error: InvalidDropError) -> None:
    # A folder is not one object: nothing is copied; the parts stay where they landed, and the
    # notification names the folder and why its run was refused.
    notification = Notification(
        event=EventType.DATA_QUARANTINED,
        model=settings.model_name,
        reason=f"{error.reason}: {error.detail}",
        details={"sources": [f"s3://{drop.bucket}/{drop.drop_prefix}"], "completed_by": drop.kind.value},
    )
    notifications.publish(sns, settings.topic_arn, notification)
    logger.warning("quiet folder drop refused", extra={"reason": error.reason, "folder": drop.drop_prefix})


def notify(notification: Notification) -> None:
    notifications.publish(sns, settings.topic_arn, notification)
    _count("DropsIncompleteNotified")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ScheduledInvocation)
def lambda_handler(event: ScheduledInvocation, context: LambdaContext) -> dict[str, Any]:
    sweeper = DropSweeper(
        pending=PendingDrops(dynamodb, settings.drop_table, settings.model_name),
        policy=SweepPolicy(settings.drop_quiet_seconds, settings.drop_timeout_seconds),
        model=settings.model_name,
        s3=s3,
        admit=admit,
        quarantine=quarantine,
        notify=notify,
        max_object_bytes=settings.max_object_bytes,
    )
    result = sweeper.sweep(now_seconds())
    if result.started or result.notified or result.quarantined:
        logger.info("drops swept", extra=result.as_output())
    return result.as_output()
