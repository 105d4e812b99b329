"""Deployment: create the model and config, then CreateEndpoint or a guarded UpdateEndpoint, and wait.

``PlanDeployment`` decides everything that depends on the endpoint's state and the rollout
settings (names, variants, the DeploymentConfig, the poll schedule); the states here only carry
its plan out, so the choice of strategy is Python, tested in tests/unit/test_deployment.py.
"""

from __future__ import annotations

from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run, run_tags

PLAN = "$.plan"
ROLLOUT = "$.rollout"
ENDPOINT = "$.endpoint"
WAIT_FOR_DEPLOYMENT = "WaitForDeployment"
_STATUS = "$.endpoint.EndpointStatus"
# The first poll counter of every rollout; BackOffDeployment counts the polls from it.
FIRST_POLL = {"attempt": 0}


def endpoint_failed(variable: str) -> dict[str, object]:
    """An endpoint SageMaker gave up on: nothing will change it without a new deployment."""
    return asl.equals_any(variable, ("Failed", "UpdateRollbackFailed"))


def _failed_outcome(reason: str) -> asl.State:
    return outcomes.outcome(
        EventType.PIPELINE_FAILED,
        model=MODEL,
        reason=reason,
        details={"endpoint": "$.plan.endpoint_name"},
        next_state=FINALIZE,
    )


def _rollout(integration: str, config: str, comment: str | None, extra: dict[str, object]) -> asl.State:
    """Point the endpoint at ``config``; the deployment wait then sees which config ends up serving."""
    return asl.service_task(
        integration,
        comment=comment,
        parameters={"EndpointName": "$.plan.endpoint_name", "EndpointConfigName": config, **extra},
        result_selector=FIRST_POLL,
        result_path=ROLLOUT,
        catch=fail_run(),
        next_state=WAIT_FOR_DEPLOYMENT,
    )


def endpoint_update(config: str, *, comment: str | None = None, **extra: object) -> asl.State:
    return _rollout("sagemaker:updateEndpoint", config, comment, extra)


def states() -> dict[str, asl.State]:
    return {
        "PlanDeployment": functions.PLAN_DEPLOYMENT.task(
            comment="CreateEndpoint for the first model; afterwards a guarded blue/green UpdateEndpoint.",
            parameters={"run_id": "$.run_id"},
            result_path=PLAN,
            catch=fail_run(),
            next_state="CreateModel",
        ),
        "CreateModel": asl.service_task(
            "sagemaker:createModel",
            parameters={
                "ModelName": "$.plan.model_name",
                "ExecutionRoleArn": "${SageMakerRoleArn}",
                "PrimaryContainer": {"Image": "$.artifact.image", "ModelDataUrl": "$.artifact.uri"},
                "Tags": run_tags(),
            },
            result_path=None,
            catch=fail_run(),
            next_state="CreateEndpointConfig",
        ),
        "CreateEndpointConfig": asl.service_task(
            "sagemaker:createEndpointConfig",
            parameters={
                "EndpointConfigName": "$.plan.endpoint_config_name",
                "ProductionVariants": "$.plan.production_variants",
            },
            comment="Endpoint configs are never deleted: rolling back is UpdateEndpoint to an earlier one.",
            result_path=None,
            catch=fail_run(),
            next_state="EndpointExists",
        ),
        "EndpointExists": asl.choice(
            [
                asl.rule(
                    {
                        "And": [
                            {"Variable": "$.plan.endpoint_exists", "BooleanEquals": True},
                            asl.equals("$.plan.strategy", "variant-shift"),
                        ]
                    },
                    "CreateShiftEndpointConfig",
                ),
                asl.rule({"Variable": "$.plan.endpoint_exists", "BooleanEquals": True}, "UpdateEndpoint"),
            ],
            "CreateEndpoint",
        ),
        "CreateEndpoint": _rollout("sagemaker:createEndpoint", "$.plan.endpoint_config_name", None, {}),
        "UpdateEndpoint": endpoint_update(
            "$.plan.endpoint_config_name", DeploymentConfig="$.plan.deployment_config", RetainAllVariantProperties=False
        ),
        WAIT_FOR_DEPLOYMENT: asl.wait(
            "DescribeEndpoint",
            seconds_path="$.plan.poll_waits[0]",
            comment="The wait grows with each poll; PlanDeployment sizes the schedule to the rollout's bake time.",
        ),
        "DescribeEndpoint": asl.service_task(
            "aws-sdk:sagemaker:describeEndpoint",
            parameters={"EndpointName": "$.plan.endpoint_name"},
            result_selector={"EndpointStatus": "$.EndpointStatus", "EndpointConfigName": "$.EndpointConfigName"},
            result_path=ENDPOINT,
            catch=fail_run(),
            next_state="DeploymentSettled",
        ),
        "DeploymentSettled": asl.choice(
            [
                asl.rule(
                    {
                        "And": [
                            asl.equals(_STATUS, "InService"),
                            {
                                "Variable": "$.endpoint.EndpointConfigName",
                                "StringEqualsPath": "$.plan.endpoint_config_name",
                            },
                        ]
                    },
                    "RegisterAutoscaling",
                ),
                asl.rule(asl.equals(_STATUS, "InService"), "RejectRolledBackPackage"),
                asl.rule(endpoint_failed(_STATUS), "DeploymentFailedOutcome"),
                asl.rule(
                    {"Variable": "$.rollout.attempt", "NumericGreaterThanEqualsPath": "$.plan.max_polls"},
                    "DeploymentTimedOutOutcome",
                ),
            ],
            "BackOffDeployment",
        ),
        "BackOffDeployment": asl.pass_state(
            {
                "attempt": "States.MathAdd($.rollout.attempt, 1)",
                "wait": "States.ArrayGetItem($.plan.poll_waits, States.MathAdd($.rollout.attempt, 1))",
            },
            result_path=ROLLOUT,
            next_state="WaitForDeploymentAgain",
        ),
        "WaitForDeploymentAgain": asl.wait("DescribeEndpoint", seconds_path="$.rollout.wait"),
        "DeploymentFailedOutcome": _failed_outcome(
            "States.Format('endpoint {} ended {} while deploying {}', $.plan.endpoint_name, "
            "$.endpoint.EndpointStatus, $.plan.endpoint_config_name)"
        ),
        "DeploymentTimedOutOutcome": _failed_outcome(
            "States.Format('endpoint {} was still {} after the polling budget', $.plan.endpoint_name, "
            "$.endpoint.EndpointStatus)"
        ),
    }
