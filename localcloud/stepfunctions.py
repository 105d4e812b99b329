"""Teach moto's ASL interpreter (vendored from LocalStack) what Conveyor's state machine needs.

* a SageMaker service integration: moto marks ``sagemaker`` unsupported, so
  ``createTrainingJob.sync`` fails with "Unsupported sync callback procedure". Request-response
  calls go to the SageMaker API; ``.sync`` polls the matching Describe until the job ends, and a
  Failed/Stopped job raises ``States.TaskFailed`` with the job description as the cause;
* epoch-millisecond timestamps in ``aws-sdk`` results (raw ``datetime`` objects break
  ``DescribeExecution``);
* the offline clock: ``Wait`` states, ``Retry`` intervals and ``.sync`` polling are scaled by the
  running cloud's clock;
* the error names Step Functions gives a failed service call, so ``Retry`` and ``Catch`` see what
  they would see on AWS (``service_error_name``): an error the service's API model declares keeps
  its code, with the ``Exception`` suffix; any other is the SDK's base exception. ``aws-sdk`` tasks:
  ``SageMaker.ResourceInUseException``, else ``SageMaker.SageMakerException`` (moto says
  ``sagemaker.sagemakerException`` for all); optimized SageMaker tasks:
  ``SageMaker.ResourceLimitExceededException``, else ``SageMaker.AmazonSageMakerException``;
  Lambda function tasks ``Lambda.<ErrorCode>`` (moto says ``Exception``), a client-side timeout
  ``Lambda.SdkClientException``, optimized DynamoDB ``DynamoDB.<ErrorCode>Exception``;
* fault injection: each execution runs as a caller of its own (the cloud's ``faults.caller``), and
  a ``.sync`` job's Describe polling rides out throttling and 5xx answers, as Step Functions' own
  polling does;
* ``ExecutionsStarted`` (``AWS/States``) when an execution starts, which moto never publishes
  (``with_iso_start_time`` runs once per execution, as it starts; the end's metrics come with the
  "Execution Status Change" event, ``execution_events.py``);
* a definition is parsed once, not once per execution: moto's ANTLR parser (pure Python) took
  0.3-0.9 s of every StartExecution on the retrain state machine, which Step Functions never does.
  The cache (``ParsedDefinitions``) belongs to the running cloud.

The interpreter's attributes these replace are replaced in ``moto_patches/stepfunctions.py``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from localcloud import service_metrics
from localcloud.clock import Clock

# (describe operation, name parameter, status field) for each .sync-capable SageMaker job.
_SYNC_JOBS: dict[str, tuple[str, str, str]] = {
    "create_training_job": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "create_processing_job": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "create_transform_job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}
_RUNNING = frozenset({"InProgress", "Stopping"})
# Answers a .sync poller retries instead of failing the task (throttling, 5xx, timeouts).
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_SUCCEEDED = "Completed"
# moto polls a .sync job every 0.5 s; scaled, as if that were 30 simulated seconds, never below 20 ms.
_SYNC_POLL_SIMULATED_PER_REAL_SECOND = 60
_SYNC_POLL_FLOOR_SECONDS = 0.02


def to_sfn_json(value: Any) -> Any:
    """SageMaker timestamps become epoch milliseconds, as Step Functions returns them."""
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {key: to_sfn_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_sfn_json(item) for item in value]
    return value


class StateTaskServiceSageMaker(StateTaskServiceCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        # WaitForTaskToken is listed only because moto's callback machinery dereferences the
        # callback endpoint unconditionally; the state machine uses request-response and .sync.
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})

    def _get_supported_parameters(self) -> set[str] | None:
        return set()

    def _client(self, resource_runtime_part: Any, state_credentials: Any) -> Any:
        return boto_client_for(
            service="sagemaker", region=resource_runtime_part.region, state_credentials=state_credentials
        )

    def _from_error(self, env: Any, ex: Exception) -> FailureEvent:
        if isinstance(ex, ClientError):
            error = ex.response.get("Error", {})
            metadata = ex.response.get("ResponseMetadata", {})
            error_name = optimized_sagemaker_error_name(str(error.get("Code", "")))
            # The Java SDK v1 exception's message, which Step Functions puts in the cause.
            cause = (
                f"{error.get('Message')} (Service: AmazonSageMaker; Status Code: {metadata.get('HTTPStatusCode')}; "
                f"Error Code: {error.get('Code')}; Request ID: {metadata.get('RequestId')}; Proxy: null)"
            )
            return FailureEvent(
                env=env,
                error_name=CustomErrorName(error_name),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        error=error_name,
                        cause=cause,
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                    )
                ),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        client = self._client(resource_runtime_part, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters) or {}
        response.pop("ResponseMetadata", None)
        env.stack.append(to_sfn_json(response))

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> Callable[[], Any]:
        action = self._get_boto_service_action()
        if action not in _SYNC_JOBS:
            raise RuntimeError(f"sagemaker:{self.resource.api_action} has no .sync integration")
        describe, name_field, status_field = _SYNC_JOBS[action]
        env.stack.pop()
        client = self._client(resource_runtime_part, state_credentials)
        job_name = normalised_parameters[name_field]

        def resolve() -> Any:
            try:
                description = getattr(client, describe)(**{name_field: job_name})
            except ClientError as error:
                if _is_transient(error):
                    return None  # poll again at the next interval
                raise
            description.pop("ResponseMetadata", None)
            status = description[status_field]
            if status in _RUNNING:
                return None
            description = to_sfn_json(description)
            if status == _SUCCEEDED:
                return description
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=StatesErrorNameType.StatesTaskFailed.to_name(),
                            cause=json.dumps(description),
                        )
                    ),
                )
            )

        return resolve


def _is_transient(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in _TRANSIENT_CODES or status >= 500


# PascalCase service names Step Functions puts in front of aws-sdk error names.
_SDK_ERROR_SERVICE_NAMES = {
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDb",
    "cloudwatch": "CloudWatch",
    "applicationautoscaling": "ApplicationAutoScaling",
    "sfn": "Sfn",
    "sns": "Sns",
    "sqs": "Sqs",
    "s3": "S3",
    "lambda": "Lambda",
    "eventbridge": "EventBridge",
    "kms": "Kms",
}


# boto3 client names of the aws-sdk integration's service names, to read their API models.
_BOTO_SERVICE_NAMES = {"applicationautoscaling": "application-autoscaling", "sfn": "stepfunctions"}


def _with_exception_suffix(code: str) -> str:
    name = code.rsplit("#", maxsplit=1)[-1]
    return name if name.endswith("Exception") else name + "Exception"


@cache
def modelled_errors(service: str) -> frozenset[str]:
    """The error codes ``service``'s API model declares (botocore's model, the SDKs' exception classes)."""
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(_BOTO_SERVICE_NAMES.get(service, service))
    except Exception:
        return frozenset()
    return frozenset(
        str(shape.metadata.get("error", {}).get("code") or shape.name) for shape in model.error_shapes
    ) | frozenset(shape.name for shape in model.error_shapes)


def service_error_name(prefix: str, base_exception: str, service: str, code: str) -> str:
    """``<prefix>.<Code>Exception`` for an error the service models, ``<prefix>.<base_exception>`` otherwise.

    The SDK inside Step Functions raises a modelled error as its own exception class and anything else
    (ValidationException, throttling, a 5xx) as the service's base exception, and Step Functions names
    the error after the class. Sources: the aws-sdk integrations' rule
    (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html, "always
    include the Exception suffix"); the connect-sagemaker example that retries
    ``SageMaker.AmazonSageMakerException``; for unmodelled aws-sdk errors, LocalStack's parity code
    and a CDK sample that catches ``SageMaker.SageMakerException`` (facts file, section 6).
    """
    name = code.rsplit("#", maxsplit=1)[-1]
    if name in modelled_errors(service):
        return f"{prefix}.{_with_exception_suffix(name)}"
    return f"{prefix}.{base_exception}"


def aws_sdk_error_name(service: str, code: str) -> str:
    """An ``aws-sdk`` task's error: ``Service.ErrorNameException``, or the SDK v2 base ``Service.ServiceException``."""
    prefix = _SDK_ERROR_SERVICE_NAMES.get(service.lower(), service[:1].upper() + service[1:])
    return service_error_name(prefix, f"{prefix}Exception", service.lower(), code)


def optimized_sagemaker_error_name(code: str) -> str:
    """An optimized ``sagemaker:*`` task's error, named after the Java SDK v1 class: a modelled
    ``SageMaker.ResourceInUseException``, else ``SageMaker.AmazonSageMakerException``."""
    return service_error_name("SageMaker", "AmazonSageMakerException", "sagemaker", code)


def lambda_error_name(code: str) -> str:
    """The error a Lambda function task fails with when the Invoke call itself answers ``code``."""
    if code in ("RequestTimeout", "RequestTimeoutException"):
        return "Lambda.SdkClientException"  # what the SDK inside Step Functions raises on a timeout
    return f"Lambda.{_with_exception_suffix(code)}"


def task_error_name(resource: str, code: str) -> str:
    """The error a Task with this ``Resource`` fails with, offline, when its service call answers ``code``."""
    if ":states:::aws-sdk:" in resource:
        return aws_sdk_error_name(resource.split(":states:::aws-sdk:", 1)[1].split(":", 1)[0], code)
    if ":states:::" not in resource:
        return lambda_error_name(code)  # a function ARN as the Resource
    service = resource.split(":states:::", 1)[1].split(":", 1)[0]
    if service == "sagemaker":
        return optimized_sagemaker_error_name(code)
    if service == "dynamodb":
        return f"DynamoDB.{_with_exception_suffix(code)}"
    if service == "sns":
        return f"SNS.{_with_exception_suffix(code)}"
    if service == "lambda":
        return lambda_error_name(code)
    raise ValueError(f"no offline error naming for {resource}")


def aws_sdk_failure(task: Any, env: Any, ex: ClientError) -> FailureEvent:
    """How an ``aws-sdk`` task fails on a service error: ``<Service>.<Code>Exception``, as Step Functions says."""
    error = aws_sdk_error_name(task.resource.api_name, str(ex.response["Error"]["Code"]))
    metadata = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{ex.response['Error'].get('Message', '')} (Service: {error.split('.')[0]}, "
        f"Status Code: {metadata.get('HTTPStatusCode')}, Request ID: {metadata.get('RequestId')})"
    )
    failure: FailureEvent = task._get_task_failure_event(env=env, error=error, cause=cause)
    return failure


def lambda_task_failure(env: Any, ex: ClientError) -> FailureEvent:
    """How a Lambda function task fails when the Invoke call itself answers an error: ``Lambda.<Code>``."""
    error = lambda_error_name(str(ex.response.get("Error", {}).get("Code", "")))
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.LambdaFunctionFailed,
        event_details=EventDetails(
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                error=error, cause=f"{ex.response['Error'].get('Message', '')} (Service: AWSLambda)"
            )
        ),
    )


def dynamodb_error_name(error: str) -> str:
    """``DynamoDB.<Code>Exception`` for an optimized DynamoDB task's failed call."""
    return f"DynamoDB.{_with_exception_suffix(error.removeprefix('DynamoDB.'))}"


class ContextThread(threading.Thread):
    """A thread that runs in a copy of its creator's context variables, as an asyncio task does.

    The interpreter runs the program, each state and each branch on threads of their own; without
    this, an execution's calls would lose the fault-injection caller mark its first thread set.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._context = contextvars.copy_context()

    def run(self) -> None:
        self._context.run(super().run)


def scaled_wait(clock: Clock | None, env: Any, wait_seconds: float) -> None:
    """A ``Wait`` state's wait on ``clock`` (real seconds without one), ending early if the execution stops.

    moto's version rounds the waited time to whole seconds, which a scaled wait cannot reuse.
    """
    seconds = clock.real_seconds(wait_seconds) if clock is not None else wait_seconds
    deadline = time.monotonic() + seconds
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or env.program_state_event.wait(remaining):
            return


def sync_poll_seconds(clock: Clock | None, moto_seconds: float) -> float:
    """How long a ``.sync`` task sleeps between Describe calls: moto's interval, scaled by ``clock``."""
    if clock is None:
        return moto_seconds
    scaled = clock.real_seconds(moto_seconds * _SYNC_POLL_SIMULATED_PER_REAL_SECOND)
    return max(_SYNC_POLL_FLOOR_SECONDS, min(moto_seconds, scaled))


def with_iso_start_time(env: Any) -> Any:
    """``$$.Execution.StartTime`` as Step Functions' ISO-8601 string, not moto's datetime.

    A datetime breaks DescribeExecution as soon as a state copies it into the output. The worker
    builds this environment once, as the execution starts: that is also when Step Functions counts
    it (``ExecutionsStarted``, ``localcloud/service_metrics.py``).
    """
    context = env.states.context_object.context_object_data
    service_metrics.execution_started(str(context["StateMachine"]["Id"]))
    execution = context["Execution"]
    start = execution.get("StartTime")
    if isinstance(start, dt.datetime):
        stamp = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
        execution["StartTime"] = (
            stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        )
    return env


# Parsed definitions a cloud keeps (the retrain one holds about 7 MiB with its parse tree). A deployed
# stack has two, named after its functions' random suffixes.
PARSED_LIMIT = 8


class ParsedDefinitions:
    """One cloud's cache of parsed ASL definitions: (program, ANTLR tree) per definition text."""

    def __init__(self, parse: Callable[[str], tuple[Any, Any]], limit: int = PARSED_LIMIT) -> None:
        self._parse = parse
        self._limit = limit
        self._parsed: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._parsed)

    def clear(self) -> None:
        with self._lock:
            self._parsed.clear()

    def parse(self, definition: str) -> tuple[Any, Any]:
        """``AmazonStateLanguageParser.parse``, parsing each definition once.

        Every execution (and CreateStateMachine's validation) then shares one program. That is how the
        interpreter already runs a Map's iterations and a Parallel's branches: its components hold the
        parsed definition only, and everything an execution changes lives in its ``Environment`` (the
        retry counters too, under each component's heap key). A definition that fails to parse is not
        kept: it raises again on the next call.
        """
        with self._lock:
            parsed = self._parsed.get(definition)
            if parsed is not None:
                self._parsed.move_to_end(definition)
                return parsed
        # Parsed outside the lock: a second definition need not wait for the first one's parse.
        parsed = self._parse(definition)
        _fix_heap_keys(parsed[0])
        with self._lock:
            self.misses += 1
            parsed = self._parsed.setdefault(definition, parsed)
            while len(self._parsed) > self._limit:
                self._parsed.popitem(last=False)
        return parsed


def _fix_heap_keys(program: Any) -> None:
    """Give every component of a parsed program its heap key now, before executions share it.

    A component draws its key at random on first use, unlocked: two executions starting together
    could both draw one, and the one whose key was overwritten would then look its retry attempts
    up under the other key and find none.
    """
    seen: set[int] = set()
    pending = [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            _ = node.heap_key
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            pending.extend(node)
        elif hasattr(node, "__dict__") and type(node).__module__.startswith(("moto.stepfunctions", "localcloud")):
            pending.extend(vars(node).values())
