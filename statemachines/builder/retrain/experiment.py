"""An A/B test or bandit: the variant shift's two-variant config, evaluated on a schedule until a verdict.

The shift states apply the first weights, wait ``plan.shift_bake_seconds`` (the evaluation interval)
and check both variants' alarms, as for any shift: a firing alarm aborts the experiment like it
aborts a shift. Then ``EvaluateExperiment`` (``conveyor_core.experiments``) decides:

* ``continue``: the bandit applies its new weights first; then the next interval;
* ``promote``: the candidate won; the shift's promotion serves it alone (``PromoteShift``) and the
  run records the deployment like any other;
* ``keep``: production won, or no verdict came within ``AbMaxDurationSeconds``: traffic goes back to
  production, the two-variant config is replaced by the previous one, the losing package is
  rejected and the run ends in ``model.rejected`` with the verdict.

An evaluation (or a bandit's weight update) that fails keeps production the same way and ends in
``pipeline.failed`` with the error: the endpoint is never left split with nobody deciding.
"""

from __future__ import annotations

from conveyor_core.release.polling import ABORT_SETTLE_SECONDS, SHIFT_MAX_POLLS, SHIFT_POLL_SECONDS
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, outcomes, retries
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run, run_details
from statemachines.builder.retrain.deploy import endpoint_failed

EXPERIMENT = "$.experiment"
NEXT_EVALUATION = "WaitForShiftStep"
_KEEP = "KeepProductionWeights"
_ERROR = "$.experiment_error"
_NOT_EVALUATED = "ExperimentNotEvaluated"


def _experiment_details() -> dict[str, str]:
    return {**run_details(), "endpoint": "$.plan.endpoint_name", "experiment": f"{EXPERIMENT}.verdict"}


def _keep_production() -> dict[str, asl.State]:
    return {
        _KEEP: asl.service_task(
            "aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
            comment="Every request back to the production variant at once, before the candidate is removed.",
            parameters={
                "EndpointName": "$.plan.endpoint_name",
                "DesiredWeightsAndCapacities": "$.plan.shift_abort_weights",
            },
            result_path=None,
            catch=asl.catch_all("WaitBeforeKeepingProduction", "$.keep_error"),
            next_state="WaitBeforeKeepingProduction",
        ),
        "WaitBeforeKeepingProduction": asl.wait("RestoreProductionConfig", seconds=ABORT_SETTLE_SECONDS),
        "RestoreProductionConfig": asl.service_task(
            "sagemaker:updateEndpoint",
            parameters={
                "EndpointName": "$.plan.endpoint_name",
                "EndpointConfigName": "$.plan.previous_endpoint_config",
            },
            result_selector={"attempt": 0},
            result_path="$.restore",
            retry=retries.SAGEMAKER_WHILE_UPDATING,
            catch=fail_run(),
            next_state="WaitForProductionConfig",
        ),
        "WaitForProductionConfig": asl.wait("DescribeRestoredEndpoint", seconds=SHIFT_POLL_SECONDS),
        "DescribeRestoredEndpoint": asl.service_task(
            "aws-sdk:sagemaker:describeEndpoint",
            parameters={"EndpointName": "$.plan.endpoint_name"},
            result_selector={"EndpointStatus": "$.EndpointStatus"},
            result_path="$.restored",
            catch=fail_run(),
            next_state="ProductionConfigRestored",
        ),
        "ProductionConfigRestored": asl.choice(
            [
                asl.rule(asl.equals("$.restored.EndpointStatus", "InService"), "RejectLosingPackage"),
                asl.rule(endpoint_failed("$.restored.EndpointStatus"), "RestoreFailedOutcome"),
                asl.rule(
                    {"Variable": "$.restore.attempt", "NumericGreaterThanEquals": SHIFT_MAX_POLLS},
                    "RestoreFailedOutcome",
                ),
            ],
            "CountRestorePoll",
        ),
        "CountRestorePoll": asl.pass_state(
            {"attempt": "States.MathAdd($.restore.attempt, 1)"},
            result_path="$.restore",
            next_state="WaitForProductionConfig",
        ),
        "RejectLosingPackage": asl.service_task(
            "aws-sdk:sagemaker:updateModelPackage",
            parameters={
                "ModelPackageArn": "$.registry.ModelPackageArn",
                "ModelApprovalStatus": "Rejected",
                "ApprovalDescription": "Production was kept by the experiment (the run's notification has the verdict)",
            },
            result_path=None,
            catch=asl.catch_all("ExperimentEnded", "$.reject_error"),
            next_state="ExperimentEnded",
        ),
        "ExperimentEnded": asl.choice(
            [asl.rule({"Variable": _ERROR, "IsPresent": True}, "ExperimentFailedOutcome")],
            "ProductionKeptOutcome",
        ),
        "ProductionKeptOutcome": outcomes.outcome(
            EventType.MODEL_REJECTED,
            model=MODEL,
            reason=f"{EXPERIMENT}.reason",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details=_experiment_details(),
            next_state=FINALIZE,
        ),
        "ExperimentFailedOutcome": outcomes.outcome(
            EventType.PIPELINE_FAILED,
            model=MODEL,
            reason=f"{EXPERIMENT}.reason",
            details=run_details(endpoint="$.plan.endpoint_name"),
            next_state=FINALIZE,
        ),
        "RestoreFailedOutcome": outcomes.outcome(
            EventType.PIPELINE_FAILED,
            model=MODEL,
            reason="States.Format('the experiment on {} ended but restoring the production config left the endpoint "
            "{}', $.plan.endpoint_name, $.restored.EndpointStatus)",
            details=run_details(endpoint="$.plan.endpoint_name"),
            next_state=FINALIZE,
        ),
    }


def states() -> dict[str, asl.State]:
    return {
        "EvaluateExperiment": functions.EVALUATE_EXPERIMENT.task(
            comment="Each variant's outcomes since the experiment started; the verdict and the bandit's weights.",
            parameters={"run_id": "$.run_id", "started_at": "$.shift.started_at", "now": "$$.State.EnteredTime"},
            result_path=EXPERIMENT,
            catch=asl.catch_all(_NOT_EVALUATED, _ERROR),
            next_state="ExperimentDecision",
        ),
        "ExperimentDecision": asl.choice(
            [
                asl.rule(asl.equals(f"{EXPERIMENT}.decision", "promote"), "PromoteShift"),
                asl.rule(asl.equals(f"{EXPERIMENT}.decision", "keep"), _KEEP),
                asl.rule({"Variable": f"{EXPERIMENT}.reweigh", "BooleanEquals": True}, "SetExperimentWeights"),
            ],
            "NextEvaluation",
        ),
        "SetExperimentWeights": asl.service_task(
            "aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
            comment="The bandit's new split; the shift's wait sees it applied before the next interval.",
            parameters={"EndpointName": "$.plan.endpoint_name", "DesiredWeightsAndCapacities": f"{EXPERIMENT}.weights"},
            result_path=None,
            catch=asl.catch_all(_NOT_EVALUATED, _ERROR),
            next_state="NextEvaluation",
        ),
        _NOT_EVALUATED: asl.pass_state(
            {
                "decision": "keep",
                "reason": "States.Format('the experiment on {} stopped: {} ({}); production serves alone again', "
                "$.plan.endpoint_name, $.experiment_error.Error, $.experiment_error.Cause)",
                "verdict": {},
            },
            result_path=EXPERIMENT,
            next_state=_KEEP,
        ),
        "NextEvaluation": asl.pass_state(
            {"step": 0, "attempt": 0, "started_at": "$.shift.started_at"},
            result_path="$.shift",
            next_state=NEXT_EVALUATION,
        ),
        **_keep_production(),
        "ExperimentPromotedOutcome": outcomes.outcome(
            EventType.PIPELINE_SUCCEEDED,
            model=MODEL,
            reason="States.Format('{} deployed to {} ({}): {}', $.plan.model_name, $.plan.endpoint_name, "
            "$.plan.strategy, $.experiment.reason)",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details={
                **_experiment_details(),
                "endpoint_config": "$.plan.endpoint_config_name",
                "model_package": "$.registry.ModelPackageArn",
            },
            next_state=FINALIZE,
        ),
    }
