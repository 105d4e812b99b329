"""CloudWatch alarm -> decide the rollback: where to, whether SageMaker owns it, or whether it already happened."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core import rollback
from conveyor_core.contracts import RollbackInput
from conveyor_core.endpoints import describe_endpoint
from conveyor_core.settings import RollbackSettings, load

logger = Logger()
tracer = Tracer()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
dynamodb = boto3.client("dynamodb")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=RollbackInput)
def lambda_handler(event: RollbackInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(RollbackSettings)
    history = rollback.deployment_history(dynamodb, settings.history_table, settings.model_name)
    plan = rollback.plan_rollback(
        describe_endpoint(sagemaker, settings.endpoint_name),
        settings.endpoint_name,
        history,
        rollback.parse_time(event.alarm_time),
        settings.model_name,
    )
    if plan.action == "rollback" and not rollback.claim(
        dynamodb, settings.state_table, settings.model_name, plan.bad_config, event.execution
    ):
        plan = rollback.RollbackPlan("duplicate", f"a rollback away from {plan.bad_config} already ran", plan.endpoint)
    logger.info("rollback planned", extra={"action": plan.action, "reason": plan.reason, "alarm": event.alarm})
    metrics.add_metric(name=f"Rollback{plan.action.capitalize()}", unit=MetricUnit.Count, value=1)
    return plan.as_output()
