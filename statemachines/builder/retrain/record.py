"""After the endpoint settles: autoscale and record a deployment, or record the guardrails' rollback."""

from __future__ import annotations

from conveyor_core.release import history
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, history_items, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run
from statemachines.builder.retrain.deploy import SCALABLE_DIMENSION, SCALABLE_VARIANT

_HISTORY = "${HistoryTableName}"
# Where autoscaling's outcome lands: {"status": "registered"}, or the caught {Error, Cause}.
AUTOSCALING = "$.autoscaling"


def _autoscaling(
    integration: str,
    parameters: dict[str, object],
    next_state: str,
    comment: str = "",
    result: dict[str, object] | None = None,
) -> asl.State:
    """An autoscaling call; a failure is reported in the run's notification, not a failed deployment."""
    return asl.service_task(
        integration,
        comment=comment or None,
        parameters={"ServiceNamespace": "sagemaker", "ResourceId": SCALABLE_VARIANT, **parameters},
        result_selector=result,
        result_path=AUTOSCALING if result is not None else None,
        catch=asl.catch_all("RecordDeployment", AUTOSCALING),
        next_state=next_state,
    )


def states() -> dict[str, asl.State]:
    run_sort_key = history_items.deployment_sort_key("$.run_id")
    deployed = history_items.deployment_item(history.DeploymentStatus.IN_SERVICE, run_sort_key)
    return {
        "RegisterAutoscaling": _autoscaling(
            "aws-sdk:applicationautoscaling:registerScalableTarget",
            {
                "ScalableDimension": SCALABLE_DIMENSION,
                "MinCapacity": "States.StringToJson('${AutoscalingMinInstances}')",
                "MaxCapacity": "States.StringToJson('${AutoscalingMaxInstances}')",
            },
            "PutScalingPolicy",
            comment="Registration needs an existing endpoint, so it happens here, idempotently after each "
            "deployment; the production variant name never changes, so the target survives config updates.",
        ),
        "PutScalingPolicy": _autoscaling(
            "aws-sdk:applicationautoscaling:putScalingPolicy",
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
            "RecordDeployment",
            result={"status": "registered"},
        ),
        "RecordDeployment": asl.service_task(
            "aws-sdk:dynamodb:transactWriteItems",
            comment="One transaction writes the history entry and moves the 'current' pointer that the gate and "
            "rollback read.",
            parameters={
                "TransactItems": [
                    {"Put": {"TableName": _HISTORY, "Item": deployed}},
                    {"Put": {"TableName": _HISTORY, "Item": {**deployed, "sk": {"S": history.CURRENT_SORT_KEY}}}},
                ]
            },
            result_path=None,
            catch=fail_run(),
            next_state="SucceededOutcome",
        ),
        "SucceededOutcome": outcomes.outcome(
            EventType.PIPELINE_SUCCEEDED,
            model=MODEL,
            reason="States.Format('{} deployed to {} ({}); {}; {}', $.plan.model_name, $.plan.endpoint_name, "
            "$.plan.strategy, $.gate.reason, $.artifact.note)",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details={
                "endpoint": "$.plan.endpoint_name",
                "endpoint_config": "$.plan.endpoint_config_name",
                "model_package": "$.registry.ModelPackageArn",
                "compiled": "$.artifact.compiled",
                "artifact": "$.artifact.uri",
                "serving_image": "$.artifact.image",
                "published_artifact": "$.artifact.published",
                "rollout_notes": "$.plan.notes",
                "autoscaling": AUTOSCALING,
            },
            next_state=FINALIZE,
        ),
        "RejectRolledBackPackage": asl.service_task(
            "aws-sdk:sagemaker:updateModelPackage",
            parameters={
                "ModelPackageArn": "$.registry.ModelPackageArn",
                "ModelApprovalStatus": "Rejected",
                "ApprovalDescription": "Rolled back by the deployment guardrails",
            },
            result_path=None,
            catch=asl.catch_all("RecordRolledBackDeployment", "$.reject_error"),
            next_state="RecordRolledBackDeployment",
        ),
        "RecordRolledBackDeployment": asl.service_task(
            "dynamodb:putItem",
            parameters={
                "TableName": _HISTORY,
                "Item": history_items.deployment_item(history.DeploymentStatus.ROLLED_BACK, run_sort_key),
            },
            result_path=None,
            catch=asl.catch_all("RolledBackOutcome", "$.record_error"),
            next_state="RolledBackOutcome",
        ),
        "RolledBackOutcome": outcomes.outcome(
            EventType.DEPLOYMENT_ROLLED_BACK,
            model=MODEL,
            reason="States.Format('the {} rollout of {} was rolled back on an alarm; {} still serves {}', "
            "$.plan.strategy, $.plan.endpoint_config_name, $.plan.endpoint_name, $.endpoint.EndpointConfigName)",
            metrics={"candidate": "$.gate.candidate"},
            details={
                "endpoint": "$.plan.endpoint_name",
                "rejected_config": "$.plan.endpoint_config_name",
                "serving_config": "$.endpoint.EndpointConfigName",
                "model_package": "$.registry.ModelPackageArn",
            },
            next_state=FINALIZE,
        ),
    }
