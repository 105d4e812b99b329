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


def run_details(**more: Any) -> dict[str, Any]:
    """What every retrain outcome says about its drop: the dataset, and the folder's objects it did not read."""
    return {"dataset": "$.dataset.uri", "skipped_objects": "$.dataset.skipped", **more}


def fail_run() -> list[dict[str, Any]]:
    return asl.catch_all(FAILED, FAILURE)


def create_or_find(
    name: str,
    create: asl.State,
    find_integration: str,
    find_parameters: dict[str, Any],
    next_state: str,
    *,
    found_selector: dict[str, Any] | None = None,
    found_path: str | None = None,
) -> dict[str, asl.State]:
    """A create with a name the run chose, and ``Find<name>``, which its failure goes to.

    A create whose answer was lost is retried and then refused because the resource exists: the
    first attempt made it. The name is the run's own, so a resource that answers to it is ours and
    the run goes on; one that does not exist means the create really failed, with the error the
    create caught.
    """
    finder = f"Find{name}"
    return {
        name: {**create, "Catch": asl.catch_all(finder, FAILURE)},
        finder: asl.service_task(
            find_integration,
            comment=f"Reached only when {name} failed: the resource exists if an earlier attempt made it.",
            parameters=find_parameters,
            result_selector=found_selector,
            result_path=found_path,
            catch=asl.catch_all(FAILED, "$.find_error"),
            next_state=next_state,
        ),
    }


def run_tags() -> list[dict[str, str]]:
    """The tags SageMaker resources get, so a console user can find a run's jobs and models."""
    return [{"Key": "conveyor:model", "Value": MODEL}, {"Key": "conveyor:run", "Value": RUN_ID}]
