"""Manual approval: with ApprovalMode=manual the registered package waits for a reviewer.

``RequestApproval`` is a ``.waitForTaskToken`` task: its Lambda keeps the token and tells people
(``approval.requested``), and the run waits until ``ResolveApprovalFunction`` ends the wait when the
package is approved (the run deploys) or rejected in the Model Registry (``model.rejected`` with the
reviewer's words), or until ``ApprovalTimeoutSeconds`` pass: the package is then marked Rejected and
the run ends in ``approval.expired``. The model lock is held while the run waits, so drops that land
meanwhile queue behind it.
"""

from __future__ import annotations

from conveyor_core.release.approval import REJECTED_ERROR
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, outcomes, retries
from statemachines.builder.retrain.common import FAILED, FAILURE, FINALIZE, MODEL, run_details
from statemachines.builder.retrain.register import REGISTRY

APPROVAL = "$.approval"
_ERROR = "$.approval_error"
_NEXT = "PlanDeployment"


def _request() -> asl.State:
    state = asl.task(
        asl.service("lambda:invoke.waitForTaskToken"),
        comment="Waits for a reviewer's decision in the Model Registry, at most ApprovalTimeoutSeconds.",
        parameters=asl.fields(
            {
                "FunctionName": "${RequestApprovalFunctionArn}",
                "Payload": {
                    "task_token": "$$.Task.Token",
                    "model": MODEL,
                    "run_id": "$.run_id",
                    "execution": "$$.Execution.Id",
                    "package_arn": f"{REGISTRY}.ModelPackageArn",
                    "timeout_seconds": f"{REGISTRY}.approval_timeout",
                    "gate_reason": "$.gate.reason",
                    "serving_note": "$.artifact.note",
                    "target_advice": "$.serving.advice",
                },
            }
        ),
        result_path=APPROVAL,
        retry=retries.for_integration("lambda:invoke.waitForTaskToken"),
        catch=[
            {"ErrorEquals": [REJECTED_ERROR], "ResultPath": _ERROR, "Next": "RejectedByReviewerOutcome"},
            {"ErrorEquals": ["States.Timeout"], "ResultPath": _ERROR, "Next": "RejectExpiredPackage"},
            *asl.catch_all(FAILED, FAILURE),
        ],
        next_state=_NEXT,
    )
    state["TimeoutSecondsPath"] = f"{REGISTRY}.approval_timeout"
    return state


def states() -> dict[str, asl.State]:
    return {
        "NeedsApproval": asl.choice(
            [asl.rule(asl.equals(f"{REGISTRY}.approval_status", "PendingManualApproval"), "RequestApproval")],
            _NEXT,
        ),
        "RequestApproval": _request(),
        "RejectedByReviewerOutcome": outcomes.outcome(
            EventType.MODEL_REJECTED,
            model=MODEL,
            reason=f"{_ERROR}.Cause",
            metrics={"candidate": "$.gate.candidate"},
            details={**run_details(), "model_package": f"{REGISTRY}.ModelPackageArn"},
            next_state=FINALIZE,
        ),
        # A package nobody decided on is not left pending for a later reviewer to approve by mistake.
        "RejectExpiredPackage": asl.service_task(
            "aws-sdk:sagemaker:updateModelPackage",
            parameters={
                "ModelPackageArn": f"{REGISTRY}.ModelPackageArn",
                "ModelApprovalStatus": "Rejected",
                "ApprovalDescription": "States.Format('No decision within {} s: the run ended without deploying it', "
                f"{REGISTRY}.approval_timeout)",
            },
            result_path=None,
            catch=asl.catch_all("ApprovalExpiredOutcome", "$.reject_error"),
            next_state="ApprovalExpiredOutcome",
        ),
        "ApprovalExpiredOutcome": outcomes.outcome(
            EventType.APPROVAL_EXPIRED,
            model=MODEL,
            reason=f"States.Format('{{}} was not approved or rejected within {{}} s; it was not deployed and is now "
            f"marked Rejected', {REGISTRY}.ModelPackageArn, {REGISTRY}.approval_timeout)",
            details={**run_details(), "model_package": f"{REGISTRY}.ModelPackageArn"},
            next_state=FINALIZE,
        ),
    }
