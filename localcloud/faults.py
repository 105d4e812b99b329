"""Fault injection for the offline cloud: API faults on any call, crashes, killed jobs, broken models.

**API faults.** Every AWS API call that reaches moto in-process passes through moto's botocore
stubber; ``moto_patches/core.py`` wraps it with :func:`intercept`, so a rule can answer any call of
any service with that service's own throttling, server-error or timeout response, exactly as it
would arrive on the wire:

* ``throttle``: the service's throttling code (``ThrottlingException``, S3 ``SlowDown`` 503, Lambda
  ``TooManyRequestsException`` 429, SNS ``Throttled`` 429, CloudWatch ``Throttling``...);
* ``error``: the service's 5xx code (``InternalFailure`` 500, S3 ``InternalError``, DynamoDB
  ``InternalServerError``, Lambda ``ServiceException``...);
* ``timeout``: the request is cut off before the service acted: ``RequestTimeout`` with HTTP 504
  (S3: its own ``RequestTimeout`` 400). botocore treats both as transient and retries them, as it
  does a read timeout. A real read timeout (sleeping past the client's 60 s ``read_timeout``)
  would cost a minute per fault;
* ``lost_response``: the service acted, then the answer was lost: the call succeeds (the resource exists),
  and the caller sees the ``timeout`` answer. Its retry meets its own side effect ("Cannot create
  already existing model"), which is what a caller's create-then-describe recovery is for. The
  service must have acted first, so the rule is applied after the call by the offline service
  itself (``lose_response``), for the operations in ``LOST_RESPONSE_OPERATIONS``; the stubber leaves
  these rules alone. The SDK call is not followed across attempts (``stats().faulted_calls``).

Who is called matters less than who calls. A rule with ``scope="pipeline"`` (the default of
``inject``) only hits calls made by the product: inside a Lambda handler (``lambdas.py`` marks the
invocation), a state machine execution (``stepfunctions.py`` marks its thread) or an EventBridge
delivery (``eventbridge.py``). A test or harness reading state is never marked, and ``suspended()``
turns injection off for a block whatever the rule says. The offline SageMaker's own work (a
training job downloading its channels) runs on unmarked threads: that is AWS-internal traffic.

Retries are visible too: botocore stamps every attempt with ``amz-sdk-invocation-id`` and
``amz-sdk-request: attempt=N``, so ``stats()`` counts the retries an SDK made and whether the call
finally succeeded (absorbed) or gave up (surfaced to the caller).

**Other faults.** ``crash_function`` makes a Lambda handler raise or its runtime exit;
``kill_training`` SIGKILLs a training job's container process midway (Linux ``/proc``);
``fail_model_load`` makes an endpoint's model fail to load (CreateEndpoint leaves the endpoint
Failed, where only DeleteEndpoint is allowed; UpdateEndpoint rolls back); ``degrade_model`` adds
model errors and latency to InvokeEndpoint.

Each offline cloud owns one injector (``cloud.faults``, ``Runtime.faults``): rules and statistics
end with the cloud. Rules are looked up on every call, so a test can turn a fault on after an
endpoint is serving.
The in-process cloud (``mock_aws``) is where API faults apply; against ``ThreadedMotoServer`` only
the backend-level ``check()`` hooks (``fail_api`` on SageMaker calls) fire.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from moto.core.exceptions import JsonRESTError

from localcloud import wire_errors

FaultKind = Literal["throttle", "error", "timeout", "lost_response"]
# The kinds injected before the service acts (``inject`` draws from these).
KINDS: tuple[FaultKind, ...] = ("throttle", "error", "timeout")
LOST_RESPONSE: FaultKind = "lost_response"
# The calls whose answer a ``lost_response`` rule can drop: the offline service applies the rule after it acted
# (localcloud/moto_patches/sagemaker.py). The creates are where a lost answer matters: the retry
# finds the resource it made.
LOST_RESPONSE_OPERATIONS = frozenset(
    {
        ("sagemaker", "CreateModel"),
        ("sagemaker", "CreateEndpointConfig"),
        ("sagemaker", "CreateEndpoint"),
        ("sagemaker", "UpdateEndpoint"),
        ("sagemaker", "DeleteEndpoint"),
        ("sagemaker", "CreateTrainingJob"),
        ("sagemaker", "CreateProcessingJob"),
        ("sagemaker", "CreateCompilationJob"),
    }
)
Scope = Literal["pipeline", "any"]
CrashKind = Literal["exception", "exit"]


# ----------------------------------------------------------------------------- wire errors


@dataclass(frozen=True)
class WireError:
    """What a service answers for one kind of fault: its own error code, HTTP status and message."""

    code: str
    status: int
    message: str


_DEFAULT_WIRE: dict[FaultKind, WireError] = {
    "throttle": WireError("ThrottlingException", 400, "Rate exceeded"),
    "error": WireError("InternalFailure", 500, "The request processing has failed because of an unknown error"),
    "timeout": WireError("RequestTimeout", 504, "The request timed out before the service answered"),
}

_SERVICE_WIRE: dict[str, dict[FaultKind, WireError]] = {
    "s3": {
        "throttle": WireError("SlowDown", 503, "Please reduce your request rate."),
        "error": WireError("InternalError", 500, "We encountered an internal error. Please try again."),
        "timeout": WireError(
            "RequestTimeout",
            400,
            "Your socket connection to the server was not read from or written to within the timeout period.",
        ),
    },
    "dynamodb": {"error": WireError("InternalServerError", 500, "Internal server error")},
    "sns": {
        "throttle": WireError("Throttled", 429, "Rate exceeded"),
        "error": WireError("InternalError", 500, "Internal error"),
    },
    "lambda": {
        "throttle": WireError("TooManyRequestsException", 429, "Rate Exceeded."),
        "error": WireError("ServiceException", 500, "An internal error occurred in the Lambda service."),
    },
    "cloudwatch": {
        "throttle": WireError("Throttling", 400, "Rate exceeded"),
        "error": WireError("InternalServiceError", 500, "Internal service error"),
    },
    "application-autoscaling": {"error": WireError("InternalServiceException", 500, "Internal service error")},
    "events": {"error": WireError("InternalException", 500, "Internal error")},
    "kms": {"error": WireError("KMSInternalException", 500, "Internal error")},
    "logs": {"error": WireError("ServiceUnavailableException", 503, "Service unavailable")},
    "iam": {
        "throttle": WireError("Throttling", 400, "Rate exceeded"),
        "error": WireError("ServiceFailure", 500, "Service failure"),
    },
    "sts": {
        "throttle": WireError("Throttling", 400, "Rate exceeded"),
        "error": WireError("ServiceFailure", 500, "Service failure"),
    },
}

# botocore event names use the hyphenized service id; the injector speaks boto3 client names.
_SERVICE_IDS = {
    "sfn": "stepfunctions",
    "eventbridge": "events",
    "application-auto-scaling": "application-autoscaling",
    "cloudwatch-logs": "logs",
}


def wire_error(service: str, kind: FaultKind) -> WireError:
    # A lost answer reaches the caller as the timeout it would have waited out.
    seen = "timeout" if kind == LOST_RESPONSE else kind
    return _SERVICE_WIRE.get(service, {}).get(seen, _DEFAULT_WIRE[seen])


def render(service: str, error: WireError, operation: str = "") -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of ``error`` in the wire protocol botocore speaks to ``service``."""
    message = f"{error.message} (injected fault on {service}:{operation})" if operation else error.message
    return wire_errors.error_response(service, error.code, message, error.status)


# ----------------------------------------------------------------------------- moto exceptions


class ThrottlingException(JsonRESTError):  # type: ignore[misc]
    def __init__(self, operation: str) -> None:
        super().__init__("ThrottlingException", f"Rate exceeded (injected fault on {operation})")


class InternalFailure(JsonRESTError):  # type: ignore[misc]
    code = 500

    def __init__(self, operation: str) -> None:
        super().__init__("InternalFailure", f"Internal failure (injected fault on {operation})")


class RequestTimeout(JsonRESTError):  # type: ignore[misc]
    code = 504

    def __init__(self, operation: str) -> None:
        super().__init__("RequestTimeout", f"Request timed out (injected fault on {operation})")


class LostResponse(JsonRESTError):  # type: ignore[misc]
    """The service did the work; the caller only sees that the request timed out."""

    code = 504

    def __init__(self, operation: str) -> None:
        super().__init__("RequestTimeout", f"Request timed out (injected fault on {operation}: processed, answer lost)")


class ModelError(RuntimeError):
    """An invocation failed inside the model container (InvokeEndpoint answers 5XX)."""


class ModelLoadError(RuntimeError):
    """The model artefact could not be loaded by the serving container (the endpoint fails)."""


class InjectedCrash(RuntimeError):
    """A Lambda handler crashed with an exception nobody expected."""


# ----------------------------------------------------------------------------- rules


@dataclass
class ApiFault:
    kinds: tuple[FaultKind, ...]
    rate: float
    service: str = "*"
    operation: str = "*"
    scope: Scope = "any"
    callers: tuple[str, ...] = ()
    remaining: int | None = None

    @property
    def kind(self) -> FaultKind:
        return self.kinds[0]

    @property
    def loses_responses(self) -> bool:
        return self.kinds == (LOST_RESPONSE,)

    def matches(self, service: str, operation: str, caller: str | None) -> bool:
        if self.remaining == 0:
            return False
        if self.service not in ("*", service) or self.operation not in ("*", operation):
            return False
        if self.scope == "pipeline" and caller is None:
            return False
        return not self.callers or (caller is not None and caller.startswith(self.callers))


@dataclass
class ModelFault:
    error_rate: float = 0.0
    extra_latency_seconds: float = 0.0


@dataclass
class _Countdown:
    match: str
    remaining: int | None
    rate: float = 1.0

    def take(self, name: str, roll: Any) -> bool:
        if self.remaining == 0 or self.match not in name or not roll(self.rate):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


@dataclass
class _CrashRule(_Countdown):
    kind: CrashKind = "exception"


@dataclass
class _KillRule:
    match: str
    remaining: int | None
    after_seconds: float


@dataclass
class _Call:
    """One SDK call (all its attempts) that met at least one injected fault."""

    service: str
    operation: str
    caller: str
    attempts: int = 0
    faults: int = 0
    succeeded: bool = False


@dataclass
class FaultStats:
    api_calls: Counter[str] = field(default_factory=Counter)  # service -> requests the product made
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (service, kind)
    by_operation: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (caller kind, service, operation)
    by_caller: Counter[str] = field(default_factory=Counter)
    sdk_retries: Counter[str] = field(default_factory=Counter)  # service -> attempts after the first
    # (caller kind, outcome) of each SDK call that met a fault: "absorbed" when a retry of the SDK
    # itself succeeded, "surfaced" when its last attempt failed and the caller saw the error.
    faulted_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    killed_training_jobs: list[str] = field(default_factory=list)
    failed_model_loads: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    @property
    def calls_absorbed(self) -> int:
        return sum(count for (_, outcome), count in self.faulted_calls.items() if outcome == "absorbed")

    @property
    def calls_surfaced(self) -> int:
        return sum(count for (_, outcome), count in self.faulted_calls.items() if outcome == "surfaced")


_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("localcloud_fault_caller", default=None)
_suspended: contextvars.ContextVar[bool] = contextvars.ContextVar("localcloud_fault_suspended", default=False)
# The (service, operation) whose request is being dispatched: backend-level check() calls made
# while dispatching it were already decided by the stubber and must not roll twice.
_dispatching: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "localcloud_fault_dispatching", default=None
)


class FaultInjector:
    def __init__(self, seed: int = 7) -> None:
        self._api: list[ApiFault] = []
        self._models: dict[str, ModelFault] = {}
        self._crashes: list[_CrashRule] = []
        self._model_loads: list[_Countdown] = []
        self._kills: list[_KillRule] = []
        # (rule, instance): a Processing job's instance whose output volume is unusable.
        self._broken_outputs: list[tuple[_Countdown, str]] = []
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._calls: dict[str, _Call] = {}
        self._stats = FaultStats()
        self._watcher: threading.Thread | None = None
        self._watcher_stop = threading.Event()
        self.injected = 0

    # ------------------------------------------------------------------ configuring
    def seed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def fail_api(
        self,
        service: str,
        operation: str,
        kind: FaultKind = "throttle",
        rate: float = 1.0,
        scope: Scope = "any",
        times: int | None = None,
        callers: tuple[str, ...] = (),
    ) -> None:
        """Fault one API (``operation`` may be ``"*"``); replaces an earlier rule for the same pair.

        ``callers`` limits the rule to callers whose mark starts with one of these prefixes
        (``"lambda:"``, ``"states:"``, ``"events:"``); ``times`` stops it after that many faults.
        ``kind="lost_response"`` lets the call succeed and loses its answer; only the operations in
        ``LOST_RESPONSE_OPERATIONS`` can lose one.
        """
        if kind not in (*KINDS, LOST_RESPONSE):
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join((*KINDS, LOST_RESPONSE))}")
        if kind == LOST_RESPONSE and (service, operation) not in LOST_RESPONSE_OPERATIONS:
            known = ", ".join(f"{s}:{o}" for s, o in sorted(LOST_RESPONSE_OPERATIONS))
            raise ValueError(f"a lost answer can be injected on {known}; not on {service}:{operation}")
        with self._lock:
            self._api = [r for r in self._api if (r.service, r.operation) != (service, operation)]
            self._api.insert(0, ApiFault((kind,), rate, service, operation, scope, tuple(callers), times))

    def inject(
        self,
        rate: float,
        kinds: tuple[FaultKind, ...] = KINDS,
        services: tuple[str, ...] = ("*",),
        scope: Scope = "pipeline",
        callers: tuple[str, ...] = (),
    ) -> None:
        """Fault ``rate`` of every call to ``services`` (all by default), the kind drawn from ``kinds``."""
        if LOST_RESPONSE in kinds:
            raise ValueError(
                "lost answers are injected per operation: fail_api(service, operation, kind='lost_response')"
            )
        with self._lock:
            for service in services:
                self._api.append(ApiFault(tuple(kinds), rate, service, "*", scope, tuple(callers)))

    def degrade_model(self, model_name: str, error_rate: float = 0.0, extra_latency_seconds: float = 0.0) -> None:
        with self._lock:
            self._models[model_name] = ModelFault(error_rate, extra_latency_seconds)

    def crash_function(
        self, match: str, kind: CrashKind = "exception", times: int | None = None, rate: float = 1.0
    ) -> None:
        """Make invocations of functions whose name contains ``match`` crash before the handler runs."""
        with self._lock:
            self._crashes.append(_CrashRule(match, times, rate, kind))

    def fail_model_load(self, match: str = "", times: int | None = None) -> None:
        """Make loading a model whose SageMaker model name contains ``match`` fail (the endpoint fails)."""
        with self._lock:
            self._model_loads.append(_Countdown(match, times))

    def break_processing_output(self, match: str = "", host: str = "algo-1", times: int | None = 1) -> None:
        """Make ``host``'s output volume unusable in a Processing job whose name contains ``match``.

        Its worker then fails writing its first part, as one whose volume is full or lost does.
        """
        with self._lock:
            self._broken_outputs.append((_Countdown(match, times), host))

    def processing_output_broken(self, job_name: str, host: str) -> bool:
        with self._lock:
            return any(rule.take(job_name, self._roll) for rule, broken in self._broken_outputs if broken == host)

    def kill_training(self, match: str = "", after_seconds: float = 0.2, times: int | None = 1) -> None:
        """SIGKILL the container process of a training job whose name contains ``match``, midway.

        A watcher looks for this process's children running the XGBoost container and kills one
        once it has run ``after_seconds``: what an out-of-memory kill or a lost instance does.
        """
        with self._lock:
            self._kills.append(_KillRule(match, times, after_seconds))
            if self._watcher is None or not self._watcher.is_alive() or self._watcher_stop.is_set():
                self._watcher_stop = stop = threading.Event()
                self._watcher = threading.Thread(
                    target=self._watch_training, args=(stop,), daemon=True, name="fault-kill-training"
                )
                self._watcher.start()

    def clear(self) -> None:
        """Remove every rule and reset the statistics."""
        self._watcher_stop.set()
        with self._lock:
            self._api.clear()
            self._models.clear()
            self._crashes.clear()
            self._model_loads.clear()
            self._kills.clear()
            self._broken_outputs.clear()
            self._calls.clear()
            self._stats = FaultStats()
            self.injected = 0

    # ------------------------------------------------------------------ scoping
    @contextlib.contextmanager
    def caller(self, name: str) -> Iterator[None]:
        """Mark the calls made in this block (and threads that copy its context) as the product's."""
        token = _caller.set(name)
        try:
            yield
        finally:
            _caller.reset(token)

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """No fault is injected into calls made in this block: an observer reading state."""
        token = _suspended.set(True)
        try:
            yield
        finally:
            _suspended.reset(token)

    @staticmethod
    def current_caller() -> str | None:
        return _caller.get()

    # ------------------------------------------------------------------ deciding
    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate >= 1.0 or self._rng.random() < rate

    def decide(self, service: str, operation: str, response_lost: bool = False) -> FaultKind | None:
        """Whether this call fails, and how; counts the injection.

        ``response_lost`` asks, after the service acted, whether a ``lost_response`` rule drops its answer; other
        rules are decided before it acts.
        """
        if _suspended.get():
            return None
        caller = _caller.get()
        with self._lock:
            if caller is not None and not response_lost:
                self._stats.api_calls[service] += 1
            for rule in self._api:
                if rule.loses_responses != response_lost:
                    continue
                if not rule.matches(service, operation, caller) or not self._roll(rule.rate):
                    continue
                kind = rule.kinds[0] if len(rule.kinds) == 1 else self._rng.choice(rule.kinds)
                if rule.remaining is not None:
                    rule.remaining -= 1
                self.injected += 1
                self._stats.injected[(service, kind)] += 1
                self._stats.by_operation[(_caller_group(caller).partition(":")[0], service, operation)] += 1
                self._stats.by_caller[_caller_group(caller)] += 1
                return kind
        return None

    def check(self, service: str, operation: str) -> None:
        """Backend-level hook (offline SageMaker, InvokeEndpoint): raise the fault a rule asks for."""
        if _dispatching.get() == (service, operation):
            return
        kind = self.decide(service, operation)
        if kind == "throttle":
            raise ThrottlingException(operation)
        if kind == "error":
            raise InternalFailure(operation)
        if kind == "timeout":
            raise RequestTimeout(operation)

    def lose_response(self, service: str, operation: str) -> None:
        """After the offline service acted: raise the timeout its caller sees if a ``lost_response`` rule says so."""
        if self.decide(service, operation, response_lost=True) == LOST_RESPONSE:
            raise LostResponse(operation)

    def record_attempt(
        self, invocation_id: str | None, service: str, operation: str, attempt: int, fault: FaultKind | None
    ) -> None:
        """Follow one SDK call across its attempts (botocore numbers them in ``amz-sdk-request``)."""
        with self._lock:
            if attempt > 1:
                self._stats.sdk_retries[service] += 1
            if not invocation_id:
                return
            call = self._calls.get(invocation_id)
            if call is None:
                if fault is None:
                    return
                call = self._calls[invocation_id] = _Call(service, operation, _caller_group(_caller.get()))
            call.attempts += 1
            if fault is not None:
                call.faults += 1
            else:
                call.succeeded = True

    # ------------------------------------------------------------------ other faults
    def function_crash(self, function_name: str) -> tuple[CrashKind, BaseException] | None:
        """The crash an invocation of ``function_name`` must suffer now, if any (lambdas.py asks)."""
        with self._lock:
            for rule in self._crashes:
                if rule.take(function_name, self._roll):
                    self._stats.crashes[function_name] += 1
                    self.injected += 1
                    if rule.kind == "exit":
                        return "exit", InjectedCrash("Runtime exited with error: exit status 1 (injected fault)")
                    return "exception", InjectedCrash(f"injected crash in {function_name}")
        return None

    def wrap_model(self, model_name: str, model: Any) -> Any:
        with self._lock:
            for rule in self._model_loads:
                if rule.take(model_name, self._roll):
                    self._stats.failed_model_loads.append(model_name)
                    self.injected += 1
                    raise ModelLoadError(f"injected fault: the artefact of {model_name} does not load")
        return _FaultyModel(self, model_name, model)

    def model_fault(self, model_name: str) -> ModelFault | None:
        return self._models.get(model_name)

    def _watch_training(self, stop: threading.Event) -> None:
        from localcloud.sagemaker_engine.training import CONTAINER_MODULE

        first_seen: dict[int, float] = {}
        while not stop.wait(0.02):
            with self._lock:
                rules = [rule for rule in self._kills if rule.remaining != 0]
            if not rules:
                return
            for pid, command in _children_running(CONTAINER_MODULE):
                seen = first_seen.setdefault(pid, time.monotonic())
                for rule in rules:
                    if rule.match not in command or time.monotonic() - seen < rule.after_seconds:
                        continue
                    with self._lock:
                        if rule.remaining == 0:
                            continue
                        if rule.remaining is not None:
                            rule.remaining -= 1
                        self._stats.killed_training_jobs.append(command)
                        self.injected += 1
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    break

    # ------------------------------------------------------------------ reading
    def stats(self) -> FaultStats:
        """A snapshot of what was injected and what the SDKs did about it."""
        with self._lock:
            snapshot = FaultStats(
                api_calls=Counter(self._stats.api_calls),
                injected=Counter(self._stats.injected),
                by_operation=Counter(self._stats.by_operation),
                by_caller=Counter(self._stats.by_caller),
                sdk_retries=Counter(self._stats.sdk_retries),
                crashes=Counter(self._stats.crashes),
                killed_training_jobs=list(self._stats.killed_training_jobs),
                failed_model_loads=list(self._stats.failed_model_loads),
            )
            for call in self._calls.values():
                kind = call.caller.partition(":")[0]
                snapshot.faulted_calls[(kind, "absorbed" if call.succeeded else "surfaced")] += 1
            return snapshot


def _caller_group(caller: str | None) -> str:
    """``lambda:conveyor-IngestFunction-1a2b3c4d`` -> ``lambda:IngestFunction``; ``None`` -> ``observer``."""
    if caller is None:
        return "observer"
    kind, _, name = caller.partition(":")
    if "/" in name:  # an ARN: keep its resource name (events:arn:...:rule/<name> -> events:<name>)
        name = name.rsplit("/", 1)[1]
    parts = name.split("-")
    if kind == "lambda" and len(parts) >= 3:
        return f"{kind}:{parts[-2]}"
    return f"{kind}:{name}" if name else kind


def _children_running(module: str) -> list[tuple[int, str]]:
    """(pid, command line) of this process's children whose command line names ``module`` (Linux)."""
    found: list[tuple[int, str]] = []
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[1]) != me:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if module in command:
            found.append((int(entry), command))
    return found


class _FaultyModel:
    """Delegates to the real model, adding the injected errors and latency of its model name."""

    def __init__(self, injector: FaultInjector, model_name: str, model: Any) -> None:
        self._injector = injector
        self._model_name = model_name
        self._model = model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, rows: Any) -> Any:
        fault = self._injector.model_fault(self._model_name)
        if fault is not None:
            if fault.extra_latency_seconds:
                time.sleep(fault.extra_latency_seconds)
            if fault.error_rate and self._injector._roll(fault.error_rate):
                self._injector.injected += 1
                raise ModelError(f"injected model error in {self._model_name}")
        return self._model.predict(rows)


# ----------------------------------------------------------------------------- the request path


def header(request: Any, name: str) -> str:
    value = request.headers.get(name)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value or "")


def attempt_number(request: Any) -> int:
    """The attempt botocore numbers in ``amz-sdk-request: attempt=N`` (1 when absent)."""
    for part in header(request, "amz-sdk-request").split(";"):
        key, _, value = part.strip().partition("=")
        if key == "attempt" and value.isdigit():
            return int(value)
    return 1


def service_and_operation(event_name: str) -> tuple[str, str] | None:
    """``before-send.sagemaker-runtime.InvokeEndpoint`` -> (boto3 client name, operation)."""
    parts = event_name.split(".")
    if len(parts) < 3:
        return None
    return _SERVICE_IDS.get(parts[1], parts[1]), parts[2]


def intercept(
    injector: FaultInjector, service: str, operation: str, request: Any
) -> tuple[int, dict[str, str], bytes] | None:
    """What the stubber answers for one request: an injected fault's wire response, or None to dispatch it."""
    fault = injector.decide(service, operation)
    invocation_id = header(request, "amz-sdk-invocation-id")
    injector.record_attempt(invocation_id, service, operation, attempt_number(request), fault)
    if fault is None:
        return None
    return render(service, wire_error(service, fault), operation)


@contextlib.contextmanager
def dispatching(service: str, operation: str) -> Iterator[None]:
    """Mark the request being dispatched, so backend-level ``check()`` calls do not roll again."""
    token = _dispatching.set((service, operation))
    try:
        yield
    finally:
        _dispatching.reset(token)
