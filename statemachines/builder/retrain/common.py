"""Names every part of the retrain machine shares: where a run fails to, and where it finishes."""

from __future__ import annotations

from typing import Any

from statemachines.builder import asl

MODEL = "$.model"
RUN_ID = "$.run_id"
# Every task catches States.ALL here unless its failure is only a warning.
FAILED = "FailedOutcome"
FAILURE = "$.failure"
# Every outcome goes here: the lock is released before anyone is told.
FINALIZE = "FinalizeRun"


def fail_run() -> list[dict[str, Any]]:
    return asl.catch_all(FAILED, FAILURE)


def run_tags() -> list[dict[str, str]]:
    """The tags SageMaker resources get, so a console user can find a run's jobs and models."""
    return [{"Key": "conveyor:model", "Value": MODEL}, {"Key": "conveyor:run", "Value": RUN_ID}]
