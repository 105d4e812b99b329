"""Lambda execution without Docker: each function runs in this process with its own environment.

moto routes every invoke path (the API, Step Functions tasks, EventBridge targets) through
``LambdaFunction._invoke_lambda``; it is replaced here. Each function gets:

* its own code directory (the template's ``CodeUri``, or the ``sam build`` output), imported as a
  uniquely named module, so two functions' ``app.py`` never collide;
* its own environment variables, layered over ``os.environ`` for the invocation only;
* a warm "container": the module stays imported after the first (cold) call, and cold/warm
  starts are written to the function's CloudWatch log group, as Lambda does;
* its configured timeout; a raised exception returns ``{"errorType", "errorMessage",
  "stackTrace"}`` with ``FunctionError`` set, so ASL ``Catch`` on the error type works;
* its dead-letter queue (``DeadLetterQueue``), which ``eventbridge.Deliveries.invoke_lambda_async``
  honours after Lambda's asynchronous retries (moto drops ``DeadLetterConfig``).

The registry belongs to one offline cloud (``Runtime.lambdas``). Every invocation is marked as the
product's own calls for fault injection (the cloud's ``FaultInjector.caller``), and
``crash_function`` can make one crash before its handler runs. SQS event source mappings deliver
records the way Lambda does (message attributes, receive counts, partial batch failures), where
moto leaves the attributes out. The moto attributes these replace are replaced in
``moto_patches/awslambda.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import importlib.util
import io
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from localcloud import environ, service_metrics
from localcloud.faults import FaultInjector
from localcloud.powertools_metrics import serialize_metric_set_access

LOG = logging.getLogger("localcloud.lambda")

# Variables Lambda sets for every function. Tracing has no local collector: the X-Ray SDK would try a
# daemon. Metrics stay on: Powertools writes EMF documents to the invocation's log (``_route_emf``),
# and ``invoke_and_log`` turns them into CloudWatch metrics as Lambda's log pipeline does.
_LOCAL_RUNTIME_VARIABLES = {
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# Powertools' modules that ``print`` an EMF document to stdout, which Lambda sends to the function's log.
_EMF_WRITERS = (
    "aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch",
    "aws_lambda_powertools.metrics.base",
)

_invocation_log: contextvars.ContextVar[io.StringIO | None] = contextvars.ContextVar(
    "localcloud_lambda_log", default=None
)
# Powertools' Metrics keeps its metrics, dimensions and metadata in class-level dicts shared by every
# instance in the process. On Lambda that process is one sandbox serving one invocation at a time;
# here every function runs in this process, concurrently: each invocation gets dicts of its own.
_metric_sets: contextvars.ContextVar[dict[str, dict[str, Any]] | None] = contextvars.ContextVar(
    "localcloud_lambda_metric_sets", default=None
)
_SHARED_METRIC_SETS = ("_metrics", "_dimensions", "_metadata")
_isolation_lock = threading.Lock()


class _InvocationStream(io.TextIOBase):
    """Where a function's logger writes: the current invocation's log, else stderr-like sink."""

    def __init__(self, fallback: io.TextIOBase | None = None) -> None:
        self._fallback = fallback

    def write(self, text: str) -> int:
        buffer = _invocation_log.get()
        if buffer is not None:
            buffer.write(text)
        elif self._fallback is not None:
            self._fallback.write(text)
        return len(text)


@dataclass
class FunctionRuntime:
    name: str
    arn: str
    region: str
    account_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout_seconds: int = 3
    memory_mb: int = 128
    dead_letter_arn: str | None = None
    module: ModuleType | None = None
    invocations: int = 0
    cold_starts: int = 0
    log: list[str] = field(default_factory=list)
    _init_lock: threading.Lock = field(default_factory=threading.Lock)

    def base_environment(self) -> dict[str, str]:
        return {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "_HANDLER": self.handler,
            **_LOCAL_RUNTIME_VARIABLES,
        }


class LambdaContext:
    """The context object handlers receive (the subset Powertools and handlers read)."""

    def __init__(self, runtime: FunctionRuntime, request_id: str) -> None:
        self.function_name = runtime.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = runtime.arn
        self.memory_limit_in_mb = runtime.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{runtime.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id[:12]}"
        self._deadline = time.monotonic() + runtime.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionTimeoutError(Exception):
    pass


class LocalLambdaRuntime:
    """Registry of deployed functions and the in-process executor behind moto's invoke.

    ``faults`` is the cloud's fault injector (crashes, the caller mark); a runtime built on its own
    gets an injector with no rules.
    """

    def __init__(self, extra_environment: dict[str, str] | None = None, faults: FaultInjector | None = None) -> None:
        # Invocations share this process: Powertools' shared metric set needs its operations atomic.
        serialize_metric_set_access()
        self._functions: dict[str, FunctionRuntime] = {}
        self._extra_environment = dict(extra_environment or {})
        self._lock = threading.Lock()
        self.faults = faults if faults is not None else FaultInjector()

    def register(self, runtime: FunctionRuntime) -> None:
        with self._lock:
            self._functions[runtime.name] = runtime
            self._functions[runtime.arn] = runtime

    def add_qualified_arn(self, arn: str, name: str) -> None:
        """Let a version's or an alias's ARN find the function it belongs to."""
        with self._lock:
            self._functions[arn] = self._functions[name]

    def dead_letter_arn(self, name_or_arn: str) -> str | None:
        """The queue a function's failed asynchronous events go to (its ``DeadLetterQueue``)."""
        runtime = self._functions.get(name_or_arn)
        return runtime.dead_letter_arn if runtime is not None else None

    def get(self, name_or_arn: str) -> FunctionRuntime | None:
        return self._functions.get(name_or_arn)

    def functions(self) -> list[FunctionRuntime]:
        return list({id(fn): fn for fn in self._functions.values()}.values())

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        """Run one invocation; returns (payload JSON, errored, log text) like moto expects."""
        runtime = self._functions.get(name)
        if runtime is None:
            error = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"function {name} is not deployed locally",
            }
            return json.dumps(error), True, ""
        request_id = str(uuid.uuid4())
        buffer = io.StringIO()
        variables = {**runtime.base_environment(), **self._extra_environment, **runtime.environment}
        started = time.perf_counter()
        init_ms = 0.0
        token = _invocation_log.set(buffer)
        metric_sets = _metric_sets.set({})
        try:
            with environ.function_environment(variables), self.faults.caller(f"lambda:{runtime.name}"):
                cold = runtime.module is None
                if cold:
                    init_ms = self._cold_start(runtime)
                buffer.write(f"START RequestId: {request_id} Version: $LATEST\n")
                result, errored = self._run_handler(runtime, event, request_id)
        except Exception as error:  # the import itself failed: Lambda reports Runtime.ImportModuleError
            result = _error_payload(error, "Runtime.ImportModuleError")
            errored = True
            cold = True
        finally:
            _metric_sets.reset(metric_sets)
            _invocation_log.reset(token)
        duration_ms = (time.perf_counter() - started) * 1000 - init_ms
        report = f"REPORT RequestId: {request_id} Duration: {duration_ms:.2f} ms Memory Size: {runtime.memory_mb} MB"
        if cold:
            report += f" Init Duration: {init_ms:.2f} ms"
        buffer.write(report + "\n")
        with self._lock:
            runtime.invocations += 1
            runtime.cold_starts += int(cold)
            runtime.log.append(buffer.getvalue())
            del runtime.log[:-200]
        return json.dumps(result, default=str), errored, buffer.getvalue()

    def _cold_start(self, runtime: FunctionRuntime) -> float:
        with runtime._init_lock:
            if runtime.module is not None:
                return 0.0
            started = time.perf_counter()
            module_path = runtime.code_dir / (runtime.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
            unique = f"localcloud_fn_{runtime.name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(unique, module_path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {module_path}")
            module = importlib.util.module_from_spec(spec)
            _isolate_metric_sets()
            # Registered while it runs, as an import would: pydantic resolves a handler's postponed
            # annotations through sys.modules. Dropped afterwards so that torn-down stacks are freed.
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            finally:
                sys.modules.pop(unique, None)
            _redirect_loggers(module)
            _route_emf()
            runtime.module = module
            init_ms = (time.perf_counter() - started) * 1000
            LOG.info("cold start of %s took %.1f ms", runtime.name, init_ms)
            return init_ms

    def _run_handler(self, runtime: FunctionRuntime, event: Any, request_id: str) -> tuple[Any, bool]:
        assert runtime.module is not None
        handler = getattr(runtime.module, runtime.handler.rsplit(".", 1)[1])
        context = LambdaContext(runtime, request_id)
        outcome: dict[str, Any] = {}

        crash = self.faults.function_crash(runtime.name)

        def call() -> None:
            try:
                if crash is not None:
                    raise crash[1]
                outcome["result"] = handler(event, context)
            except Exception as error:
                outcome["error"] = error

        # The handler runs on its own thread so the timeout can be enforced; copy_context keeps the
        # invocation's environment overlay and log buffer.
        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(call,), daemon=True, name=f"lambda-{runtime.name}"
        )
        worker.start()
        worker.join(runtime.timeout_seconds)
        if worker.is_alive():
            message = f"Task timed out after {runtime.timeout_seconds:.2f} seconds"
            return _error_payload(FunctionTimeoutError(message), "Sandbox.Timedout"), True
        if "error" in outcome:
            error = outcome["error"]
            traceback_text = "".join(traceback.format_exception(error))
            buffer = _invocation_log.get()
            if buffer is not None:
                buffer.write(f"[ERROR] {type(error).__name__}: {error}\n{traceback_text}")
            if crash is not None and crash[0] == "exit":
                message = f"RequestId: {request_id} Error: {error}"
                return _error_payload(RuntimeError(message), "Runtime.ExitError"), True
            return _error_payload(error), True
        return outcome.get("result"), False


def _error_payload(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def _redirect_loggers(module: ModuleType) -> None:
    """Point the handler's Powertools logger at the invocation's log instead of stdout.

    Every function's ``Logger()`` shares one process-wide stdlib logger (the service name), whose
    handler was given ``sys.stdout`` when the first handler module in this process built it. That
    stream is not ours and may be closed by now: a test runner swaps ``sys.stdout`` for the length of
    one CLI invocation and closes it after. ``StreamHandler.setStream`` would flush it first, and a
    closed stream raises, failing every cold start of every function from then on. So the stream is
    replaced without touching the old one.
    """
    from aws_lambda_powertools import Logger

    for value in vars(module).values():
        if isinstance(value, Logger):
            handler = value.registered_handler
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler.stream, _InvocationStream):
                with handler.lock or contextlib.nullcontext():
                    handler.stream = _InvocationStream()


def _print_to_invocation(
    *values: object, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    """``print`` for Powertools' EMF writers: into the running invocation's log, as Lambda takes stdout."""
    buffer = _invocation_log.get()
    if buffer is None or file is not None:
        print(*values, sep=sep, end=end, file=file, flush=flush)
        return
    buffer.write((" " if sep is None else sep).join(str(value) for value in values) + ("\n" if end is None else end))


def _route_emf() -> None:
    """Send Powertools' EMF documents to the invocation's log rather than this process's stdout.

    Powertools prints each document; a module-level ``print`` in its writer modules shadows the
    builtin for them alone. Outside an invocation it prints as before, so it stays in place.
    """
    for name in _EMF_WRITERS:
        module = sys.modules.get(name)
        if module is not None and vars(module).get("print") is not _print_to_invocation:
            module.print = _print_to_invocation  # type: ignore[attr-defined]


class _InvocationDict(dict):  # type: ignore[type-arg]
    """One of Powertools' process-wide metric dicts, made one per invocation (``_metric_sets``).

    Every operation goes to the running invocation's own dict, or to the original shared dict outside
    an invocation (a test using Powertools directly sees Powertools as it is). A ``dict`` subclass
    because Powertools annotates and copies these as dicts; the inherited storage stays empty.
    """

    def __init__(self, name: str, outside: dict[str, Any]) -> None:
        super().__init__()
        self._name = name
        self._outside = outside

    def _own(self) -> dict[str, Any]:
        sets = _metric_sets.get()
        return self._outside if sets is None else sets.setdefault(self._name, {})

    def __getitem__(self, key: Any) -> Any:
        return self._own()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._own()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._own()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._own()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._own())

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._own())

    def __len__(self) -> int:
        return len(self._own())

    def __repr__(self) -> str:
        return repr(self._own())

    def __eq__(self, other: object) -> bool:
        return self._own() == other

    def __ne__(self, other: object) -> bool:
        return self._own() != other

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        return {**self._own(), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        return {**other, **self._own()}

    def __ior__(self, other: Any) -> _InvocationDict:  # type: ignore[misc,override]
        self._own().update(other)
        return self

    def get(self, key: Any, default: Any = None) -> Any:
        return self._own().get(key, default)

    def keys(self) -> Any:
        return self._own().keys()

    def values(self) -> Any:
        return self._own().values()

    def items(self) -> Any:
        return self._own().items()

    def pop(self, key: Any, *default: Any) -> Any:
        return self._own().pop(key, *default)

    def popitem(self) -> Any:
        return self._own().popitem()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self._own().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._own().update(*args, **kwargs)

    def clear(self) -> None:
        self._own().clear()

    def copy(self) -> dict[str, Any]:
        return dict(self._own())

    def __copy__(self) -> dict[str, Any]:
        return dict(self._own())

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(self._own(), memo)

    def __reduce__(self) -> Any:
        return (dict, (dict(self._own()),))


def _isolate_metric_sets() -> None:
    """Give each invocation its own Powertools metric set, before a handler module builds its ``Metrics()``.

    Without it two functions running at once share one set: one's flush publishes the other's
    metrics under its own log, and a flush that empties the set between another's check and its
    serialization fails that handler ("Must contain at least one metric"). Default dimensions
    (``set_default_dimensions``) stay process-wide, as the product sets none.
    """
    try:
        from aws_lambda_powertools.metrics.metrics import Metrics
    except ImportError:  # a function without Powertools
        return
    with _isolation_lock:
        for name in _SHARED_METRIC_SETS:
            current = Metrics.__dict__.get(name)
            if isinstance(current, dict) and not isinstance(current, _InvocationDict):
                setattr(Metrics, name, _InvocationDict(name, current))


def decode_event(event: Any) -> Any:
    if isinstance(event, bytes | bytearray):
        event = event.decode()
    if isinstance(event, str):
        try:
            return json.loads(event)
        except json.JSONDecodeError:
            return event
    return event


def _message_attributes(message: Any, queue_arn: str) -> dict[str, Any]:
    """The message's attributes as sent: moto's receive (which the mapping uses) filters them all out."""
    from moto.sqs.models import sqs_backends
    from moto.utilities.arns import parse_arn

    parsed = parse_arn(queue_arn)
    for queue in sqs_backends[parsed.account][parsed.region].queues.values():
        if queue.queue_arn == queue_arn:
            for original in list(queue._messages):
                if original.id == message.id:
                    return dict(original.message_attributes or {})
    return dict(message.message_attributes or {})


def _sqs_record(message: Any, queue_arn: str, region: str) -> dict[str, Any]:
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        for name, value in _message_attributes(message, queue_arn).items()
    }
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.approximate_receive_count or 1),
            "SentTimestamp": str(message.sent_timestamp or int(time.time() * 1000)),
            "SenderId": str(message.sender_id),
            "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp or ""),
        },
        "messageAttributes": attributes,
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def send_sqs_message(backend: Any, function_arn: str, message: Any, queue_arn: str) -> bool:
    """Deliver one SQS message to a function as Lambda's event source mapping does.

    Returns whether the message may be deleted: not when the function failed, nor when it reported
    the message in ``batchItemFailures`` (ReportBatchItemFailures).
    """
    event = {"Records": [_sqs_record(message, queue_arn, backend.region_name)]}
    response_headers: dict[str, Any] = {}
    payload = backend.invoke(
        function_name=function_arn,
        qualifier=None,
        body=json.dumps(event),
        headers={},
        response_headers=response_headers,
    )
    if "x-amz-function-error" in response_headers:
        return False
    try:
        answer = json.loads(payload or b"null")
    except (TypeError, ValueError):
        return True
    return not (isinstance(answer, dict) and answer.get("batchItemFailures"))


def invoke_and_log(runtime: LocalLambdaRuntime, function: Any, event: Any) -> tuple[str, bool, str]:
    """One invocation of moto's ``LambdaFunction`` by ``runtime``, its log lines written to the function's log group."""
    function.logs_backend.ensure_log_group(function.logs_group_name)
    payload, errored, logs = runtime.invoke(function.function_name, decode_event(event) if event is not None else {})
    stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]local"
    if stream not in function.logs_backend.groups[function.logs_group_name].streams:
        function.logs_backend.create_log_stream(function.logs_group_name, stream)
    now = int(time.time() * 1000)
    function.logs_backend.put_log_events(
        function.logs_group_name, stream, [{"timestamp": now, "message": line} for line in logs.splitlines() if line]
    )
    # What Lambda publishes per invocation (AWS/Lambda), and the EMF documents among the log lines.
    service_metrics.lambda_invoked(function.account_id, function.region, function.function_name, errored, logs)
    return payload, errored, logs
