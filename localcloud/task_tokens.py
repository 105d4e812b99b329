"""Task tokens offline: ``.waitForTaskToken`` tasks and SendTaskSuccess/SendTaskFailure/SendTaskHeartbeat.

moto's ASL interpreter (vendored from LocalStack) has the callback machinery: a token in
``$$.Task.Token``, a pool of callback endpoints per execution, and a wait for the outcome. What it
lacks, and what this module supplies (``moto_patches/stepfunctions.py`` wires it in):

* **the offline clock**: ``TimeoutSeconds`` and ``HeartbeatSeconds`` of the wait are simulated
  seconds (``Clock.real_seconds``), as ``Wait`` states and ``.sync`` polling are. They count from
  when the task starts waiting, once its service call (the Lambda invocation) has answered: real work
  takes real seconds offline, and is not charged to the simulated budget. The interpreter's own
  whole-task timeout stays in real seconds, a backstop that can only fire later;
* ``TimeoutSeconds`` **with** ``HeartbeatSeconds``: moto's heartbeat loop never ends a task whose
  heartbeats keep coming; Step Functions ends it at ``TimeoutSeconds`` whatever the heartbeats
  ("The Timeout of a task ... is its maximum allowed duration, regardless of the number of
  SendTaskHeartbeat requests received", API_SendTaskHeartbeat);
* ``States.HeartbeatTimeout``: a missed heartbeat fails the task with that error (moto says
  ``States.Timeout``), which ``ErrorEquals: ["States.Timeout"]`` still matches: "States.Timeout: A
  Task state either ran longer than the TimeoutSeconds value, or failed to send a heartbeat for a
  period longer than the HeartbeatSeconds value" (concepts-error-handling.html);
* **a token per attempt**: moto draws one token per state and reuses it across ``Retry`` attempts,
  so an attempt would see the previous attempt's outcome; Step Functions gives each attempt its own;
* **closed tokens**: once its task ended (succeeded, failed, timed out, its Lambda invocation
  failed, the execution stopped) a token is closed, and SendTask* answer ``TaskTimedOut`` ("The task
  token has either expired or the task associated with the token has already been closed"); a token
  this cloud never issued is ``InvalidToken``. moto kept accepting a closed token in silence (or
  said ``InvalidToken`` once the execution had ended), and its own closed-token check tested the
  wrong object (``TaskDoesNotExist`` always);
* SendTaskSuccess's ``output`` must be JSON (``InvalidOutput``); its size is checked with the rest
  of the request's model (``request_validation``: at most 262144 characters);
* SendTaskFailure keeps its ``cause`` (moto's response handler dropped it).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackConsumerLeft,
    CallbackEndpoint,
    CallbackOutcome,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
    CallbackOutcomeTimedOut,
    HeartbeatEndpoint,
    HeartbeatTimedOut,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from localcloud.clock import Clock

# How often a waiting task looks whether its execution still runs (a StopExecution ends the wait).
_RUNNING_RECHECK_SECONDS = 0.05
# The messages Step Functions answers with.
INVALID_TOKEN_MESSAGE = "Invalid Token: 'Invalid token'"
TASK_TIMED_OUT_MESSAGE = "Task Timed Out: 'Provided task does not exist anymore'"


class InvalidToken(AWSError):  # type: ignore[misc]
    # moto's parser API classes of these errors send an empty error code (their ``code`` attribute is
    # overwritten with the HTTP status), so the SDK could not tell them apart: these send AWS's.
    TYPE = "InvalidToken"


class TaskTimedOut(AWSError):  # type: ignore[misc]
    TYPE = "TaskTimedOut"


class InvalidOutput(AWSError):  # type: ignore[misc]
    TYPE = "InvalidOutput"


class HeartbeatTimeoutErrorName(StatesErrorName):  # type: ignore[misc]
    """``States.HeartbeatTimeout``, which ``ErrorEquals`` naming ``States.Timeout`` also matches.

    As a subclass of ``StatesErrorName`` its ``__eq__`` is tried first whichever side of ``==`` it is
    on, so ``ErrorEqualsDecl``'s ``error_name in self.error_names`` finds it under either name.
    """

    _MATCHES = frozenset(
        {StatesErrorNameType.StatesHeartbeatTimeout.to_name(), StatesErrorNameType.StatesTimeout.to_name()}
    )

    def __init__(self) -> None:
        super().__init__(typ=StatesErrorNameType.StatesHeartbeatTimeout)

    def matches(self, error_name: str | None) -> bool:
        return error_name in self._MATCHES

    def __eq__(self, other: object) -> bool:
        return bool(self.matches(getattr(other, "error_name", None)))

    __hash__ = None  # type: ignore[assignment]


def heartbeat_timed_out_event(task: Any, env: Any) -> FailureEvent:
    """The task's failure when a heartbeat did not come in time: ``TaskTimedOut``, ``States.HeartbeatTimeout``."""
    return FailureEvent(
        env=env,
        error_name=HeartbeatTimeoutErrorName(),
        event_type=HistoryEventType.TaskTimedOut,
        event_details=EventDetails(
            taskTimedOutEventDetails=TaskTimedOutEventDetails(
                resourceType=task._get_sfn_resource_type(),
                resource=task._get_sfn_resource(),
                error=StatesErrorNameType.StatesHeartbeatTimeout.to_name(),
            )
        ),
    )


# ------------------------------------------------------------------------------------- tokens


def open_token(env: Any) -> str:
    """A new token for this attempt of a callback task: in ``$$.Task.Token`` and in the execution's pool."""
    token: str = env.states.context_object.update_task_token()
    env.callback_pool_manager.add(token)
    return token


def close_token(env: Any, token: str) -> None:
    """The task that owned ``token`` ended: from now on SendTask* with it answer ``TaskTimedOut``."""
    endpoint = env.callback_pool_manager.get(token)
    if endpoint is not None:
        endpoint.report(CallbackConsumerLeft())
        endpoint.interrupt_all()


# ------------------------------------------------------------------------------------- waiting


def wait_for_task_token(
    clock: Clock | None,
    env: Any,
    timeout_seconds: float,
    callback_endpoint: CallbackEndpoint,
    heartbeat_endpoint: HeartbeatEndpoint | None,
    heartbeat_seconds: float | None,
) -> CallbackOutcome | HeartbeatTimedOut:
    """Wait for SendTaskSuccess/SendTaskFailure on the offline clock; ``TimeoutSeconds`` and
    ``HeartbeatSeconds`` are simulated seconds, each heartbeat restarts the heartbeat's count."""

    def real(seconds: float) -> float:
        return clock.real_seconds(seconds) if clock is not None else seconds

    if not env.is_running():
        # StopExecution came first: the wait is over before it began. What the stopped state's
        # evaluation stack held as TimeoutSeconds is not to be trusted then (a CI run saw a dict).
        return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
    now = time.monotonic()
    deadline = now + real(timeout_seconds)
    beat_deadline = now + real(heartbeat_seconds) if heartbeat_endpoint is not None and heartbeat_seconds else None
    # SendTaskSuccess/Failure set the endpoint's event (and the heartbeat's); a heartbeat sets the latter.
    signal: threading.Event = (
        heartbeat_endpoint._next_heartbeat_event if heartbeat_endpoint is not None else callback_endpoint._notify_event
    )
    while True:
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        now = time.monotonic()
        # Ended: the execution stopped, the attempt closed its token, or TimeoutSeconds passed.
        if not env.is_running() or callback_endpoint.consumer_error is not None or now >= deadline:
            return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
        if heartbeat_endpoint is None and signal.is_set():  # interrupted (interrupt_all) without an outcome
            return CallbackOutcomeTimedOut(callback_id=callback_endpoint.callback_id)
        if beat_deadline is not None and heartbeat_endpoint is not None:
            if signal.is_set():  # a heartbeat (or the outcome, seen at the top of the loop)
                with heartbeat_endpoint._mutex:
                    signal.clear()
                beat_deadline = now + real(heartbeat_seconds or 0)
                continue
            if now >= beat_deadline:
                return HeartbeatTimedOut()
        until = min(deadline, beat_deadline) if beat_deadline is not None else deadline
        signal.wait(min(until - now, _RUNNING_RECHECK_SECONDS))


# ------------------------------------------------------------------------------------- the API


def _find(backend: Any, token: str) -> tuple[Any, CallbackEndpoint] | None:
    """(execution, callback endpoint) of ``token`` among every execution of ``backend``, ended ones too."""
    for machine in list(backend.state_machines):
        for execution in list(machine.executions):
            worker = getattr(execution, "exec_worker", None)
            if worker is None:
                continue
            endpoint = worker.env.callback_pool_manager.get(token)
            if endpoint is not None:
                return execution, endpoint
    return None


def _open_endpoint(backend: Any, token: str) -> CallbackEndpoint:
    found = _find(backend, token)
    if found is None:
        raise InvalidToken(INVALID_TOKEN_MESSAGE)
    execution, endpoint = found
    running = str(getattr(execution.exec_status, "value", execution.exec_status)) == "RUNNING"
    if endpoint.consumer_error is not None or endpoint.get_outcome() is not None or not running:
        raise TaskTimedOut(TASK_TIMED_OUT_MESSAGE)
    return endpoint


_SEND_LOCK = threading.Lock()


def send_success(backend: Any, token: str, output: str | None) -> None:
    """SendTaskSuccess: ``output`` becomes the task's result."""
    try:
        json.loads(output if output is not None else "")
    except (TypeError, ValueError):
        raise InvalidOutput("Invalid Output: 'The provided JSON output data is invalid'") from None
    with _SEND_LOCK:  # the first answer for a token wins; a second one finds it closed
        _open_endpoint(backend, token).notify(CallbackOutcomeSuccess(callback_id=token, output=str(output)))


def send_failure(backend: Any, token: str, error: str | None, cause: str | None) -> None:
    """SendTaskFailure: the task fails with ``error`` and ``cause``, which ``Retry``/``Catch`` see."""
    with _SEND_LOCK:
        _open_endpoint(backend, token).notify(CallbackOutcomeFailure(callback_id=token, error=error, cause=cause))


def send_heartbeat(backend: Any, token: str) -> None:
    """SendTaskHeartbeat: restarts the task's ``HeartbeatSeconds`` count (accepted without one, as on AWS)."""
    with _SEND_LOCK:
        _open_endpoint(backend, token).notify_heartbeat()
