"""Teach moto's ASL interpreter (vendored from LocalStack) what Conveyor's state machine needs.

* a SageMaker service integration: moto marks ``sagemaker`` unsupported, so
  ``createTrainingJob.sync`` fails with "Unsupported sync callback procedure". Request-response
  calls go to the SageMaker API; ``.sync`` polls the matching Describe until the job ends, and a
  Failed/Stopped job raises ``States.TaskFailed`` with the job description as the cause;
* epoch-millisecond timestamps in ``aws-sdk`` results (raw ``datetime`` objects break
  ``DescribeExecution``);
* the offline clock: ``Wait`` states, ``Retry`` intervals and ``.sync`` polling are scaled;
* the error names Step Functions gives a failed service call, so ``Retry`` and ``Catch`` see what
  they would see on AWS: ``aws-sdk`` tasks ``<Service>.<ErrorCode>`` with the ``Exception``
  suffix (``SageMaker.ThrottlingException``; moto says ``sagemaker.sagemakerException`` for all),
  Lambda function tasks ``Lambda.<ErrorCode>`` (moto says ``Exception``), a client-side timeout
  ``Lambda.SdkClientException``, optimized DynamoDB ``DynamoDB.<ErrorCode>Exception``;
* fault injection: each execution runs as a caller of its own (``FAULTS.caller``), and a ``.sync``
  job's Describe polling rides out throttling and 5xx answers, as Step Functions' own polling does;
* a definition is parsed once, not once per execution: moto's ANTLR parser (pure Python) took
  0.3-0.9 s of every StartExecution on the retrain state machine, which Step Functions never does.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Callable
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
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import inline_iteration_component
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory, state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
    state_task_service_dynamodb,
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.backend import execution_worker

from localcloud import faults, lambdas
from localcloud.clock import CLOCK
from localcloud.faults import FAULTS

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
_REAL_SYNC_POLL_SECONDS = 0.5


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
            error_name = "SageMaker.AmazonSageMakerException"
            cause = f"{error.get('Message')} (Service: AmazonSageMaker; Error Code: {error.get('Code')})"
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


def _with_exception_suffix(code: str) -> str:
    name = code.rsplit("#", maxsplit=1)[-1]
    return name if name.endswith("Exception") else name + "Exception"


def aws_sdk_error_name(service: str, code: str) -> str:
    """``ServiceName.ErrorName``, both PascalCase, the error always ending in ``Exception``."""
    prefix = _SDK_ERROR_SERVICE_NAMES.get(service.lower(), service[:1].upper() + service[1:])
    return f"{prefix}.{_with_exception_suffix(code)}"


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
        return "SageMaker.AmazonSageMakerException"  # the optimized integration's one name for a failed call
    if service == "dynamodb":
        return f"DynamoDB.{_with_exception_suffix(code)}"
    if service == "sns":
        return f"SNS.{_with_exception_suffix(code)}"
    if service == "lambda":
        return f"Lambda.{code}"
    raise ValueError(f"no offline error naming for {resource}")


def _aws_sdk_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, ClientError):
        return _original_aws_sdk_from_error(self, env, ex)
    error = aws_sdk_error_name(self.resource.api_name, str(ex.response["Error"]["Code"]))
    metadata = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{ex.response['Error'].get('Message', '')} (Service: {error.split('.')[0]}, "
        f"Status Code: {metadata.get('HTTPStatusCode')}, Request ID: {metadata.get('RequestId')})"
    )
    failure: FailureEvent = self._get_task_failure_event(env=env, error=error, cause=cause)
    return failure


def _lambda_task_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if not isinstance(ex, ClientError):
        return _original_lambda_from_error(self, env, ex)
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


def _dynamodb_error_cause(client_error: ClientError) -> tuple[str, str]:
    error, cause = _original_dynamodb_error_cause(client_error)
    return f"DynamoDB.{_with_exception_suffix(error.removeprefix('DynamoDB.'))}", cause


_original_aws_sdk_from_error = state_task_service_aws_sdk.StateTaskServiceAwsSdk._from_error
_original_lambda_from_error = state_task_lambda.StateTaskLambda._from_error
_original_dynamodb_error_cause = state_task_service_dynamodb.StateTaskServiceDynamoDB._error_cause_from_client_error
_original_execution_logic = execution_worker.ExecutionWorker._execution_logic


class _ContextThread(threading.Thread):
    """A thread that runs in a copy of its creator's context variables, as an asyncio task does.

    The interpreter runs the program, each state and each branch on threads of their own; without
    this, an execution's calls would lose the fault-injection caller mark its first thread set.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._context = contextvars.copy_context()

    def run(self) -> None:
        self._context.run(super().run)


_threading_with_context = types.SimpleNamespace(
    **{name: getattr(threading, name) for name in dir(threading) if not name.startswith("__")}
)
_threading_with_context.Thread = _ContextThread


def _execution_logic_as_caller(self: Any) -> None:
    # Every call this execution's states make is the product's own, for fault injection.
    name = self._evaluation_details.state_machine_details.name
    with FAULTS.caller(f"states:{name}"):
        _original_execution_logic(self)


_original_service_for = state_task_service_factory.state_task_service_for
_original_aws_sdk_eval = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task


def _service_for(service_name: str) -> Any:
    if service_name == "sagemaker":
        return StateTaskServiceSageMaker()
    return _original_service_for(service_name)


def _aws_sdk_eval_with_epoch_times(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
    _original_aws_sdk_eval(self, env, *args, **kwargs)
    env.stack.append(to_sfn_json(env.stack.pop()))


def _scaled_wait(self: Any, env: Any, wait_seconds: int) -> None:
    # moto's version rounds the waited time to whole seconds, which a scaled wait cannot reuse.
    deadline = time.monotonic() + CLOCK.real_seconds(wait_seconds)
    while env.is_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or env.program_state_event.wait(remaining):
            return


_original_environment = execution_worker.ExecutionWorker._get_evaluation_environment


def _environment_with_iso_start_time(self: Any) -> Any:
    # $$.Execution.StartTime is an ISO-8601 string in Step Functions; moto hands over a datetime,
    # which then breaks DescribeExecution when a state copies it into the output.
    env = _original_environment(self)
    execution = env.states.context_object.context_object_data["Execution"]
    start = execution.get("StartTime")
    if isinstance(start, dt.datetime):
        stamp = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
        execution["StartTime"] = (
            stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
        )
    return env


# Parsed definitions kept (the retrain one holds about 7 MiB with its parse tree). A deployed stack
# has two, named after its functions' random suffixes, so a new offline cloud brings new ones.
_PARSED_LIMIT = 8
_parsed: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
_parsed_lock = threading.Lock()
_original_parse = AmazonStateLanguageParser.parse


def parse_definition(definition: str) -> tuple[Any, Any]:
    """``AmazonStateLanguageParser.parse``, parsing each definition once: (program, ANTLR tree).

    Every execution (and CreateStateMachine's validation) then shares one program. That is how the
    interpreter already runs a Map's iterations and a Parallel's branches: its components hold the
    parsed definition only, and everything an execution changes lives in its ``Environment`` (the
    retry counters too, under each component's heap key). A definition that fails to parse is not
    kept: it raises again on the next call.
    """
    with _parsed_lock:
        parsed = _parsed.get(definition)
        if parsed is not None:
            _parsed.move_to_end(definition)
            return parsed
    # Parsed outside the lock: a second definition need not wait for the first one's parse.
    parsed = _original_parse(definition)
    _fix_heap_keys(parsed[0])
    with _parsed_lock:
        parsed = _parsed.setdefault(definition, parsed)
        while len(_parsed) > _PARSED_LIMIT:
            _parsed.popitem(last=False)
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


_scaled_time = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
_scaled_time.sleep = CLOCK.sleep

_installed: list[bool] = []


def install() -> None:
    faults.install()
    lambdas.install()
    if _installed:
        return
    state_task_service_aws_sdk.StateTaskServiceAwsSdk._from_error = _aws_sdk_from_error  # type: ignore[method-assign]
    state_task_lambda.StateTaskLambda._from_error = _lambda_task_from_error  # type: ignore[method-assign]
    state_task_service_dynamodb.StateTaskServiceDynamoDB._error_cause_from_client_error = staticmethod(  # type: ignore[method-assign]
        _dynamodb_error_cause
    )
    execution_worker.ExecutionWorker._execution_logic = _execution_logic_as_caller  # type: ignore[method-assign]
    for module in (program, branch_worker, inline_iteration_component, state_task_service_callback):
        module.threading = _threading_with_context  # type: ignore[attr-defined]
    execute_state.Thread = _ContextThread  # type: ignore[attr-defined,misc]
    state_task_factory.state_task_service_for = _service_for  # type: ignore[assignment]
    state_task_service_factory.state_task_service_for = _service_for  # type: ignore[assignment]
    state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task = _aws_sdk_eval_with_epoch_times  # type: ignore[method-assign]
    WaitFunction._wait_interval = _scaled_wait  # type: ignore[method-assign]
    # Step Functions names the service "applicationautoscaling"; boto3 calls it "application-autoscaling".
    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES["applicationautoscaling"] = "application-autoscaling"
    execution_worker.ExecutionWorker._get_evaluation_environment = _environment_with_iso_start_time  # type: ignore[method-assign]
    retrier_decl.time = _scaled_time  # type: ignore[attr-defined]
    AmazonStateLanguageParser.parse = staticmethod(parse_definition)  # type: ignore[method-assign,assignment]
    refresh_sync_polling()
    _installed.append(True)


def refresh_sync_polling() -> None:
    """.sync polls every 0.5 s in moto; scale it with the clock (but never busier than 20 ms)."""
    state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = max(  # type: ignore[misc]
        0.02, min(_REAL_SYNC_POLL_SECONDS, CLOCK.real_seconds(_REAL_SYNC_POLL_SECONDS * 60))
    )
