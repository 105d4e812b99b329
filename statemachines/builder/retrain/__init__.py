"""The retraining pipeline, assembled from one module per concern.

intake → training (train, gate) → non-regression → compile → register → approval (manual mode) →
deploy (or variant_shift) → record → finish (release the lock, notify, end). Every task catches
into an outcome, and every outcome reaches the notification tail, so no run ends silently.
"""

from __future__ import annotations

from conveyor_core.shared.notifications import RETRAIN_SUCCEEDS_ON, EventType, RunError
from statemachines.builder import asl, functions, notify, outcomes
from statemachines.builder.retrain import (
    approval,
    compile,
    deploy,
    experiment,
    intake,
    non_regression,
    record,
    register,
    training,
    variant_shift,
)
from statemachines.builder.retrain.common import FAILED, FAILURE, FINALIZE, MODEL, run_details

COMMENT = (
    "Conveyor retraining pipeline: preprocess, train, gate, register, compile (Neo), deploy, record, notify. "
    "Every task state catches into a notification."
)


def _finish() -> dict[str, asl.State]:
    return {
        FAILED: outcomes.outcome(
            EventType.PIPELINE_FAILED,
            model=MODEL,
            failure=FAILURE,
            details=run_details(),
            next_state=FINALIZE,
        ),
        FINALIZE: functions.FINALIZE_RUN.task(
            comment="Release the model lock and start the drop that queued behind this run.",
            parameters={"model": MODEL, "run_id": "$.run_id"},
            result_path="$.finalize",
            catch=asl.catch_all(notify.FORMAT, "$.finalize_error"),
            next_state=notify.FORMAT,
        ),
        **notify.tail(
            end_state="EndRun", fallback_subject="States.Format('[Conveyor] {}: {}', $.model, $.outcome.event)"
        ),
        **notify.ending("EndRun", events=RETRAIN_SUCCEEDS_ON, when_listed="RunSucceeded", otherwise="RunFailed"),
        "RunSucceeded": notify.succeed(),
        "RunFailed": notify.fail(
            RunError.PIPELINE_FAILED, "The run failed or was rolled back; the notification carries the cause."
        ),
        **notify.NOTIFICATION_FAILED_STATE,
    }


def definition() -> dict[str, object]:
    machine = asl.Machine(COMMENT, start_at="Preprocess")
    for concern in (
        intake,
        training,
        non_regression,
        compile,
        register,
        approval,
        deploy,
        variant_shift,
        experiment,
        record,
    ):
        machine.add(concern.states())
    return machine.add(_finish()).definition()
