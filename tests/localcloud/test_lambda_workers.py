"""Worker-process Lambda runtime: real awslambdaric processes against the local Runtime API.

The handlers are tiny files written per session; each test builds ``FunctionRuntime`` objects
directly, so no moto is involved. The last test runs a real Conveyor handler with the layer.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.lambdas import FunctionRuntime
from localcloud.workers import WorkerLambdaRuntime

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

HANDLERS = """
import os
import time

print("module initialised")


def echo(event, context):
    print("echo says hello")
    return {"event": event, "pid": os.getpid(), "function": context.function_name}


def fail(event, context):
    raise ValueError(f"cannot handle {event['item']}")


def sleep(event, context):
    time.sleep(event.get("seconds", 0))
    return os.getpid()


def hog(event, context):
    block = b"\\x01" * (300 * 1024 * 1024)  # written, so the pages are really resident
    return len(block)


def crash(event, context):
    os._exit(3)


def environment(event, context):
    return {name: os.environ.get(name) for name in event["names"]}
"""


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("function")
    (directory / "app.py").write_text(HANDLERS)
    return directory


@pytest.fixture
def workers() -> Iterator[WorkerLambdaRuntime]:
    runtime = WorkerLambdaRuntime(extra_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:5999"})
    try:
        yield runtime
    finally:
        runtime.close()


def function(
    code_dir: Path, name: str, handler: str, environment: dict[str, str] | None = None, **settings: Any
) -> FunctionRuntime:
    return FunctionRuntime(
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
        region=REGION,
        account_id=ACCOUNT_ID,
        code_dir=code_dir,
        handler=handler,
        environment=environment or {},
        **settings,
    )


def deploy(workers: WorkerLambdaRuntime, runtime: FunctionRuntime) -> FunctionRuntime:
    workers.register(runtime)
    return runtime


def process_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_echo_cold_then_warm_in_the_same_worker(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    runtime = deploy(workers, function(code_dir, "echo", "app.echo"))

    payload, errored, log = workers.invoke("echo", {"item": 1, "nested": {"a": [1, 2]}})
    first = json.loads(payload)
    assert not errored
    assert first["event"] == {"item": 1, "nested": {"a": [1, 2]}}
    assert first["function"] == "echo"
    assert runtime.cold_starts == 1
    lines = log.splitlines()
    assert lines[0].startswith("INIT_START")
    assert "module initialised" in lines
    assert lines.index("module initialised") < lines.index(next(line for line in lines if line.startswith("START")))
    assert "echo says hello" in lines
    assert lines[-2].startswith("END RequestId: ")
    assert lines[-1].startswith("REPORT RequestId: ")
    for field in ("Duration:", "Billed Duration:", "Memory Size: 128 MB", "Max Memory Used:", "Init Duration:"):
        assert field in lines[-1]

    # The arn reaches the same function, and a JSON string event is decoded as moto hands it over.
    payload, errored, log = workers.invoke(runtime.arn, b'{"item": 2}')
    second = json.loads(payload)
    assert not errored
    assert second["event"] == {"item": 2}
    assert second["pid"] == first["pid"]
    assert workers.worker_pids("echo") == [first["pid"]]
    assert "INIT_START" not in log
    assert "Init Duration" not in log
    assert "module initialised" not in log
    assert runtime.cold_starts == 1
    assert runtime.invocations == 2
    assert len(runtime.log) == 2

    workers.close()
    assert process_gone(first["pid"])


def test_each_function_sees_only_its_own_environment(
    workers: WorkerLambdaRuntime, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVEYOR_HOST_ONLY", "must not leak")
    deploy(workers, function(code_dir, "blue", "app.environment", {"COLOUR": "blue"}, memory_mb=256))
    deploy(workers, function(code_dir, "green", "app.environment", {"COLOUR": "green"}))
    names = [
        "COLOUR",
        "CONVEYOR_HOST_ONLY",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_ENDPOINT_URL",
        "LAMBDA_TASK_ROOT",
        "PYTHONPATH",
    ]

    blue = json.loads(workers.invoke("blue", {"names": names})[0])
    green = json.loads(workers.invoke("green", {"names": names})[0])

    assert blue["COLOUR"] == "blue"
    assert green["COLOUR"] == "green"
    assert blue["CONVEYOR_HOST_ONLY"] is None
    assert (blue["AWS_LAMBDA_FUNCTION_NAME"], green["AWS_LAMBDA_FUNCTION_NAME"]) == ("blue", "green")
    assert (blue["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], green["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == ("256", "128")
    assert blue["AWS_REGION"] == REGION
    # Each function signs with credentials of its own, which the server maps back to its role.
    assert blue["AWS_ACCESS_KEY_ID"] == workers.credentials("blue")["AWS_ACCESS_KEY_ID"]
    assert blue["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5999"
    assert blue["LAMBDA_TASK_ROOT"] == str(code_dir.resolve())
    assert blue["PYTHONPATH"].split(":")[0] == str(code_dir.resolve())


def test_a_handler_exception_comes_back_as_lambda_reports_it(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    runtime = deploy(workers, function(code_dir, "fail", "app.fail"))

    payload, errored, log = workers.invoke("fail", {"item": "widget"})

    assert errored
    error = json.loads(payload)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "cannot handle widget"
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: cannot handle widget" in log
    # An exception does not cost the sandbox: the next call is warm.
    workers.invoke("fail", {"item": "gadget"})
    assert runtime.cold_starts == 1


def test_a_timeout_kills_the_worker_and_the_next_call_cold_starts(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    runtime = deploy(workers, function(code_dir, "sleepy", "app.sleep", timeout_seconds=1))
    [pid] = [json.loads(workers.invoke("sleepy", {"seconds": 0})[0])]

    started = time.monotonic()
    payload, errored, log = workers.invoke("sleepy", {"seconds": 30})

    assert time.monotonic() - started < 5
    assert errored
    error = json.loads(payload)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"] == "Task timed out after 1.00 seconds"
    assert "Task timed out after 1.00 seconds" in log
    assert process_gone(pid)  # the stuck handler really stopped

    payload, errored, log = workers.invoke("sleepy", {"seconds": 0})
    assert not errored
    assert json.loads(payload) != pid
    assert "Init Duration" in log
    assert runtime.cold_starts == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory is read from /proc")
def test_exceeding_the_memory_size_is_out_of_memory(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    deploy(workers, function(code_dir, "hog", "app.hog", memory_mb=128))

    payload, errored, log = workers.invoke("hog", {})

    assert errored
    error = json.loads(payload)
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert "signal: killed" in error["errorMessage"]
    used = int(log.split("Max Memory Used: ")[1].split(" MB")[0])
    assert used > 128
    assert workers.worker_pids("hog") == []


def test_a_process_exit_mid_invocation_is_an_exit_error(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    deploy(workers, function(code_dir, "crash", "app.crash"))

    payload, errored, _ = workers.invoke("crash", {})

    assert errored
    error = json.loads(payload)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_an_import_failure_is_reported_from_the_init_phase(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    deploy(workers, function(code_dir, "missing", "no_such_module.handler"))

    payload, errored, log = workers.invoke("missing", {})

    assert errored
    assert json.loads(payload)["errorType"] == "Runtime.ImportModuleError"
    assert "INIT_REPORT" in log
    assert "Status: error" in log


def test_a_busy_function_gets_a_second_worker(workers: WorkerLambdaRuntime, code_dir: Path) -> None:
    runtime = deploy(workers, function(code_dir, "busy", "app.sleep"))
    results: list[tuple[str, bool, str]] = []

    def call() -> None:
        results.append(workers.invoke("busy", {"seconds": 0.5}))

    callers = [threading.Thread(target=call) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=15)

    assert [errored for _, errored, _ in results] == [False, False]
    pids = {json.loads(payload) for payload, _, _ in results}
    assert len(pids) == 2
    assert runtime.cold_starts == 2
    assert sorted(workers.worker_pids("busy")) == sorted(pids)

    # Both stay warm: a later call reuses one of them.
    payload, _, _ = workers.invoke("busy", {"seconds": 0})
    assert json.loads(payload) in pids
    assert runtime.cold_starts == 2


def test_an_unknown_function_is_not_found(workers: WorkerLambdaRuntime) -> None:
    payload, errored, _ = workers.invoke("nowhere", {})

    assert errored
    assert json.loads(payload)["errorType"] == "ResourceNotFoundException"


def test_the_real_format_notification_handler_runs_in_a_worker() -> None:
    # The Globals variables template.yaml gives every function; the formatter itself reads only AWS_REGION.
    environment = {
        "MODEL_NAME": "tabular",
        "POWERTOOLS_SERVICE_NAME": "conveyor",
        "POWERTOOLS_METRICS_NAMESPACE": "Conveyor",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    runtime = function(
        REPO_ROOT / "functions" / "format_notification",
        "format-notification",
        "app.lambda_handler",
        environment,
        memory_mb=256,
        timeout_seconds=10,
    )
    execution = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:conveyor-retrain:run-1"
    event = {
        "event": "pipeline.succeeded",
        "model": "tabular",
        "execution": execution,
        "reason": "no model in production",
        "metrics": {"validation:auc": 0.99, "ignored": None},
    }

    with WorkerLambdaRuntime(layer_paths=[REPO_ROOT / "layers" / "conveyor"]) as workers:
        workers.register(runtime)
        payload, errored, log = workers.invoke(runtime.name, event)

    assert not errored, payload
    request = json.loads(payload)
    assert request["Subject"] == "[Conveyor] tabular: new model deployed"
    assert request["MessageAttributes"]["event"] == {"DataType": "String", "StringValue": "pipeline.succeeded"}
    assert request["MessageAttributes"]["severity"]["StringValue"] == "info"
    body = json.loads(request["Message"])
    assert body["metrics"] == {"validation:auc": 0.99}
    assert body["console_link"].startswith(f"https://{REGION}.console.aws.amazon.com/states/")
    # Powertools' structured log line, written by the worker to stdout, is in the invocation's log.
    assert "notification formatted" in log
    assert "Init Duration" in log
