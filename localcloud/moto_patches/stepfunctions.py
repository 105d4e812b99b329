"""Step Functions: what moto's ASL interpreter (vendored from LocalStack) needs to run Conveyor's ASL.

The behaviour lives in ``localcloud/stepfunctions.py`` and ``localcloud/execution_events.py``;
replaced here:

* the service task factory (in both modules that import it): a SageMaker integration, request-
  response and ``.sync`` (moto marks ``sagemaker`` unsupported);
* ``_from_error`` of ``aws-sdk`` and Lambda tasks, and the optimized DynamoDB task's error cause:
  the error names Step Functions gives a failed service call, so ``Retry``/``Catch`` match;
* ``StateTaskServiceAwsSdk._eval_service_task``: epoch-millisecond timestamps in results;
* ``ExecutionWorker._get_evaluation_environment``: ``$$.Execution.StartTime`` as an ISO string;
* ``ExecutionWorker._execution_logic``: each execution's calls are the product's own, for the
  running cloud's fault injection; ``threading`` in the modules that start the program, branches
  and iterations, and ``execute_state.Thread``: threads that carry that mark (context variables);
* ``WaitFunction._wait_interval``, ``retrier_decl.time`` and ``state_task_service_callback.time``:
  ``Wait`` states, ``Retry`` intervals and ``.sync`` polling on the running cloud's clock;
* ``AmazonStateLanguageParser.parse``: the running cloud's cache of parsed definitions;
* ``BaseExecutionWorkerCommunication.terminated``: the "Execution Status Change" event;
* ``StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES``: ``applicationautoscaling`` is boto3's
  ``application-autoscaling``;
* task tokens (``localcloud/task_tokens.py``): ``StateTaskServiceCallback._eval_body`` and
  ``_eval_execution`` (a token per attempt, closed when the attempt ends), ``_eval_wait_for_task_token``
  (the wait on the running cloud's clock, ``TimeoutSeconds`` with heartbeats), ``_from_error``
  (``States.HeartbeatTimeout``); ``StepFunctionsParserBackend.send_task_success``/``send_task_failure``/
  ``send_task_heartbeat`` (``TaskTimedOut`` for a closed token, ``InvalidOutput``) and
  ``StepFunctionResponse.send_task_failure`` (which dropped the ``cause``).

Without a running cloud, the fidelity fixes still apply and the clock-dependent waits use real
time, as moto's do.
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

from botocore.exceptions import ClientError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
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
    state_task_service_lambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

from localcloud import execution_events, runtime, stepfunctions, task_tokens
from localcloud.clock import Clock
from localcloud.moto_patches import DictEntry, Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_AwsSdk = state_task_service_aws_sdk.StateTaskServiceAwsSdk
_Lambda = state_task_lambda.StateTaskLambda
_DynamoDB = state_task_service_dynamodb.StateTaskServiceDynamoDB
_ServiceLambda = state_task_service_lambda.StateTaskServiceLambda
_Worker = execution_worker.ExecutionWorker
_Callback = state_task_service_callback.StateTaskServiceCallback

_aws_sdk_from_error = original(_AwsSdk, "_from_error")
_aws_sdk_eval = original(_AwsSdk, "_eval_service_task")
_lambda_from_error = original(_Lambda, "_from_error")
_dynamodb_error_cause = original(_DynamoDB, "_error_cause_from_client_error")
_service_lambda_error_cause = original(_ServiceLambda, "_error_cause_from_client_error")
_execution_logic = original(_Worker, "_execution_logic")
_evaluation_environment = original(_Worker, "_get_evaluation_environment")
_service_for = original(state_task_service_factory, "state_task_service_for")
_parse = original(AmazonStateLanguageParser, "parse")
_terminated = original(BaseExecutionWorkerCommunication, "terminated")
_callback_from_error = original(_Callback, "_from_error")
# StateTaskService's own: the request, the call and its result, without the token moto draws per state.
_service_eval_body = original(StateTaskService, "_eval_body")
_service_eval_execution = original(StateTaskService, "_eval_execution")


def _clock() -> Clock | None:
    cloud = runtime.active()
    return cloud.clock if cloud is not None else None


# ------------------------------------------------------------------------------------- errors


def aws_sdk_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if isinstance(ex, ClientError):
        return stepfunctions.aws_sdk_failure(self, env, ex)
    failure: FailureEvent = _aws_sdk_from_error(self, env, ex)
    return failure


def lambda_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if isinstance(ex, ClientError):
        return stepfunctions.lambda_task_failure(env, ex)
    failure: FailureEvent = _lambda_from_error(self, env, ex)
    return failure


def service_lambda_error_cause(client_error: ClientError) -> tuple[str, str]:
    """``lambda:invoke`` (and its ``.waitForTaskToken``): the function task's names, as Step Functions gives."""
    _error, cause = _service_lambda_error_cause(client_error)
    return stepfunctions.lambda_error_name(str(client_error.response["Error"]["Code"])), cause


def dynamodb_error_cause(client_error: ClientError) -> tuple[str, str]:
    error, cause = _dynamodb_error_cause(client_error)
    return stepfunctions.dynamodb_error_name(error), cause


# ------------------------------------------------------------------------------------- tasks


def service_for(service_name: str) -> Any:
    if service_name == "sagemaker":
        return stepfunctions.StateTaskServiceSageMaker()
    return _service_for(service_name)


def aws_sdk_eval(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
    _aws_sdk_eval(self, env, *args, **kwargs)
    env.stack.append(stepfunctions.to_sfn_json(env.stack.pop()))


def evaluation_environment(self: Any) -> Any:
    return stepfunctions.with_iso_start_time(_evaluation_environment(self))


# ------------------------------------------------------------------------------------- executions


def execution_logic(self: Any) -> None:
    cloud = runtime.active()
    if cloud is None:
        _execution_logic(self)
        return
    cloud.note_execution()
    # Every call this execution's states make is the product's own, for fault injection.
    with cloud.faults.caller(f"states:{self._evaluation_details.state_machine_details.name}"):
        _execution_logic(self)


def terminated(self: BaseExecutionWorkerCommunication) -> None:
    _terminated(self)
    execution_events.announce(self.execution)
    cloud = runtime.active()
    if cloud is not None:
        cloud.note_execution()


_THREADING_WITH_CONTEXT = types.SimpleNamespace(
    **{name: getattr(threading, name) for name in dir(threading) if not name.startswith("__")}
)
_THREADING_WITH_CONTEXT.Thread = stepfunctions.ContextThread


# ------------------------------------------------------------------------------------- the clock


def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    stepfunctions.scaled_wait(_clock(), env, wait_seconds)


def _time_with_sleep(sleep: Any) -> types.SimpleNamespace:
    namespace = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
    namespace.sleep = sleep
    return namespace


def _retry_sleep(seconds: float) -> None:
    clock = _clock()
    time.sleep(clock.real_seconds(seconds) if clock is not None else seconds)


def _sync_poll_sleep(seconds: float) -> None:
    time.sleep(stepfunctions.sync_poll_seconds(_clock(), seconds))


# ------------------------------------------------------------------------------------- task tokens


def _takes_task_token(task: Any) -> bool:
    return bool(
        task._is_integration_pattern() and ResourceCondition.WaitForTaskToken in task._supported_integration_patterns
    )


def callback_eval_body(self: Any, env: Any) -> None:
    # moto draws the token here, once per state; each attempt draws its own (callback_eval_execution).
    if _takes_task_token(self):
        self._assert_integration_pattern_is_supported()
    _service_eval_body(self, env)
    env.states.context_object.context_object_data.pop("Task", None)


def callback_eval_execution(self: Any, env: Any) -> None:
    # One attempt (``env`` is its frame): a token of its own, closed whichever way the attempt ends.
    if not _takes_task_token(self):
        _service_eval_execution(self, env)
        return
    token = task_tokens.open_token(env)
    try:
        _service_eval_execution(self, env)
    except Exception:
        if env.is_running():
            raise
        # StopExecution ended the wait: the task neither failed nor succeeded (a failure raised now would
        # turn the ABORTED execution into a FAILED one). The state's remaining steps are no-ops once the
        # execution stopped; they only need a value to carry.
        env.stack.append(env.states.get_input())
    finally:
        task_tokens.close_token(env, token)


def eval_wait_for_task_token(
    self: Any, env: Any, timeout_seconds: int, callback_endpoint: Any, heartbeat_endpoint: Any
) -> Any:
    heartbeat_seconds = heartbeat_endpoint._heartbeat_seconds if heartbeat_endpoint is not None else None
    return task_tokens.wait_for_task_token(
        _clock(), env, timeout_seconds, callback_endpoint, heartbeat_endpoint, heartbeat_seconds
    )


def callback_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
    if isinstance(ex, HeartbeatTimeoutError):
        return task_tokens.heartbeat_timed_out_event(self, env)
    failure: FailureEvent = _callback_from_error(self, env, ex)
    return failure


def send_task_success(self: StepFunctionsParserBackend, task_token: str, outcome: str) -> None:
    task_tokens.send_success(self, task_token, outcome)


def send_task_failure(
    self: StepFunctionsParserBackend, task_token: str, error: str | None = None, cause: str | None = None
) -> None:
    task_tokens.send_failure(self, task_token, error, cause)


def send_task_heartbeat(self: StepFunctionsParserBackend, task_token: str) -> None:
    task_tokens.send_heartbeat(self, task_token)


def response_send_task_failure(self: StepFunctionResponse) -> ActionResult:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


# ------------------------------------------------------------------------------------- parsing


def parse_uncached(definition: str) -> tuple[Any, Any]:
    """moto's own parse (ANTLR, pure Python): what a cloud's ``ParsedDefinitions`` calls on a miss."""
    parsed: tuple[Any, Any] = _parse(definition)
    return parsed


def parse(definition: str) -> tuple[Any, Any]:
    cloud = runtime.active()
    return cloud.definitions.parse(definition) if cloud is not None else parse_uncached(definition)


PATCHES = PatchSet(
    "stepfunctions",
    (
        Patch(_AwsSdk, "_from_error", aws_sdk_from_error),
        Patch(_AwsSdk, "_eval_service_task", aws_sdk_eval),
        Patch(_Lambda, "_from_error", lambda_from_error),
        Patch(_DynamoDB, "_error_cause_from_client_error", staticmethod(dynamodb_error_cause)),
        Patch(_ServiceLambda, "_error_cause_from_client_error", staticmethod(service_lambda_error_cause)),
        Patch(state_task_factory, "state_task_service_for", service_for),
        Patch(state_task_service_factory, "state_task_service_for", service_for),
        Patch(_Worker, "_execution_logic", execution_logic),
        Patch(_Worker, "_get_evaluation_environment", evaluation_environment),
        Patch(BaseExecutionWorkerCommunication, "terminated", terminated),
        Patch(program, "threading", _THREADING_WITH_CONTEXT),
        Patch(branch_worker, "threading", _THREADING_WITH_CONTEXT),
        Patch(inline_iteration_component, "threading", _THREADING_WITH_CONTEXT),
        Patch(state_task_service_callback, "threading", _THREADING_WITH_CONTEXT),
        Patch(execute_state, "Thread", stepfunctions.ContextThread),
        Patch(WaitFunction, "_wait_interval", wait_interval),
        Patch(retrier_decl, "time", _time_with_sleep(_retry_sleep)),
        Patch(state_task_service_callback, "time", _time_with_sleep(_sync_poll_sleep)),
        Patch(AmazonStateLanguageParser, "parse", staticmethod(parse)),
        Patch(_Callback, "_eval_body", callback_eval_body),
        # Added on the callback class (StateTaskService's stays as it is for the other tasks).
        Patch(_Callback, "_eval_execution", callback_eval_execution),
        Patch(_Callback, "_eval_wait_for_task_token", eval_wait_for_task_token),
        Patch(_Callback, "_from_error", callback_from_error),
        Patch(StepFunctionsParserBackend, "send_task_success", send_task_success),
        Patch(StepFunctionsParserBackend, "send_task_failure", send_task_failure),
        Patch(StepFunctionsParserBackend, "send_task_heartbeat", send_task_heartbeat),
        Patch(StepFunctionResponse, "send_task_failure", response_send_task_failure),
        DictEntry(
            StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES,
            "applicationautoscaling",
            "application-autoscaling",
            "StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES",
        ),
    ),
)
