"""Application Auto Scaling on the endpoint's production variant, as both machines drive it.

SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered as a
scalable target (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html):
whoever changes it deregisters first, and registration follows every endpoint that settles on a
new config. ``endpoint`` is the path of the endpoint's name in the machine's state.
"""

from __future__ import annotations

from typing import Any

from statemachines.builder import asl

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Where registration's outcome lands: {"status": "registered"}, or the caught {Error, Cause}; the
# notification's details carry it, so a failure is reported without failing the release.
RESULT = "$.autoscaling"


def scalable_variant(endpoint: str) -> str:
    # The production variant's name is the same in every config, so its target survives config updates.
    return f"States.Format('endpoint/{{}}/variant/primary', {endpoint})"


def deregister(endpoint: str, *, next_state: str) -> asl.State:
    """Deregister before an update that changes the instance type, then go on to it whatever happened.

    A variant that was not registered (an earlier registration failed) answers an error here and
    the update goes through; any other failure lets SageMaker refuse the update with its own reason.
    """
    return asl.service_task(
        "aws-sdk:applicationautoscaling:deregisterScalableTarget",
        comment="SageMaker refuses to change a variant's instance type while autoscaling is registered on it; "
        "RegisterAutoscaling registers it again once the update is done.",
        parameters={
            "ServiceNamespace": "sagemaker",
            "ResourceId": scalable_variant(endpoint),
            "ScalableDimension": SCALABLE_DIMENSION,
        },
        result_path=None,
        catch=asl.catch_all(next_state, "$.deregister_error"),
        next_state=next_state,
    )


def _call(
    integration: str,
    endpoint: str,
    parameters: dict[str, Any],
    next_state: str,
    done: str,
    comment: str = "",
    result: dict[str, Any] | None = None,
) -> asl.State:
    return asl.service_task(
        integration,
        comment=comment or None,
        parameters={"ServiceNamespace": "sagemaker", "ResourceId": scalable_variant(endpoint), **parameters},
        result_selector=result,
        result_path=RESULT if result is not None else None,
        catch=asl.catch_all(done, RESULT),
        next_state=next_state,
    )


def register(endpoint: str, *, next_state: str, prefix: str = "") -> dict[str, asl.State]:
    """``RegisterAutoscaling`` and ``PutScalingPolicy`` with the stack's settings; both go on to ``next_state``.

    ``prefix`` names a second pair of the same states in one machine (the state names must be unique).
    """
    policy_state = f"{prefix}PutScalingPolicy"
    return {
        f"{prefix}RegisterAutoscaling": _call(
            "aws-sdk:applicationautoscaling:registerScalableTarget",
            endpoint,
            {
                "ScalableDimension": SCALABLE_DIMENSION,
                "MinCapacity": "States.StringToJson('${AutoscalingMinInstances}')",
                "MaxCapacity": "States.StringToJson('${AutoscalingMaxInstances}')",
            },
            policy_state,
            next_state,
            comment="Registration needs an existing endpoint, so it happens here, idempotently after each "
            "deployment; the production variant name never changes, so the target survives config updates.",
        ),
        policy_state: _call(
            "aws-sdk:applicationautoscaling:putScalingPolicy",
            endpoint,
            {
                "PolicyName": "conveyor-invocations-per-instance",
                "ScalableDimension": SCALABLE_DIMENSION,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": "States.StringToJson('${AutoscalingTargetInvocations}')",
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 60,
                },
            },
            next_state,
            next_state,
            result={"status": "registered"},
        ),
    }
