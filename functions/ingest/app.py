"""S3 "Object Created" (via EventBridge) -> start or queue a retrain run, once per dataset drop."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.intake import ingest, s3_io
from conveyor_core.intake.dataset_keys import KeyListStore
from conveyor_core.intake.drops import (
    DropKind,
    InvalidDropError,
    KeyDecision,
    classify_key,
    execution_name,
    idempotency_key,
    is_folder_placeholder,
    validate_key,
)
from conveyor_core.intake.pending_drops import PendingDrops
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import IngestSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()

settings = load(IngestSettings)
s3 = aws_clients.client("s3")
sfn = aws_clients.client("stepfunctions")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")

idempotency_config = IdempotencyConfig(
    event_key_jmespath="identity", expires_after_seconds=settings.idempotency_ttl_seconds
)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
pending_drops = PendingDrops(dynamodb, settings.drop_table, settings.model_name)


def admit_drop(drop: dict[str, Any]) -> dict[str, Any]:
    """Start or queue the drop's run: once per S3 object version, however often the event is delivered.

    No idempotency record: the run's name is derived from the object version, Step Functions keeps
    a name for 90 days, and the model lock never queues a run twice (``ModelLock.admit``). A single
    object is admitted in two AWS calls, the lock's conditional write and StartExecution.
    """
    arrival = ingest.Drop(**{**drop, "kind": DropKind(drop["kind"])})
    try:
        dataset = ingest.resolve_dataset(s3, arrival, settings.max_object_bytes)
    except InvalidDropError as error:
        refused: dict[str, Any] = refuse_arrival(
            arrival={
                "bucket": arrival.bucket,
                "key": arrival.key,
                "version_id": arrival.version_id,
                "identity": arrival.identity,
                "reason": error.reason,
                "detail": error.detail,
            }
        )
        return refused
    lock = ModelLock(dynamodb, settings.lock_table, settings.model_name)
    admission = ingest.admit(
        arrival,
        dataset,
        settings.model_name,
        settings.state_machine_arn,
        sfn,
        lock,
        key_lists=KeyListStore(s3, settings.artifact_bucket),
    )
    metrics.add_metric(name=f"Drops{admission.action.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info("drop admitted", extra=admission.as_output())
    return admission.as_output()


@idempotent_function(data_keyword_argument="arrival", config=idempotency_config, persistence_store=persistence)  # type: ignore[untyped-decorator]
def refuse_arrival(arrival: dict[str, Any]) -> dict[str, Any]:
    """Quarantine a refused arrival and notify it, once per S3 object version however often it is delivered."""
    error = InvalidDropError(arrival["reason"], arrival["detail"])
    return quarantine_drop(arrival["bucket"], [arrival["key"]], error, arrival["version_id"])


def quarantine_drop(
    bucket: str, keys: list[str], error: InvalidDropError, version_id: str | None = None
) -> dict[str, Any]:
    reason = {"reason": error.reason, "detail": error.detail, "stage": "ingest"}
    target = f"quarantine/ingest/{ingest_identity_suffix(keys)}/"
    # A drop its uploader deleted, or a version that is gone, is reported, never copied back into
    # existence (the current version of a key whose event named an older one is a run of its own);
    # a key that is not UTF-8 (a forged event) names no object S3 could hold.
    uncopied = keys if error.reason in ("object-missing", "version-gone", "key-not-utf8") else ()
    uri = s3_io.quarantine(s3, bucket, keys, target, reason, version_id=version_id, skip=uncopied)
    notifications.publish(
        sns,
        settings.topic_arn,
        Notification(
            event=EventType.DATA_QUARANTINED,
            model=settings.model_name,
            reason=f"{error.reason}: {error.detail}",
            details={"quarantine": uri, "sources": [f"s3://{bucket}/{key}" for key in keys]},
        ),
    )
    metrics.add_metric(name="DropsQuarantined", unit=MetricUnit.Count, value=1)
    logger.warning("drop quarantined", extra={"reason": error.reason, "detail": error.detail, "keys": keys})
    return {"action": "quarantined", "reason": error.reason, "quarantine": uri}


def ingest_identity_suffix(keys: list[str]) -> str:
    # A short stable folder per quarantined input: keys are data, never reused raw as a path.
    return execution_name("drop", "|".join(keys))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=S3EventNotificationEventBridgeModel)
def lambda_handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    bucket = event.detail.bucket.name
    obj = event.detail.object
    if is_folder_placeholder(obj.key, int(obj.size or 0)):
        return {"action": "ignored", "why": "folder-placeholder"}
    identity = idempotency_key(bucket, obj.key, obj.version_id, obj.etag, obj.sequencer)
    try:
        written_at = int(event.time.timestamp())
        return handle_arrival(bucket, obj.key, int(obj.size or 0), obj.version_id, identity, written_at)
    except IdempotencyAlreadyInProgressError:
        # Another delivery of this very write is being handled right now. Failing would only make
        # Lambda retry and, after its retries, dead-letter a harmless duplicate; if that other
        # delivery fails instead, its own retries take the write through again.
        metrics.add_metric(name="DropsDuplicate", unit=MetricUnit.Count, value=1)
        logger.info("duplicate delivery while the same write is being handled", extra={"key": obj.key})
        return {"action": "duplicate", "execution_name": execution_name(settings.model_name, identity)}


def handle_arrival(
    bucket: str, key: str, size: int, version_id: str | None, identity: str, written_at: int
) -> dict[str, Any]:
    arrival = {"bucket": bucket, "key": key, "version_id": version_id, "identity": identity}
    try:
        validate_key(key, settings.incoming_prefix)
    except InvalidDropError as error:
        refused: dict[str, Any] = refuse_arrival(arrival={**arrival, "reason": error.reason, "detail": error.detail})
        return refused
    classification = classify_key(key, settings.incoming_prefix)
    if classification.decision is KeyDecision.UNSUPPORTED:
        unsupported = {
            "reason": "unsupported-file-type",
            "detail": "only a .csv or .csv.gz object, or a folder closed by _SUCCESS or manifest.json, starts a run",
        }
        refused = refuse_arrival(arrival={**arrival, **unsupported})
        return refused
    if classification.decision is not KeyDecision.START:
        # Part files wait for their folder's marker: counted (one conditional write, the cheap path
        # in a burst) so the sweeper completes or reports the folder; no part waits in silence.
        counted = pending_drops.record_part(
            bucket, classification.drop_prefix, size, classification.decision is KeyDecision.PART_OF_FOLDER, written_at
        )
        return {
            "action": "waiting" if counted else "ignored",
            "why": classification.decision.value if counted else "part-of-completed-drop",
            "folder": classification.drop_prefix,
        }
    assert classification.kind is not None
    drop = {**arrival, "kind": classification.kind, "drop_prefix": classification.drop_prefix, "size": size}
    admission: dict[str, Any] = admit_drop(drop=drop)
    if classification.kind is not DropKind.SINGLE_OBJECT:
        pending_drops.complete(bucket, classification.drop_prefix, written_at)
    return admission
