"""Admitting a dataset drop: resolve its objects, then start a run or queue it behind the current one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from conveyor_core.intake.dataset_keys import KeyListStore
from conveyor_core.intake.drops import (
    DropKind,
    InvalidDropError,
    execution_name,
    parse_manifest,
    select_success_parts,
    skipped_objects,
)
from conveyor_core.shared import executions
from conveyor_core.shared.contracts import DatasetRef, PipelineInput
from conveyor_core.shared.locks import LockOutcome, ModelLock, PendingRun

# A lock younger than this may belong to an ingest that has acquired it but not yet started its
# execution, so it is never judged dead.
LOCK_GRACE_SECONDS = 120

Action = Literal["started", "queued", "duplicate"]


@dataclass(frozen=True, slots=True)
class Drop:
    """One arrival that completes a drop: the object that landed and what kind of drop it closes."""

    bucket: str
    key: str
    kind: DropKind
    drop_prefix: str
    size: int
    version_id: str | None
    identity: str


@dataclass(frozen=True, slots=True)
class Admission:
    action: Action
    execution_name: str
    execution_arn: str
    dataset_keys: int

    def as_output(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "execution_name": self.execution_name,
            "execution_arn": self.execution_arn,
            "dataset_keys": self.dataset_keys,
        }


def list_sizes(s3_client: Any, bucket: str, prefix: str) -> dict[str, int]:
    """Every key under ``prefix`` with its size in bytes."""
    sizes: dict[str, int] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        sizes.update((item["Key"], int(item.get("Size", 0))) for item in page.get("Contents", []))
    return sizes


def resolve_dataset(s3_client: Any, drop: Drop, max_object_bytes: int) -> DatasetRef:
    """The objects that make up the drop; raises InvalidDropError for a drop that cannot be one.

    A single object is taken from its event alone, without a call to S3: whether it still exists
    (the uploader may have deleted it, or its version may be gone) is Preprocess's first check,
    which quarantines it with the same reasons (``object-missing``, ``version-gone``). Ingest's
    admitting path is then two AWS calls, the lock's write and StartExecution. A folder drop is
    listed, as its parts are only known from S3.
    """
    if drop.kind is DropKind.SINGLE_OBJECT:
        if drop.size == 0:
            raise InvalidDropError("empty-object", f"{drop.key} is 0 bytes")
        if drop.size > max_object_bytes:
            raise InvalidDropError(
                "object-too-large",
                f"{drop.key} is {drop.size} bytes; the largest drop Conveyor accepts (MaxDatasetBytes) is "
                f"{max_object_bytes} bytes: drop less data or raise MaxDatasetBytes",
            )
        return DatasetRef(
            bucket=drop.bucket,
            keys=[drop.key],
            uri=f"s3://{drop.bucket}/{drop.key}",
            kind=drop.kind.value,
            version_id=drop.version_id,
            identity=drop.identity,
        )
    listed = list_sizes(s3_client, drop.bucket, drop.drop_prefix)
    if drop.kind is DropKind.MANIFEST:
        manifest = s3_client.get_object(Bucket=drop.bucket, Key=drop.key)["Body"].read()
        keys = parse_manifest(manifest, drop.drop_prefix)
        missing = sorted(set(keys) - set(listed))
        if missing:
            raise InvalidDropError(
                "manifest-parts-missing", f"the manifest names {len(missing)} missing part(s): {missing[:5]}"
            )
    else:
        keys = select_success_parts(listed, drop.drop_prefix)
        if not keys:
            skipped = "; ".join(skipped_objects(listed, drop.drop_prefix)) or "nothing else"
            raise InvalidDropError(
                "marker-without-data",
                f"{drop.drop_prefix} holds no non-empty .csv or .csv.gz data (it holds {skipped})",
            )
    total = sum(listed[key] for key in keys)
    if total > max_object_bytes:
        raise InvalidDropError(
            "dataset-too-large",
            f"the {len(keys)} part(s) of {drop.drop_prefix} add up to {total} bytes; the largest drop Conveyor accepts "
            f"(MaxDatasetBytes) is {max_object_bytes} bytes: drop less data or raise MaxDatasetBytes",
        )
    return DatasetRef(
        bucket=drop.bucket,
        keys=keys,
        uri=f"s3://{drop.bucket}/{drop.drop_prefix}",
        kind=drop.kind.value,
        identity=drop.identity,
        skipped=skipped_objects(listed, drop.drop_prefix),
    )


def admit(
    drop: Drop,
    dataset: DatasetRef,
    model_name: str,
    state_machine_arn: str,
    sfn_client: Any,
    lock: ModelLock,
    *,
    key_lists: KeyListStore,
    trigger: Literal["data-arrival", "schedule", "drift", "manual"] = "data-arrival",
    run_identity: str | None = None,
) -> Admission:
    """Start the run for this drop now, or queue it behind the model's current run.

    ``run_identity`` names runs that are not one-per-drop (a schedule firing retrains the same
    drop on every tick); by default the drop's identity names the run. A drop with more keys than
    fit in a run's input hands them over through ``key_lists``.
    """
    name = execution_name(model_name, run_identity or drop.identity)
    passed = key_lists.by_reference(name, dataset)
    payload = PipelineInput(model=model_name, run_id=name, trigger=trigger, dataset=passed).model_dump_json()
    run = PendingRun(execution_name=name, input_json=payload, queued_at=int(time.time()))
    arn = executions.execution_arn(state_machine_arn, name)

    def holder_is_dead(holder: str, acquired_at: int) -> bool:
        return time.time() - acquired_at > LOCK_GRACE_SECONDS and not executions.is_live(
            sfn_client, state_machine_arn, holder
        )

    outcome = lock.admit(run, holder_is_dead)
    if outcome is LockOutcome.QUEUED:
        return Admission("queued", name, arn, len(dataset.keys))
    if outcome is LockOutcome.ALREADY_QUEUED:
        return Admission("duplicate", name, arn, len(dataset.keys))
    if outcome is LockOutcome.HOLDING and executions.exists(sfn_client, arn):
        return Admission("duplicate", name, arn, len(dataset.keys))
    # ACQUIRED, or HOLDING by an admission that took the lock and failed before its run started
    # (its retry, or a redelivery, starts it now).
    arn, started = executions.start(sfn_client, state_machine_arn, name, payload)
    if not started and outcome is LockOutcome.ACQUIRED:
        # That execution ran (or runs) already and released its own lock; ours must not linger.
        lock.release(name)
    return Admission("started" if started else "duplicate", name, arn, len(dataset.keys))
