"""Deployment: create the model and config, then CreateEndpoint or a guarded UpdateEndpoint, and wait.

``PlanDeployment`` decides everything that depends on the endpoint's state and the rollout
settings (names, variants, the DeploymentConfig, the poll schedule); the states here only carry
its plan out, so the choice of strategy is Python, tested in tests/unit/test_deployment.py.
"""

from __future__ import annotations

from conveyor_core.release.polling import DELETE_MAX_POLLS, DELETE_POLL_SECONDS
from conveyor_core.shared.notifications import EventType
from conveyor_core.shared.settings import EXPERIMENT_STRATEGIES
from statemachines.builder import asl, autoscaling, functions, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, create_or_find, fail_run, run_details, run_tags

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
        details=run_details(endpoint="$.plan.endpoint_name"),
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


def _recreate() -> dict[str, asl.State]:
    """A Failed endpoint takes nothing but DeleteEndpoint: delete it, wait until it is gone, create it."""
    return {
        "DeleteFailedEndpoint": asl.service_task(
            "aws-sdk:sagemaker:deleteEndpoint",
            parameters={"EndpointName": "$.plan.endpoint_name"},
            result_selector={"attempt": 0},
            result_path="$.deletion",
            catch=fail_run(),
            next_state="WaitForEndpointDeletion",
        ),
        "WaitForEndpointDeletion": asl.wait("FindDeletedEndpoint", seconds=DELETE_POLL_SECONDS),
        "FindDeletedEndpoint": asl.service_task(
            "aws-sdk:sagemaker:listEndpoints",
            comment="Listing by name answers an empty list once it is gone, where DescribeEndpoint would answer "
            "an error that throttling could also cause.",
            parameters={"NameContains": "$.plan.endpoint_name"},
            result_selector={"remaining": "$.Endpoints[*].EndpointName"},
            result_path="$.deletion_check",
            catch=fail_run(),
            next_state="EndpointDeleted",
        ),
        "EndpointDeleted": asl.choice(
            [
                asl.rule({"Not": {"Variable": "$.deletion_check.remaining[0]", "IsPresent": True}}, "CreateEndpoint"),
                asl.rule(
                    {"Variable": "$.deletion.attempt", "NumericGreaterThanEquals": DELETE_MAX_POLLS},
                    "DeletionTimedOutOutcome",
                ),
            ],
            "BackOffDeletion",
        ),
        "BackOffDeletion": asl.pass_state(
            {"attempt": "States.MathAdd($.deletion.attempt, 1)"},
            result_path="$.deletion",
            next_state="WaitForEndpointDeletion",
        ),
        "DeletionTimedOutOutcome": _failed_outcome(
            "States.Format('endpoint {} was Failed and is still being deleted after the polling budget', "
            "$.plan.endpoint_name)"
        ),
    }


def states() -> dict[str, asl.State]:
    return {
        "PlanDeployment": functions.PLAN_DEPLOYMENT.task(
            comment="CreateEndpoint for the first model; afterwards a guarded blue/green UpdateEndpoint.",
            parameters={"run_id": "$.run_id", "instance_type": "$.serving.instance_type"},
            result_path=PLAN,
            catch=fail_run(),
            next_state="CreateModel",
        ),
        **create_or_find(
            "CreateModel",
            asl.service_task(
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
            "aws-sdk:sagemaker:describeModel",
            {"ModelName": "$.plan.model_name"},
            "CreateEndpointConfig",
        ),
        **create_or_find(
            "CreateEndpointConfig",
            asl.service_task(
                "sagemaker:createEndpointConfig",
                parameters={
                    "EndpointConfigName": "$.plan.endpoint_config_name",
                    "ProductionVariants": "$.plan.production_variants",
                    "DataCaptureConfig": "$.plan.data_capture_config",
                },
                comment="Endpoint configs are never deleted: rolling back is UpdateEndpoint to an earlier one.",
                result_path=None,
                catch=fail_run(),
                next_state="EndpointExists",
            ),
            "aws-sdk:sagemaker:describeEndpointConfig",
            {"EndpointConfigName": "$.plan.endpoint_config_name"},
            "EndpointExists",
        ),
        "EndpointExists": asl.choice(
            [
                asl.rule({"Variable": "$.plan.recreate", "BooleanEquals": True}, "DeleteFailedEndpoint"),
                asl.rule(
                    {
                        "And": [
                            {"Variable": "$.plan.endpoint_exists", "BooleanEquals": True},
                            # An experiment is a variant shift whose steps its evaluations decide.
                            asl.equals_any("$.plan.strategy", ("variant-shift", *EXPERIMENT_STRATEGIES)),
                        ]
                    },
                    "CreateShiftEndpointConfig",
                ),
                asl.rule(
                    {
                        "And": [
                            {"Variable": "$.plan.endpoint_exists", "BooleanEquals": True},
                            {"Variable": "$.plan.deregister_autoscaling", "BooleanEquals": True},
                        ]
                    },
                    "DeregisterAutoscaling",
                ),
                asl.rule({"Variable": "$.plan.endpoint_exists", "BooleanEquals": True}, "UpdateEndpoint"),
            ],
            "CreateEndpoint",
        ),
        **_recreate(),
        "DeregisterAutoscaling": autoscaling.deregister("$.plan.endpoint_name", next_state="UpdateEndpoint"),
        **create_or_find(
            "CreateEndpoint",
            _rollout("sagemaker:createEndpoint", "$.plan.endpoint_config_name", None, {}),
            "aws-sdk:sagemaker:describeEndpoint",
            {"EndpointName": "$.plan.endpoint_name"},
            WAIT_FOR_DEPLOYMENT,
            found_selector=FIRST_POLL,
            found_path=ROLLOUT,
        ),
        "UpdateEndpoint": endpoint_update(
            "$.plan.endpoint_config_name",
            comment="Variant properties are retained, so autoscaled instance counts survive, unless the instance "
            "type changes.",
            DeploymentConfig="$.plan.deployment_config",
            RetainAllVariantProperties="$.plan.retain_variant_properties",
        ),
        WAIT_FOR_DEPLOYMENT: asl.wait(
            "DescribeEndpoint",
            seconds_path="$.plan.poll_waits[0]",
            comment="The wait grows with each poll; PlanDeployment sizes the schedule to the rollout's bake time.",
        ),
        "DescribeEndpoint": asl.service_task(
            "aws-sdk:sagemaker:describeEndpoint",
            comment="The whole answer: EndpointConfigName is not always in it, and a selector reading a missing "
            "member would raise States.Runtime, which no Catch handles.",
            parameters={"EndpointName": "$.plan.endpoint_name"},
            result_path=ENDPOINT,
            catch=fail_run(),
            next_state="DeploymentSettled",
        ),
        "DeploymentSettled": asl.choice(
            [
                asl.rule(endpoint_failed(_STATUS), "DeploymentFailedOutcome"),
                asl.rule(
                    {"Variable": "$.rollout.attempt", "NumericGreaterThanEqualsPath": "$.plan.max_polls"},
                    "DeploymentTimedOutOutcome",
                ),
                # Nothing below may read a config name the answer does not have.
                asl.rule(
                    {"Not": {"Variable": "$.endpoint.EndpointConfigName", "IsPresent": True}}, "BackOffDeployment"
                ),
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
