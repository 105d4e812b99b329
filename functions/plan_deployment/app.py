"""Decide how the new model reaches the endpoint: CreateEndpoint, or a guarded blue/green update."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release.deployment import plan_deployment
from conveyor_core.release.endpoints import describe_endpoint
from conveyor_core.shared.contracts import PlanDeploymentInput
from conveyor_core.shared.settings import DeploymentSettings, load

logger = Logger()
tracer = Tracer()
sagemaker = boto3.client("sagemaker")


def production_model(endpoint: dict[str, Any] | None, variant_name: str) -> str | None:
    """The model behind the serving config's production variant."""
    if endpoint is None:
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    for variant in config["ProductionVariants"]:
        if variant["VariantName"] == variant_name:
            return str(variant["ModelName"])
    return None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=PlanDeploymentInput)
def lambda_handler(event: PlanDeploymentInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(DeploymentSettings)
    endpoint = describe_endpoint(sagemaker, settings.endpoint_name)
    plan = plan_deployment(settings, event.run_id, endpoint, production_model(endpoint, settings.variant_name))
    logger.info("deployment planned", extra={"strategy": plan.strategy, "endpoint": plan.endpoint_name})
    return plan.as_output()
