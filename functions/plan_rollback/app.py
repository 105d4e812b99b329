"""CloudWatch alarm -> decide the rollback: where to, whether SageMaker owns it, or whether it already happened."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release import history, rollback
from conveyor_core.release.endpoints import describe_endpoint
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import RollbackInput
from conveyor_core.shared.settings import RollbackSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()
sagemaker = aws_clients.client("sagemaker")
dynamodb = aws_clients.client("dynamodb")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RollbackInput)
def lambda_handler(event: RollbackInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(RollbackSettings)
    if not rollback.claim_alarm(
        dynamodb, settings.state_table, settings.model_name, event.alarm, event.alarm_time, event.execution
    ):
        plan = rollback.RollbackPlan(
            "duplicate", f"alarm {event.alarm} at {event.alarm_time} is already handled", settings.endpoint_name
        )
        return finish(plan, event)
    endpoint = describe_endpoint(sagemaker, settings.endpoint_name)
    serving = str(endpoint["EndpointConfigName"]) if endpoint else ""
    owner = rollback.rolled_away_by(dynamodb, settings.state_table, settings.model_name, serving) if serving else None
    if owner is not None:
        # Another alarm about the same config got there first; its restore may still be updating the endpoint.
        plan = rollback.RollbackPlan(
            "duplicate",
            f"a rollback away from {serving} is already claimed by {owner}",
            settings.endpoint_name,
            serving,
        )
        return finish(plan, event)
    deployments = history.deployments(dynamodb, settings.history_table, settings.model_name)
    plan = rollback.plan_rollback(
        endpoint,
        settings.endpoint_name,
        deployments,
        rollback.parse_time(event.alarm_time),
        settings.model_name,
        restored_since=rollback.restored_at(dynamodb, settings.state_table, settings.model_name, serving)
        if serving
        else None,
        claimed_away=lambda config: (
            rollback.rolled_away_by(dynamodb, settings.state_table, settings.model_name, config) is not None
        ),
    )
    if plan.action == "rollback":
        # Before the claim: a config SageMaker cannot describe fails the plan without claiming a restore.
        plan = rollback.across_instance_types(
            plan,
            serving=rollback.variant_instance_types(sagemaker, plan.bad_config),
            restored=rollback.variant_instance_types(sagemaker, plan.good_config),
        )
    if plan.action == "rollback" and not rollback.claim(
        dynamodb, settings.state_table, settings.model_name, plan.bad_config, event.execution, plan.good_config
    ):
        plan = rollback.RollbackPlan("duplicate", f"a rollback away from {plan.bad_config} already ran", plan.endpoint)
    return finish(plan, event)


def finish(plan: rollback.RollbackPlan, event: RollbackInput) -> dict[str, Any]:
    logger.info("rollback planned", extra={"action": plan.action, "reason": plan.reason, "alarm": event.alarm})
    metrics.add_metric(name=f"Rollback{plan.action.capitalize()}", unit=MetricUnit.Count, value=1)
    return plan.as_output()
