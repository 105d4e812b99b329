"""After the endpoint settles: autoscale and record a deployment, or record the guardrails' rollback."""

from __future__ import annotations

from conveyor_core.release import history
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, autoscaling, history_items, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run, run_details

_HISTORY = "${HistoryTableName}"


def states() -> dict[str, asl.State]:
    run_sort_key = history_items.deployment_sort_key("$.run_id")
    deployed = history_items.deployment_item(history.DeploymentStatus.IN_SERVICE, run_sort_key)
    return {
        **autoscaling.register("$.plan.endpoint_name", next_state="RecordDeployment"),
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
            next_state="ExperimentPromoted",
        ),
        "ExperimentPromoted": asl.choice(
            [asl.rule({"Variable": "$.experiment.verdict", "IsPresent": True}, "ExperimentPromotedOutcome")],
            "SucceededOutcome",
            comment="An experiment's winner: its notification carries the verdict.",
        ),
        "SucceededOutcome": outcomes.outcome(
            EventType.PIPELINE_SUCCEEDED,
            model=MODEL,
            reason="States.Format('{} deployed to {} ({}); {}; {}', $.plan.model_name, $.plan.endpoint_name, "
            "$.plan.strategy, $.gate.reason, $.artifact.note)",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details={
                **run_details(),
                "endpoint": "$.plan.endpoint_name",
                "endpoint_config": "$.plan.endpoint_config_name",
                "model_package": "$.registry.ModelPackageArn",
                "compiled": "$.artifact.compiled",
                "artifact": "$.artifact.uri",
                "serving_image": "$.artifact.image",
                "published_artifact": "$.artifact.published",
                "rollout_notes": "$.plan.notes",
                "autoscaling": autoscaling.RESULT,
                "instance_type": "$.serving.instance_type",
                "instance_chosen_by": "$.serving.chosen_by",
                "target_advice": "$.serving.advice",
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
            catch=asl.catch_all("RestoreRegisterAutoscaling", "$.record_error"),
            next_state="RestoreRegisterAutoscaling",
        ),
        # A rollout that changed the instance type deregistered autoscaling first; the guardrails put
        # the old fleet back, so it is registered again (idempotent when nothing was deregistered).
        **autoscaling.register("$.plan.endpoint_name", next_state="RollbackReasonKnown", prefix="Restore"),
        # The guardrails roll back on an alarm, but also when the new fleet fails to start; the
        # endpoint's FailureReason says which when SageMaker gives one (reading an absent field fails).
        "RollbackReasonKnown": asl.choice(
            [asl.rule({"Variable": "$.endpoint.FailureReason", "IsPresent": True}, "RolledBackWithReasonOutcome")],
            "RolledBackOutcome",
        ),
        "RolledBackWithReasonOutcome": _rolled_back(
            "States.Format('the {} rollout of {} was rolled back by the deployment guardrails: {}; "
            "{} still serves {}', $.plan.strategy, $.plan.endpoint_config_name, $.endpoint.FailureReason, "
            "$.plan.endpoint_name, $.endpoint.EndpointConfigName)",
            failure_reason="$.endpoint.FailureReason",
        ),
        "RolledBackOutcome": _rolled_back(
            "States.Format('the {} rollout of {} was rolled back by the deployment guardrails (SageMaker gave no "
            "reason); {} still serves {}', $.plan.strategy, $.plan.endpoint_config_name, $.plan.endpoint_name, "
            "$.endpoint.EndpointConfigName)"
        ),
    }


def _rolled_back(reason: str, **more: str) -> asl.State:
    return outcomes.outcome(
        EventType.DEPLOYMENT_ROLLED_BACK,
        model=MODEL,
        reason=reason,
        metrics={"candidate": "$.gate.candidate"},
        details={
            **run_details(**more),
            "endpoint": "$.plan.endpoint_name",
            "rejected_config": "$.plan.endpoint_config_name",
            "serving_config": "$.endpoint.EndpointConfigName",
            "model_package": "$.registry.ModelPackageArn",
            "autoscaling": autoscaling.RESULT,
        },
        next_state=FINALIZE,
    )
