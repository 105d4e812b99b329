"""The variant shift: the new model joins as a second variant and takes traffic step by step.

Each step waits for the weights to apply, bakes, then checks both variants' alarms; a firing
alarm sends every request back to the production variant and removes the candidate. The steps,
bake time and alarms come from ``PlanDeployment`` (``conveyor_core.release.deployment``).
"""

from __future__ import annotations

from conveyor_core.release.polling import ABORT_SETTLE_SECONDS, SHIFT_MAX_POLLS, SHIFT_POLL_SECONDS
from conveyor_core.shared.notifications import EventType
from conveyor_core.shared.settings import EXPERIMENT_STRATEGIES
from statemachines.builder import asl, outcomes, retries
from statemachines.builder.retrain.common import FINALIZE, MODEL, create_or_find, fail_run, run_details
from statemachines.builder.retrain.deploy import endpoint_failed, endpoint_update

SHIFT = "$.shift"
_ABORT = "AbortShift"
_WAIT_FOR_STEP = "WaitForShiftStep"


def states() -> dict[str, asl.State]:
    return {
        **create_or_find(
            "CreateShiftEndpointConfig",
            asl.service_task(
                "sagemaker:createEndpointConfig",
                comment="Variant shift: the production model stays as the production variant, the new model joins "
                "as 'candidate' with the first share.",
                parameters={
                    "EndpointConfigName": "$.plan.shift_config_name",
                    "ProductionVariants": "$.plan.shift_variants",
                    "DataCaptureConfig": "$.plan.data_capture_config",
                },
                result_path=None,
                catch=fail_run(),
                next_state="StartShift",
            ),
            "aws-sdk:sagemaker:describeEndpointConfig",
            {"EndpointConfigName": "$.plan.shift_config_name"},
            "StartShift",
        ),
        "StartShift": asl.service_task(
            "sagemaker:updateEndpoint",
            parameters={"EndpointName": "$.plan.endpoint_name", "EndpointConfigName": "$.plan.shift_config_name"},
            # An experiment's clock starts here; AbMaxDurationSeconds counts from it.
            result_selector={"step": 0, "attempt": 0, "started_at": "$$.State.EnteredTime"},
            result_path=SHIFT,
            catch=fail_run(),
            next_state=_WAIT_FOR_STEP,
        ),
        _WAIT_FOR_STEP: asl.wait("DescribeShiftEndpoint", seconds=SHIFT_POLL_SECONDS),
        "DescribeShiftEndpoint": asl.service_task(
            "aws-sdk:sagemaker:describeEndpoint",
            parameters={"EndpointName": "$.plan.endpoint_name"},
            result_selector={"EndpointStatus": "$.EndpointStatus"},
            result_path="$.shift_endpoint",
            catch=fail_run(),
            next_state="ShiftStepApplied",
        ),
        "ShiftStepApplied": asl.choice(
            [
                asl.rule(asl.equals("$.shift_endpoint.EndpointStatus", "InService"), "BakeShiftStep"),
                asl.rule(endpoint_failed("$.shift_endpoint.EndpointStatus"), "ShiftFailedOutcome"),
                asl.rule(
                    {"Variable": "$.shift.attempt", "NumericGreaterThanEquals": SHIFT_MAX_POLLS}, "ShiftFailedOutcome"
                ),
            ],
            "ShiftNotApplied",
        ),
        "ShiftNotApplied": asl.pass_state(
            {
                "step": "$.shift.step",
                "attempt": "States.MathAdd($.shift.attempt, 1)",
                "started_at": "$.shift.started_at",
            },
            result_path=SHIFT,
            next_state=_WAIT_FOR_STEP,
        ),
        "BakeShiftStep": asl.wait("CheckShiftAlarms", seconds_path="$.plan.shift_bake_seconds"),
        "CheckShiftAlarms": asl.service_task(
            "aws-sdk:cloudwatch:describeAlarms",
            comment="Both variants' alarms: the production variant's and the candidate's.",
            parameters={"AlarmNames": "$.plan.shift_alarms", "StateValue": "ALARM"},
            result_selector={"firing": "$.MetricAlarms[*].AlarmName"},
            result_path="$.alarms",
            catch=asl.catch_all(_ABORT, "$.alarm_error"),
            next_state="ShiftHealthy",
        ),
        "ShiftHealthy": asl.choice(
            [
                asl.rule({"Variable": "$.alarms.firing[0]", "IsPresent": True}, _ABORT),
                asl.rule(asl.equals_any("$.plan.strategy", EXPERIMENT_STRATEGIES), "EvaluateExperiment"),
                asl.rule(
                    {"Variable": "$.shift.step", "NumericGreaterThanEqualsPath": "$.plan.shift_last_step"},
                    "PromoteShift",
                ),
            ],
            "NextShiftStep",
        ),
        "NextShiftStep": asl.pass_state(
            {"step": "States.MathAdd($.shift.step, 1)", "attempt": 0, "started_at": "$.shift.started_at"},
            result_path=SHIFT,
            next_state="SetShiftWeights",
        ),
        "SetShiftWeights": asl.service_task(
            "aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
            parameters={
                "EndpointName": "$.plan.endpoint_name",
                "DesiredWeightsAndCapacities": "States.ArrayGetItem($.plan.shift_steps, $.shift.step)",
            },
            result_path=None,
            catch=asl.catch_all(_ABORT, "$.shift_error"),
            next_state=_WAIT_FOR_STEP,
        ),
        "PromoteShift": endpoint_update(
            "$.plan.endpoint_config_name",
            comment="All traffic is on the candidate: serve the new model as the production variant alone, "
            "removing the old one.",
        ),
        _ABORT: asl.service_task(
            "aws-sdk:sagemaker:updateEndpointWeightsAndCapacities",
            comment="An alarm fired: every request goes back to the production variant at once.",
            parameters={
                "EndpointName": "$.plan.endpoint_name",
                "DesiredWeightsAndCapacities": "$.plan.shift_abort_weights",
            },
            result_path=None,
            catch=asl.catch_all("WaitBeforeRemovingCandidate", "$.abort_error"),
            next_state="WaitBeforeRemovingCandidate",
        ),
        "WaitBeforeRemovingCandidate": asl.wait("RemoveCandidate", seconds=ABORT_SETTLE_SECONDS),
        "RemoveCandidate": asl.service_task(
            "sagemaker:updateEndpoint",
            comment="Back to the previous config, which removes the candidate; DeploymentSettled then sees a rollback.",
            parameters={
                "EndpointName": "$.plan.endpoint_name",
                "EndpointConfigName": "$.plan.previous_endpoint_config",
            },
            result_selector={"attempt": 0},
            result_path="$.rollout",
            retry=retries.SAGEMAKER_WHILE_UPDATING,
            catch=fail_run(),
            next_state="WaitForDeployment",
        ),
        "ShiftFailedOutcome": outcomes.outcome(
            EventType.PIPELINE_FAILED,
            model=MODEL,
            reason="States.Format('the variant shift on {} stopped with the endpoint {}', $.plan.endpoint_name, "
            "$.shift_endpoint.EndpointStatus)",
            details=run_details(endpoint="$.plan.endpoint_name"),
            next_state=FINALIZE,
        ),
    }
