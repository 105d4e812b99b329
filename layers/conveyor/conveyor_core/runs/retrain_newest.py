"""Start a run on the newest complete drop when its data is newer than the production model's.

The scheduled retrain and the drift action (``DriftAction=retrain``) both ask this; each names its
trigger, and the identity that keeps a retried delivery from starting a second run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from conveyor_core.intake import ingest
from conveyor_core.intake.dataset_keys import KeyListStore
from conveyor_core.intake.drops import InvalidDropError
from conveyor_core.release import history
from conveyor_core.runs import schedule
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.settings import ScheduleSettings


@dataclass(frozen=True)
class RetrainOutcome:
    started: bool
    reason: str
    admission: dict[str, Any] | None = None


def retrain_on_newest_drop(
    s3: Any,
    sfn: Any,
    dynamodb: Any,
    settings: ScheduleSettings,
    trigger: Literal["schedule", "drift"],
    occasion: str,
) -> RetrainOutcome:
    """``occasion`` tells one firing from another (a schedule's time, an alarm's transition)."""
    drop = schedule.newest_complete_drop(s3, settings.data_bucket, settings.incoming_prefix)
    current = history.current(dynamodb, settings.history_table, settings.model_name)
    deployments = history.deployments(dynamodb, settings.history_table, settings.model_name)
    decision = schedule.decide(drop, current, schedule.rolled_back_identities(deployments))
    if not decision.retrain or drop is None:
        return RetrainOutcome(False, decision.reason)
    try:
        dataset = ingest.resolve_dataset(s3, drop, settings.max_object_bytes)
    except InvalidDropError as error:
        return RetrainOutcome(False, f"the newest drop is unusable: {error.reason}: {error.detail}")
    admission = ingest.admit(
        drop,
        dataset,
        settings.model_name,
        settings.state_machine_arn,
        sfn,
        ModelLock(dynamodb, settings.lock_table, settings.model_name),
        key_lists=KeyListStore(s3, settings.artifact_bucket),
        trigger=trigger,
        # One run per firing: a retried delivery of the same firing maps to the same execution name.
        run_identity=f"{drop.identity}|{trigger}|{occasion}",
    )
    return RetrainOutcome(True, decision.reason, admission.as_output())
