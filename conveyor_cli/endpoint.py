"""The SageMaker endpoint Conveyor deploys to: what serves, and asking it for predictions."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from conveyor_cli.errors import CliError, error_code, error_message
from conveyor_cli.target import Target
from conveyor_cli.views import Endpoint, Prediction, Variant
from conveyor_core import families


def describe(target: Target) -> Endpoint | None:
    """The endpoint and its variants, or None before the first successful run has created it."""
    sagemaker = target.client("sagemaker")
    name = target.outputs.endpoint_name
    try:
        found = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        # SageMaker answers a missing endpoint with ValidationException "Could not find endpoint".
        if error_code(error) == "ValidationException":
            return None
        raise
    configured = _configured_variants(sagemaker, str(found.get("EndpointConfigName", "")))
    variants = [
        Variant(
            name=v["VariantName"],
            current_weight=v.get("CurrentWeight"),
            desired_weight=v.get("DesiredWeight"),
            current_instances=v.get("CurrentInstanceCount"),
            desired_instances=v.get("DesiredInstanceCount"),
            instance_type=configured.get(v["VariantName"], {}).get("InstanceType"),
            model=configured.get(v["VariantName"], {}).get("ModelName"),
        )
        for v in found.get("ProductionVariants", [])
    ]
    return Endpoint(
        name=name,
        status=found["EndpointStatus"],
        config=found.get("EndpointConfigName", ""),
        created_at=found.get("CreationTime"),
        last_modified_at=found.get("LastModifiedTime"),
        failure_reason=found.get("FailureReason"),
        variants=variants,
    )


def _configured_variants(sagemaker: Any, config_name: str) -> dict[str, dict[str, Any]]:
    # Instance type and model live on the config; a config deleted by hand only costs those columns.
    if not config_name:
        return {}
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    except ClientError:
        return {}
    return {str(v["VariantName"]): v for v in config.get("ProductionVariants", [])}


def split_rows(body: str) -> list[str]:
    """CSV rows from ``--body``: newlines or ``;`` separate rows (a shell argument rarely holds newlines)."""
    return [row.strip() for row in body.replace(";", "\n").splitlines() if row.strip()]


def invoke(target: Target, rows: list[str]) -> Prediction:
    name = target.outputs.endpoint_name
    family = families.get(target.outputs.model_family)
    try:
        response = target.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name,
            ContentType=family.content_type,
            Accept=family.content_type,
            Body=("\n".join(rows) + "\n").encode(),
        )
    except ClientError as error:
        message = error_message(error)
        # SageMaker's code is ValidationException; moto's (the offline cloud) ValidationError.
        if error_code(error) in ("ValidationException", "ValidationError") and "not found" in message.lower():
            raise CliError(
                f"no model is deployed yet (endpoint {name} does not exist): "
                "upload a dataset to train one, e.g. `conveyor upload data.csv`, then `conveyor status`"
            ) from None
        if error_code(error) == "ModelError":
            raise CliError(f"the model on {name} failed: {message}") from None
        raise
    text = response["Body"].read().decode("utf-8", errors="replace")
    return Prediction(
        endpoint=name,
        variant=response.get("InvokedProductionVariant"),
        rows=len(rows),
        predictions=family.parse_predictions(text, len(rows)),
        raw=text,
    )
