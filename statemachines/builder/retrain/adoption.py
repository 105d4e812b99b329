"""Waiting for the run's own SageMaker job when the answer to its ``.sync`` Create was lost.

A Create retried after its answer was lost is refused as a duplicate (``ResourceInUse``): the first
attempt started the job, and its name is the run's. The run then polls that job's Describe until it
ends, as the ``.sync`` integration would have, and goes on where the integration would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, outcomes
from statemachines.builder.retrain.common import FAILURE, FINALIZE, MODEL, RUN_ID, fail_run, run_details

ATTEMPT = "$.adoption"


@dataclass(frozen=True)
class AdoptedJob:
    kind: str  # "Training": the states are AdoptTrainingJob, WaitForTrainingJob, ...
    name_param: str  # the Describe call's name parameter
    status_field: str
    # What the run keeps of the Describe answer (it must select the status as "status"), and where.
    result_selector: dict[str, Any]
    result_path: str
    poll_seconds: int
    max_polls: int
    next_state: str
    details: dict[str, Any]

    @property
    def adopt_state(self) -> str:
        return f"Adopt{self.kind}Job"


def catch(job: AdoptedJob) -> list[dict[str, Any]]:
    """The Create's catchers: its own job already exists after a lost answer, anything else fails the run."""
    return [
        {"ErrorEquals": ["SageMaker.ResourceInUseException"], "ResultPath": FAILURE, "Next": job.adopt_state},
        *fail_run(),
    ]


def states(job: AdoptedJob) -> dict[str, asl.State]:
    wait, describe, done = f"WaitFor{job.kind}Job", f"Describe{job.kind}Job", f"{job.kind}JobDone"
    count, failed = f"Count{job.kind}Poll", f"Adopted{job.kind}FailedOutcome"
    status = f"{job.result_path}.status"
    name = f"{job.result_path}.{job.name_param}"
    api = f"describe{job.kind}Job"
    return {
        job.adopt_state: asl.pass_state({"attempt": 0}, result_path=ATTEMPT, next_state=wait),
        wait: asl.wait(describe, seconds=job.poll_seconds),
        describe: asl.service_task(
            f"aws-sdk:sagemaker:{api}",
            parameters={job.name_param: RUN_ID},
            result_selector=job.result_selector,
            result_path=job.result_path,
            catch=fail_run(),
            next_state=done,
        ),
        done: asl.choice(
            [
                asl.rule(asl.equals(status, "Completed"), job.next_state),
                asl.rule(asl.equals_any(status, ("Failed", "Stopped")), failed),
                asl.rule({"Variable": f"{ATTEMPT}.attempt", "NumericGreaterThanEquals": job.max_polls}, failed),
            ],
            count,
        ),
        count: asl.pass_state(
            {"attempt": f"States.MathAdd({ATTEMPT}.attempt, 1)"}, result_path=ATTEMPT, next_state=wait
        ),
        failed: outcomes.outcome(
            EventType.PIPELINE_FAILED,
            model=MODEL,
            reason=f"States.Format('{job.kind.lower()} job {{}} ended {{}} (Describe{job.kind}Job has its "
            f"FailureReason)', {name}, {status})",
            details=run_details(**job.details),
            next_state=FINALIZE,
        ),
    }
