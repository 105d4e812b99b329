"""Scheduled retraining: find the newest complete dataset drop and decide whether it is new."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conveyor_core.intake.drops import (
    DropKind,
    InvalidDropError,
    KeyDecision,
    classify_key,
    idempotency_key,
    validate_key,
)
from conveyor_core.intake.ingest import Drop
from conveyor_core.release.history import AlarmRollbackRecord, DeploymentRecord, DeploymentStatus, HistoryRecord


@dataclass(frozen=True, slots=True)
class Decision:
    retrain: bool
    reason: str


def newest_complete_drop(s3_client: Any, bucket: str, incoming_prefix: str) -> Drop | None:
    """The most recently completed drop: a top-level data object, or a folder's marker.

    Part files and unsafe keys are skipped: only what would have started a run on arrival counts.
    """
    newest: dict[str, Any] | None = None
    newest_kind: DropKind | None = None
    newest_prefix = ""
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=incoming_prefix):
        for item in page.get("Contents", []):
            try:
                validate_key(item["Key"], incoming_prefix)
            except InvalidDropError:
                continue
            classification = classify_key(item["Key"], incoming_prefix)
            if classification.decision is not KeyDecision.START:
                continue
            if newest is None or (item["LastModified"], item["Key"]) > (newest["LastModified"], newest["Key"]):
                newest, newest_kind, newest_prefix = item, classification.kind, classification.drop_prefix
    if newest is None or newest_kind is None:
        return None
    # The version id identifies the write exactly as the ingest function saw it on arrival.
    head = s3_client.head_object(Bucket=bucket, Key=newest["Key"])
    version_id = head.get("VersionId")
    etag = str(head.get("ETag", "")).strip('"')
    return Drop(
        bucket=bucket,
        key=newest["Key"],
        kind=newest_kind,
        drop_prefix=newest_prefix,
        size=int(head["ContentLength"]),
        version_id=version_id,
        identity=idempotency_key(bucket, newest["Key"], version_id, etag, None),
    )


def rolled_back_identities(history: Sequence[HistoryRecord]) -> set[str]:
    """Drops whose model was rolled back, by the guardrails or by an alarm.

    Retraining on such a drop would most likely rebuild the model that was just taken out of
    service, and the next alarm would take it out again: a loop across triggers. A deployment
    recorded without ``dataset_identity`` (before scheduled retraining) names no drop.
    """
    rolled_away = {r.endpoint_config for r in history if isinstance(r, AlarmRollbackRecord)}
    return {
        r.dataset_identity
        for r in history
        if isinstance(r, DeploymentRecord)
        and r.dataset_identity
        and (
            r.status is DeploymentStatus.ROLLED_BACK
            or (r.status is DeploymentStatus.IN_SERVICE and r.endpoint_config in rolled_away)
        )
    }


def decide(drop: Drop | None, production: DeploymentRecord | None, rolled_back: set[str] | None = None) -> Decision:
    """Retrain unless there is no data, production was trained on this very drop, or its model was rolled back.

    A drop with new identity but identical content is caught later, inside the run, by comparing
    the content hash Preprocess computes with the production model's.
    """
    if drop is None:
        return Decision(False, "no complete dataset under the incoming prefix")
    where = f"s3://{drop.bucket}/{drop.key}"
    if production is not None and production.dataset_identity == drop.identity:
        return Decision(False, f"{where} is the drop the production model was trained on")
    if rolled_back and drop.identity in rolled_back:
        return Decision(False, f"the model trained on {where} was rolled back; upload new data to retrain")
    return Decision(True, f"retraining on {where}")
