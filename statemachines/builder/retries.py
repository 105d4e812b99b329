"""Retry policies, one per service integration: the error names Step Functions gives each one.

A task's retrier is chosen from its resource, so a new task cannot forget one or paste a variant.
Optimized integrations (``sagemaker:createModel``) and AWS SDK integrations
(``aws-sdk:sagemaker:describeEndpoint``) name their errors differently:

* an optimized integration names an error after the Java SDK's exception class: a modelled error
  ``SageMaker.ResourceLimitExceededException``, anything else (throttling, 5xx, validation)
  ``SageMaker.AmazonSageMakerException`` (the Step Functions developer guide's own example);
* an AWS SDK integration names it ``<Service>.<ErrorCode>`` with ``Exception`` always appended
  (supported-services-awssdk), and a SageMaker error its API does not model (throttling, 5xx and
  ValidationException are not modelled) ``SageMaker.SageMakerException``.

``States.TaskFailed`` is never retried: a failed job is not re-run.
"""

from __future__ import annotations

from typing import Any

Retrier = dict[str, Any]


def _backoff(errors: list[str], interval: int, attempts: int, jitter: bool = True) -> Retrier:
    retrier: Retrier = {"ErrorEquals": errors, "IntervalSeconds": interval, "MaxAttempts": attempts, "BackoffRate": 2}
    if jitter:
        retrier["JitterStrategy"] = "FULL"
    return retrier


LAMBDA = [
    _backoff(
        [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "States.Timeout",
        ],
        2,
        4,
    ),
    # A crashed runtime is retried once: a second crash is a bug, not bad luck.
    _backoff(["Runtime.ExitError", "Runtime.Unknown", "Lambda.Unknown"], 2, 1, jitter=False),
]

# A callback task's Lambda: its invocation errors only. States.Timeout is the wait's own end (nobody
# decided in time), which a retry would silently restart.
LAMBDA_CALLBACK = [
    _backoff(
        ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
         "Lambda.TooManyRequestsException"],
        2,
        4,
    ),
    _backoff(["Runtime.ExitError", "Runtime.Unknown", "Lambda.Unknown"], 2, 1, jitter=False),
]  # fmt: skip

SAGEMAKER_SYNC = [_backoff(["SageMaker.AmazonSageMakerException", "SageMaker.SdkClientException"], 30, 4)]

SAGEMAKER_OPTIMIZED = [_backoff(["SageMaker.AmazonSageMakerException", "SageMaker.SdkClientException"], 5, 4)]

# Throttling and 5xx are not modelled errors of SageMaker's API, so they arrive as the generic name,
# which a validation error shares: a few retries are the price of not missing a throttle.
SAGEMAKER_SDK = [_backoff(["SageMaker.SageMakerException", "SageMaker.SdkClientException"], 5, 4)]

# After an aborted variant shift the endpoint is still applying the abort weights, and SageMaker
# refuses an UpdateEndpoint until it is InService again: wait for it rather than fail the run.
SAGEMAKER_WHILE_UPDATING = [
    {
        "ErrorEquals": ["SageMaker.AmazonSageMakerException", "SageMaker.SdkClientException"],
        "IntervalSeconds": 30,
        "MaxAttempts": 10,
        "BackoffRate": 1.5,
    }
]

SNS = [
    _backoff(
        [
            "SNS.ThrottledException",
            "SNS.InternalErrorException",
            "SNS.KMSThrottlingException",
            "SNS.SdkClientException",
            "SNS.ThrottlingException",
            "SNS.RequestTimeoutException",
        ],
        1,
        6,
    )
]

DYNAMODB_OPTIMIZED = [
    _backoff(
        [
            "DynamoDB.ProvisionedThroughputExceededException",
            "DynamoDB.ThrottlingException",
            "DynamoDB.InternalServerErrorException",
            "DynamoDB.RequestLimitExceeded",
            "DynamoDB.RequestLimitExceededException",
            "DynamoDB.RequestTimeoutException",
            "DynamoDB.AmazonDynamoDBException",
            "DynamoDB.SdkClientException",
        ],
        1,
        5,
    )
]

DYNAMODB_SDK = [
    _backoff(
        [
            "DynamoDB.ProvisionedThroughputExceededException",
            "DynamoDB.ThrottlingException",
            "DynamoDB.InternalServerErrorException",
            "DynamoDB.RequestLimitExceeded",
            "DynamoDB.RequestTimeoutException",
            "DynamoDb.ProvisionedThroughputExceededException",
            "DynamoDb.ThrottlingException",
            "DynamoDb.InternalServerErrorException",
            "DynamoDb.RequestLimitExceededException",
            "DynamoDb.RequestTimeoutException",
            "DynamoDb.SdkClientException",
            "DynamoDb.DynamoDbException",
        ],
        1,
        5,
    )
]

APPLICATION_AUTOSCALING = [
    _backoff(
        [
            "ApplicationAutoScaling.ConcurrentUpdateException",
            "ApplicationAutoScaling.InternalServiceException",
            "ApplicationAutoScaling.ThrottlingException",
            "ApplicationAutoScaling.RequestTimeoutException",
            "ApplicationAutoScaling.SdkClientException",
            "ApplicationAutoScaling.ApplicationAutoScalingException",
        ],
        5,
        5,
    )
]

# The shift's alarm check is read-only: any failure is retried briefly, then the shift aborts.
CLOUDWATCH_SDK = [_backoff(["States.ALL"], 2, 3, jitter=False)]

_BY_PREFIX: tuple[tuple[str, list[Retrier]], ...] = (
    ("lambda:invoke.waitForTaskToken", LAMBDA_CALLBACK),
    ("sagemaker:createTrainingJob.sync", SAGEMAKER_SYNC),
    ("sagemaker:createTransformJob.sync", SAGEMAKER_SYNC),
    ("sagemaker:", SAGEMAKER_OPTIMIZED),
    ("aws-sdk:sagemaker:", SAGEMAKER_SDK),
    ("sns:", SNS),
    ("dynamodb:", DYNAMODB_OPTIMIZED),
    ("aws-sdk:dynamodb:", DYNAMODB_SDK),
    ("aws-sdk:applicationautoscaling:", APPLICATION_AUTOSCALING),
    ("aws-sdk:cloudwatch:", CLOUDWATCH_SDK),
)


def for_integration(integration: str) -> list[Retrier]:
    """The retriers of a service integration (the part of the resource after ``states:::``)."""
    for prefix, retriers in _BY_PREFIX:
        if integration.startswith(prefix):
            return retriers
    raise KeyError(f"no retry policy for the integration {integration}")
