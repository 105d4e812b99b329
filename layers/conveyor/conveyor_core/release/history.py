"""What is in production now: the deployment history's ``current`` item and its model package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CURRENT_SORT_KEY = "current"


def history_partition(model_name: str) -> str:
    return f"model#{model_name}"


@dataclass(frozen=True, slots=True)
class ProductionModel:
    model_package_arn: str
    endpoint_config: str
    metric_name: str
    metric_value: float
    dataset_sha256: str | None
    dataset_identity: str | None = None


def current_production(dynamodb_client: Any, history_table: str, model_name: str) -> ProductionModel | None:
    item = dynamodb_client.get_item(
        TableName=history_table,
        Key={"pk": {"S": history_partition(model_name)}, "sk": {"S": CURRENT_SORT_KEY}},
        ConsistentRead=True,
    ).get("Item")
    if not item:
        return None
    return ProductionModel(
        model_package_arn=item["model_package_arn"]["S"],
        endpoint_config=item["endpoint_config"]["S"],
        metric_name=item["metric_name"]["S"],
        metric_value=float(item["metric_value"]["N"]),
        dataset_sha256=item.get("dataset_sha256", {}).get("S"),
        dataset_identity=item.get("dataset_identity", {}).get("S"),
    )


def registered_metric(sagemaker_client: Any, model_package_arn: str, metric_name: str) -> float | None:
    """The metric recorded on the model package (the registry is the source of truth for metrics)."""
    package = sagemaker_client.describe_model_package(ModelPackageName=model_package_arn)
    metadata: dict[str, str] = package.get("CustomerMetadataProperties", {})
    if metadata.get("metric_name") != metric_name or "metric_value" not in metadata:
        return None
    return float(metadata["metric_value"])
