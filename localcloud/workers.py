"""Lambda execution in warm worker processes running the real runtime interface client.

``LocalLambdaRuntime`` (``lambdas.py``) imports handlers into this process, so it cannot enforce a
memory limit or stop a handler that overruns its timeout. ``WorkerLambdaRuntime`` keeps the same
registry and ``invoke`` contract, but runs each function the way Lambda does:

* A worker is a process ``python -m awslambdaric <handler>`` in the function's code directory, with
  a clean environment (nothing inherited from ``os.environ``): Lambda's variables, the runtime's
  extra variables, the function's own, the function's credentials unless the extra variables supply
  them, and ``PYTHONPATH`` = code directory + layer directories.
* Each function gets temporary credentials of its own (``ASIA...`` with a session token, as Lambda
  gives its execution role's session), issued by this runtime. moto's server accepts any key, so
  the key is what tells the server which function signed a request: ``iam_refusal`` (called from
  ``moto_patches/core.py`` for every request the server receives) checks a request signed with a
  function's key against the function's role (``localcloud.iam``), as in-process calls are checked,
  and answers a refusal with the service's own error.
* Each worker has its own Runtime API server (``ThreadingHTTPServer`` on an ephemeral loopback
  port). One server per worker, rather than one per function, because ``/next`` carries nothing
  that says which process is asking: with its own server, a worker can only ever receive the event
  meant for it. The server implements what awslambdaric calls: ``GET .../invocation/next``,
  ``POST .../invocation/{id}/response``, ``POST .../invocation/{id}/error`` and
  ``POST .../init/error``.
* Workers start on the first invoke (a cold start, whose Init Duration is the time until the
  process first asks for ``/next``) and stay warm. A worker takes one invocation at a time; an
  invoke that finds every worker busy starts another, so a function's pool grows to its peak
  concurrency and is reused.
* While an invocation runs, the caller polls the process: past ``timeout_seconds`` it is killed
  (``Sandbox.Timedout``), a peak RSS above ``memory_mb`` kills it (``Runtime.OutOfMemory``), and an
  exit mid-invocation is ``Runtime.ExitError``. A killed worker is discarded, so the next invoke
  cold-starts a fresh one.
* The worker's stdout and stderr (one pipe, so their order is kept) become the invocation's log,
  framed with ``INIT_START``/``START``/``END``/``REPORT`` lines like CloudWatch's.

Handlers reach AWS only over the network, so with ``OfflineCloud`` this runtime needs moto running
as a server (``server_port``); in-process ``mock_aws`` patches cannot reach a subprocess.
"""

from __future__ import annotations

import codecs
import contextlib
import http.server
import io
import json
import logging
import math
import os
import queue
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlencode

from localcloud import iam
from localcloud.iam import errors
from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime, decode_event

LOG = logging.getLogger("localcloud.lambda.workers")

_API = "/2018-06-01/runtime"
# How often a running invocation checks its worker's memory, exit status and deadline.
_POLL_SECONDS = 0.02
# Lambda's limit on the init phase of an on-demand function.
_DEFAULT_INIT_TIMEOUT_SECONDS = 10.0
_PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
# A function's credentials are overridable through the runtime's extra environment. Issued here
# rather than the caller's: a worker must never reach a real account.
_TEMPORARY_KEY_PREFIX = "ASIA"

Outcome = Literal["done", "timeout", "oom", "exited"]


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    trace_id: str
    done: threading.Event = field(default_factory=threading.Event)
    payload: bytes = b""
    errored: bool = False


class _RuntimeApiServer(http.server.ThreadingHTTPServer):
    # A /next request blocks until an event arrives; daemon threads let a dead worker's pending
    # request be abandoned instead of holding up shutdown.
    daemon_threads = True

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)


class _RuntimeApiHandler(http.server.BaseHTTPRequestHandler):
    """The subset of the Lambda Runtime API that awslambdaric (and its native client) calls."""

    @property
    def _worker(self) -> _Worker:
        return cast(_RuntimeApiServer, self.server).worker

    def do_GET(self) -> None:
        if self.path != f"{_API}/invocation/next":
            self._reply(404, {"errorType": "InvalidRequest", "errorMessage": f"no route for GET {self.path}"})
            return
        invocation = self._worker.next_invocation()
        if invocation is None:
            # The worker is being shut down; a non-200 makes the native client give up.
            self._reply(410, {"errorType": "ShutDown", "errorMessage": "the worker is shutting down"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(invocation.body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", self._worker.runtime.arn)
        self.send_header("Lambda-Runtime-Trace-Id", invocation.trace_id)
        self.end_headers()
        # If the worker died meanwhile, the caller's watch() reports the exit.
        with contextlib.suppress(ConnectionError):
            self.wfile.write(invocation.body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(f"{_API}/").split("/")
        accepted = False
        if parts == ["init", "error"]:
            accepted = self._worker.init_failed(body)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            accepted = self._worker.complete(parts[1], body, errored=parts[2] == "error")
        if accepted:
            self._reply(202, {"status": "OK"})
        else:
            self._reply(400, {"errorType": "InvalidRequestID", "errorMessage": f"unexpected POST {self.path}"})

    def _reply(self, status: int, payload: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # A worker killed mid-request leaves nobody to read the answer.
        with contextlib.suppress(ConnectionError):
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # every request would otherwise print an access line to our stderr


class _Worker:
    """One warm "sandbox": a runtime interface client process and the Runtime API it talks to."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime
        self.busy = False
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0
        self.init_ms = 0.0
        self.peak_memory_kb = 0
        # Set when the init phase ends either way: the first /next, or an init error.
        self.init_settled = threading.Event()
        self.init_error: bytes | None = None
        self._events: queue.Queue[_Invocation | None] = queue.Queue()
        self._current: _Invocation | None = None
        self._state_lock = threading.Lock()
        self._output: list[str] = []
        self._output_lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._closed = threading.Event()
        self._reader: threading.Thread | None = None
        self.server = _RuntimeApiServer(self)
        self._server_thread = threading.Thread(
            target=self.server.serve_forever,
            # shutdown() waits up to one poll interval; the default 0.5 s would add that to every discarded worker.
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"runtime-api-{runtime.name}",
        )
        self._server_thread.start()

    @property
    def api_address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and not self._closed.is_set()

    # ----------------------------------------------------------------- process
    def start(self, command: list[str], environment: dict[str, str]) -> None:
        self.spawned_at = time.perf_counter()
        # A new session makes the worker a process-group leader, so a kill also stops whatever the
        # handler spawned.
        self.process = subprocess.Popen(
            command,
            cwd=self.runtime.code_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        self._reader = threading.Thread(target=self._read_output, daemon=True, name=f"worker-log-{self.runtime.name}")
        self._reader.start()

    def kill(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.kill()
        self._events.put(None)  # releases a /next request still waiting for an event
        self.server.shutdown()
        self.server.server_close()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self.process is not None and self.process.stdout is not None:
            with self._output_lock:
                self.process.stdout.close()

    def exit_description(self) -> str:
        code = self.process.returncode if self.process is not None else None
        if code is not None and code < 0:
            # Worded as Lambda words it ("signal: killed"), which is strsignal's text.
            return f"signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return f"exit status {code}"

    # ----------------------------------------------------------------- output
    def _read_output(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([descriptor], [], [], 0.2)
            except (OSError, ValueError):
                return  # close() gave up waiting for EOF and closed the pipe under us
            if readable and not self._read_available():
                return

    def _read_available(self) -> bool:
        """Move whatever the pipe holds into the output buffer; False once the pipe is at EOF.

        The lock is held across read and append, so after ``drain`` takes it, every byte the worker
        wrote before its last Runtime API call is either still in the pipe or already buffered.
        """
        assert self.process is not None
        assert self.process.stdout is not None
        with self._output_lock:
            if self.process.stdout.closed:
                return False
            while True:
                try:
                    chunk = os.read(self.process.stdout.fileno(), 65536)
                except BlockingIOError:
                    return True
                if not chunk:
                    self._output.append(self._decoder.decode(b"", final=True))
                    return False
                self._output.append(self._decoder.decode(chunk))

    def drain(self) -> str:
        if self.process is not None:
            self._read_available()
        with self._output_lock:
            text = "".join(self._output)
            self._output.clear()
        # awslambdaric joins a multi-line error into one record with carriage returns.
        text = text.replace("\r", "\n")
        return text if not text or text.endswith("\n") else text + "\n"

    # ----------------------------------------------------------------- memory
    def sample_memory(self) -> int | None:
        """Peak resident set size in kB so far (VmHWM), or None where /proc cannot tell.

        The high-water mark rather than the current VmRSS: an allocation that comes and goes
        between two polls still counts, as it would against Lambda's cgroup limit.
        """
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                self.peak_memory_kb = max(self.peak_memory_kb, int(line.split()[1]))
        return self.peak_memory_kb

    # ----------------------------------------------------------------- Runtime API callbacks
    def next_invocation(self) -> _Invocation | None:
        if not self.init_settled.is_set():
            self.init_ms = (time.perf_counter() - self.spawned_at) * 1000
            self.init_settled.set()
        invocation = self._events.get()
        if invocation is not None:
            with self._state_lock:
                self._current = invocation
        return invocation

    def init_failed(self, body: bytes) -> bool:
        self.init_ms = (time.perf_counter() - self.spawned_at) * 1000
        self.init_error = body
        self.init_settled.set()
        return True

    def complete(self, request_id: str, body: bytes, errored: bool) -> bool:
        with self._state_lock:
            invocation = self._current
            if invocation is None or invocation.request_id != request_id:
                return False
            self._current = None
        invocation.payload = body
        invocation.errored = errored
        invocation.done.set()
        return True

    # ----------------------------------------------------------------- invoking
    def dispatch(self, request_id: str, body: bytes, timeout_seconds: float) -> _Invocation:
        deadline_ms = int((time.time() + timeout_seconds) * 1000)
        trace_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        invocation = _Invocation(request_id, body, deadline_ms, trace_id)
        self._events.put(invocation)
        return invocation

    def watch(self, settled: threading.Event, timeout_seconds: float, memory_mb: int) -> Outcome:
        """Wait for ``settled`` while enforcing the deadline and the memory limit."""
        deadline = time.monotonic() + timeout_seconds
        limit_kb = memory_mb * 1024
        while True:
            finished = settled.wait(_POLL_SECONDS)
            # Sampled before poll(): once the process is reaped its /proc entry is gone.
            peak = self.sample_memory()
            if peak is not None and peak > limit_kb:
                return "oom"
            if finished:
                return "done"
            if self.process is None or self.process.poll() is not None:
                # The worker may have posted its answer just before exiting.
                return "done" if settled.is_set() else "exited"
            if time.monotonic() >= deadline:
                return "timeout"


class WorkerLambdaRuntime(LocalLambdaRuntime):
    """``LocalLambdaRuntime``'s registry, with every invocation run in a warm worker process.

    ``layer_paths`` are put on each worker's ``PYTHONPATH`` after the code directory, as Lambda
    puts ``/opt/python`` after ``/var/task``; ``FunctionRuntime`` does not record layers.
    """

    def __init__(
        self,
        extra_environment: dict[str, str] | None = None,
        layer_paths: Sequence[Path] = (),
        init_timeout_seconds: float = _DEFAULT_INIT_TIMEOUT_SECONDS,
        python: str = sys.executable,
    ) -> None:
        super().__init__(extra_environment)
        self._layer_paths = [Path(path).resolve() for path in layer_paths]
        self._init_timeout_seconds = init_timeout_seconds
        self._python = python
        self._pools: dict[str, list[_Worker]] = {}
        self._pool_lock = threading.Lock()
        # Each function's credentials, and the function each access key was issued to.
        self._credentials: dict[str, dict[str, str]] = {}
        self._key_owners: dict[str, str] = {}
        self._credentials_lock = threading.Lock()

    def __enter__(self) -> WorkerLambdaRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, runtime: FunctionRuntime) -> None:
        super().register(runtime)
        # A redeployed function gets fresh sandboxes, as Lambda gives a new version.
        with self._pool_lock:
            stale = [w for w in self._pools.get(runtime.name, []) if w.runtime is not runtime and not w.busy]
            for worker in stale:
                self._pools[runtime.name].remove(worker)
        for worker in stale:
            worker.close()

    def credentials(self, name: str) -> dict[str, str]:
        """The function's credentials, as its workers' environment carries them (issued once per function)."""
        with self._credentials_lock:
            issued = self._credentials.get(name)
            if issued is None:
                key = _TEMPORARY_KEY_PREFIX + secrets.token_hex(8).upper()
                issued = self._credentials[name] = {
                    "AWS_ACCESS_KEY_ID": key,
                    "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
                    "AWS_SESSION_TOKEN": secrets.token_urlsafe(96),
                }
                self._key_owners[key] = name
            return dict(issued)

    def function_of_access_key(self, access_key: str) -> str | None:
        """The function an access key was issued to; None for any other key (the operator's, the CLI's)."""
        with self._credentials_lock:
            return self._key_owners.get(access_key)

    def worker_pids(self, name: str) -> list[int]:
        """The process ids of a function's live workers (for tests and debugging)."""
        runtime = self.get(name)
        with self._pool_lock:
            pool = list(self._pools.get(runtime.name if runtime else name, []))
        return [pid for w in pool if w.alive() and (pid := w.pid) is not None]

    def close(self) -> None:
        """Stop every worker and its Runtime API server."""
        with self._pool_lock:
            workers = [w for pool in self._pools.values() for w in pool]
            self._pools.clear()
        for worker in workers:
            worker.close()

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        """Run one invocation in a worker; returns (payload JSON, errored, log text) like moto expects."""
        runtime = self.get(name)
        if runtime is None:
            return super().invoke(name, event)  # the base runtime's "not deployed" error
        request_id = str(uuid.uuid4())
        body = json.dumps(decode_event(event), default=str).encode()
        worker, cold = self._acquire(runtime)
        log = io.StringIO()
        try:
            payload, errored = self._run(worker, runtime, cold, request_id, body, log)
        finally:
            self._release(worker)
        with self._lock:
            runtime.invocations += 1
            runtime.cold_starts += int(cold)
            runtime.log.append(log.getvalue())
            del runtime.log[:-200]
        return payload, errored, log.getvalue()

    # ----------------------------------------------------------------- internals
    def _run(
        self, worker: _Worker, runtime: FunctionRuntime, cold: bool, request_id: str, body: bytes, log: io.StringIO
    ) -> tuple[str, bool]:
        if cold:
            log.write(f"INIT_START Runtime Version: python:{_PYTHON_VERSION}.local\tRuntime: awslambdaric\n")
            failure = self._initialise(worker, runtime, log)
            if failure is not None:
                return failure, True
        log.write(f"START RequestId: {request_id} Version: $LATEST\n")
        invocation = worker.dispatch(request_id, body, runtime.timeout_seconds)
        started = time.perf_counter()
        outcome = worker.watch(invocation.done, runtime.timeout_seconds, runtime.memory_mb)
        duration_ms = (time.perf_counter() - started) * 1000
        if outcome == "done":
            payload, errored = invocation.payload.decode(errors="replace"), invocation.errored
            log.write(worker.drain())
        else:
            # The answer is not coming: stop the worker for good, then report what Lambda reports.
            worker.kill()
            log.write(worker.drain())
            payload, errored = self._failure(outcome, worker, runtime, request_id, log), True
        log.write(f"END RequestId: {request_id}\n")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {runtime.memory_mb} MB\t"
            f"Max Memory Used: {math.ceil(worker.peak_memory_kb / 1024)} MB"
        )
        if cold:
            report += f"\tInit Duration: {worker.init_ms:.2f} ms"
        log.write(report + "\n")
        return payload, errored

    def _initialise(self, worker: _Worker, runtime: FunctionRuntime, log: io.StringIO) -> str | None:
        """Start the worker and wait out its init phase; returns an error payload if init failed."""
        try:
            worker.start([self._python, "-m", "awslambdaric", runtime.handler], self._environment(runtime, worker))
        except OSError as error:
            log.write(f"INIT_REPORT Init Duration: 0.00 ms\tPhase: init\tStatus: error\t{error}\n")
            return _error_json("Runtime.InvalidEntrypoint", f"cannot start the worker: {error}")
        outcome = worker.watch(worker.init_settled, self._init_timeout_seconds, runtime.memory_mb)
        if outcome == "done" and worker.init_error is None:
            LOG.info("cold start of %s (pid %s) took %.1f ms", runtime.name, worker.pid, worker.init_ms)
            log.write(worker.drain())
            return None
        worker.kill()
        log.write(worker.drain())
        if outcome == "done" and worker.init_error is not None:
            payload = worker.init_error.decode(errors="replace")
            try:
                error_type = str(json.loads(payload).get("errorType", "Runtime.Unknown"))
            except (json.JSONDecodeError, AttributeError):
                error_type = "Runtime.Unknown"
        elif outcome == "timeout":
            worker.init_ms = self._init_timeout_seconds * 1000
            error_type = "Sandbox.Timedout"
            payload = _error_json(error_type, f"Init timed out after {self._init_timeout_seconds:.2f} seconds")
        else:
            error_type = "Runtime.OutOfMemory" if outcome == "oom" else "Runtime.ExitError"
            payload = _error_json(error_type, f"Runtime exited with error: {worker.exit_description()}")
        log.write(
            f"INIT_REPORT Init Duration: {worker.init_ms:.2f} ms\tPhase: init\tStatus: error\t"
            f"Error Type: {error_type}\n"
        )
        return payload

    def _failure(
        self, outcome: Outcome, worker: _Worker, runtime: FunctionRuntime, request_id: str, log: io.StringIO
    ) -> str:
        if outcome == "timeout":
            message = f"Task timed out after {runtime.timeout_seconds:.2f} seconds"
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {request_id} {message}\n")
            return _error_json("Sandbox.Timedout", message)
        error_type = "Runtime.OutOfMemory" if outcome == "oom" else "Runtime.ExitError"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {worker.exit_description()}"
        log.write(f"{message}\n{error_type}\n")
        return _error_json(error_type, message)

    def _acquire(self, runtime: FunctionRuntime) -> tuple[_Worker, bool]:
        """A warm idle worker for the function, or a new (cold) one when all are busy."""
        with self._pool_lock:
            pool = self._pools.setdefault(runtime.name, [])
            dead = [w for w in pool if not w.busy and not w.alive()]
            for worker in pool:
                if worker not in dead and not worker.busy and worker.runtime is runtime:
                    worker.busy = True
                    break
            else:
                worker = _Worker(runtime)
                worker.busy = True
                pool.append(worker)
            for stale in dead:
                pool.remove(stale)
        for stale in dead:
            stale.close()
        return worker, worker.process is None

    def _release(self, worker: _Worker) -> None:
        with self._pool_lock:
            worker.busy = False
            retire = not worker.alive() or self.get(worker.runtime.name) is not worker.runtime
            pool = self._pools.get(worker.runtime.name, [])
            if retire and worker in pool:
                pool.remove(worker)
        if retire:
            worker.close()

    def _environment(self, runtime: FunctionRuntime, worker: _Worker) -> dict[str, str]:
        """A worker's whole environment: built from scratch, as Lambda's is, never from os.environ."""
        code_dir = runtime.code_dir.resolve()
        interpreter_dir = str(Path(self._python).parent)
        return {
            "PATH": os.pathsep.join([interpreter_dir, "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{_PYTHON_VERSION}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            # Keeps the developer's ~/.aws profiles (and any real credentials there) out of the worker.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **self.credentials(runtime.name),
            **runtime.base_environment(),
            **self._extra_environment,
            **runtime.environment,
            "AWS_LAMBDA_RUNTIME_API": worker.api_address,
            "PYTHONPATH": os.pathsep.join(str(path) for path in [code_dir, *self._layer_paths]),
        }


def _error_json(error_type: str, message: str) -> str:
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": []})


# ----------------------------------------------------------------------------- IAM on moto's server


def _access_key(request: Any) -> str:
    """The access key a SigV4 request was signed with (its header, or a presigned URL's query)."""
    authorization = str(request.headers.get("Authorization") or "")
    credential = authorization.split("Credential=", 1)[1] if "Credential=" in authorization else ""
    credential = credential or str(request.args.get("X-Amz-Credential") or "")
    return credential.split("/", 1)[0].split(",", 1)[0].strip()


def _prepared(request: Any) -> Any:
    """moto's server request as botocore sends one, which the IAM check reads (``localcloud/iam/wire.py``)."""
    from botocore.awsrequest import AWSPreparedRequest

    # A form body (the query protocol) is parsed away by the time moto has read the request.
    body = request.get_data() or urlencode(list(request.form.items(multi=True))).encode()
    return AWSPreparedRequest(request.method, request.raw_url, request.headers, body, stream_output=False)


def iam_refusal(cloud: Any, response: Any, request: Any) -> tuple[int, dict[str, str], bytes] | None:
    """The service's refusal of a request a worker signed with its function's key; None to let it through.

    ``response`` is moto's ``BaseResponse`` for the request (its service and operation); requests
    signed with any other key are not checked.
    """
    lambdas = getattr(cloud, "lambdas", None)
    function = (
        lambdas.function_of_access_key(_access_key(request)) if isinstance(lambdas, WorkerLambdaRuntime) else None
    )
    if function is None:
        return None
    service = response.boto3_service_name
    prepared = _prepared(request)
    try:
        # The same check as an in-process handler's call: the caller mark names the function.
        with cloud.faults.caller(f"lambda:{function}"):
            refused = iam.check_request(cloud, service, response._get_action(), prepared)
    except LookupError as error:  # an operation the check has no mapping for, an unknown function
        LOG.exception("IAM check of %s's request failed", function)
        refused = errors.service_error(service, prepared.url, "InternalFailure", 500, str(error))
    if refused is None:
        return None
    return int(refused.status_code), dict(refused.headers.items()), bytes(refused.content)
