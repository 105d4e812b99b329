"""Decide how the new model reaches the endpoint: CreateEndpoint, or a guarded blue/green update."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release.deployment import ServingEndpoint, plan_deployment
from conveyor_core.release.endpoints import describe_endpoint
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import PlanDeploymentInput
from conveyor_core.shared.settings import DeploymentSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
sagemaker = aws_clients.client("sagemaker")


def serving_endpoint(name: str, variant_name: str) -> ServingEndpoint | None:
    """The endpoint as it is now, with its serving config's production variant; None before the first run."""
    endpoint = describe_endpoint(sagemaker, name)
    if endpoint is None:
        return None
    config_name = str(endpoint.get("EndpointConfigName", ""))
    variant: dict[str, Any] = {}
    if config_name:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variant = next((v for v in config["ProductionVariants"] if v["VariantName"] == variant_name), {})
    variants: list[dict[str, Any]] = endpoint.get("ProductionVariants", [])
    current: dict[str, Any] = next((v for v in variants if v.get("VariantName") == variant_name), {})
    return ServingEndpoint(
        status=str(endpoint["EndpointStatus"]),
        config_name=config_name,
        failure_reason=str(endpoint.get("FailureReason", "")),
        production_model=variant.get("ModelName"),
        instance_type=variant.get("InstanceType"),
        current_instance_count=current.get("CurrentInstanceCount"),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PlanDeploymentInput)
def lambda_handler(event: PlanDeploymentInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(DeploymentSettings)
    if event.instance_type:  # the serving target's choice (the advisor's, with TargetSelection=advisor)
        settings = settings.model_copy(update={"instance_type": event.instance_type})
    serving = serving_endpoint(settings.endpoint_name, settings.variant_name)
    plan = plan_deployment(settings, event.run_id, serving)
    logger.info(
        "deployment planned", extra={"strategy": plan.strategy, "endpoint": plan.endpoint_name, "notes": plan.notes}
    )
    return plan.as_output()
