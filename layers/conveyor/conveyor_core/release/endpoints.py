"""Reading the endpoint Conveyor deploys to."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def describe_endpoint(sagemaker_client: Any, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when the endpoint does not exist (yet)."""
    try:
        endpoint: dict[str, Any] = sagemaker_client.describe_endpoint(EndpointName=name)
    except ClientError as error:
        # SageMaker answers a missing endpoint with ValidationException "Could not find endpoint".
        if error.response.get("Error", {}).get("Code") == "ValidationException":
            return None
        raise
    return endpoint
