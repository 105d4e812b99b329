"""Cold start: handler import time and package sizes of the ``sam build`` output.

* import time: ``python -X importtime -c "import app"`` in each function's built folder, with the
  layer and the runtime's boto3 on the path in Lambda's order (function, layer, runtime) and the
  function's environment (tracing on, as ``Tracing: Active`` makes it). ``sam build`` targets
  arm64, so the built layer's native wheels (pydantic_core, wrapt) cannot load on an x86 host: the
  layer's dependencies are rebuilt here for the host by the layer's own build,
  ``layers/conveyor/Makefile``, with only its ``PLATFORMS`` changed (same pins, same Python 3.13,
  the same packages left out and the same ``.pyc``), and ``conveyor_core`` is copied from the build
  with whatever bytecode the build shipped. The median of a few runs is reported, as built (the
  layer's shipped ``.pyc``; the function's ``app.py`` compiled at init, as Lambda does). The
  target is relative: ``import boto3`` alone, timed the same way in the same run, before and after
  the handlers, times ``TARGET_IMPORT_BOTO3_RATIO``.
* first invocation (in each import figure's note): what the first call adds once ``app`` is
  imported, with a sample event, up to its first AWS request (refused by a closed local port, so no
  network time) or to its return: work deferred from import (the AWS clients a path uses are
  created on first use, ``conveyor_core.shared.aws_clients``) shows here, not vanish.
* sizes: each function folder and the layer zipped (deflate, as ``sam deploy`` uploads them,
  bytecode included) and the layer unzipped.

The naive package is one fat function: every handler, the layer's dependencies and boto3 vendored in
one zip; its import time is that of a module importing every handler.

Without a ``python3.13`` or the package index, the host interpreter and its site-packages stand in
(with ``.pyc``; the figures are then approximate and say so).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Figure, bench_main, log

NAME = "cold_start"
# A handler may import at most this much more than boto3 alone, measured in the same run.
TARGET_IMPORT_BOTO3_RATIO = 1.5
TARGET_FUNCTION_ZIP = 1024 * 1024
# Lambda's limit for a function and all its layers unzipped (250 MB; the functions are a few KB each).
TARGET_LAYER_UNZIPPED = 250 * 1024 * 1024
LAMBDA_PYTHON = "3.13"
LAYER_SOURCE = REPO_ROOT / "layers" / "conveyor"
_BOTO3_CLOSURE = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s?(\s*)(\S+)")

# Every variable any handler reads at import or first use; each function ignores the others.
_ENVIRONMENT = {
    "MODEL_NAME": "tabular",
    "POWERTOOLS_SERVICE_NAME": "conveyor",
    "POWERTOOLS_METRICS_NAMESPACE": "Conveyor",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:conveyor-retrain",
    "RETRAIN_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:conveyor-retrain",
    "ROLLBACK_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:conveyor-rollback",
    "IDEMPOTENCY_TABLE": "conveyor-state",
    "LOCK_TABLE": "conveyor-state",
    "STATE_TABLE": "conveyor-state",
    "HISTORY_TABLE": "conveyor-history",
    "DROP_TABLE": "conveyor-drops",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:conveyor-notifications",
    "MAX_OBJECT_BYTES": "5368709120",
    "MAX_DATASET_BYTES": "5368709120",
    "ARTIFACT_BUCKET": "conveyor-artifacts",
    "DATA_BUCKET": "conveyor-data",
    "HYPERPARAMETERS": '{"objective": "binary:logistic", "num_round": "100"}',
    "METRIC_NAME": "validation:auc",
    "METRIC_DIRECTION": "maximize",
    "ENDPOINT_NAME": "conveyor-tabular",
    "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
    "DEPLOYMENT_STRATEGY": "canary",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "PYTHONDONTWRITEBYTECODE": "1",
}


# One plausible event per function, for the first-invocation figure.
_RETRAIN_ARN = _ENVIRONMENT["RETRAIN_STATE_MACHINE_ARN"]
_FIRST_EVENTS: dict[str, Any] = {
    "FinalizeRunFunction": {"model": "tabular", "run_id": "tabular-0123456789abcdef"},
    "FormatNotificationFunction": {"event": "pipeline.succeeded", "model": "tabular", "metrics": {"auc": 0.9}},
    "IngestFunction": {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-23T10:15:30Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::conveyor-data"],
        "detail": {
            "version": "0",
            "bucket": {"name": "conveyor-data"},
            "object": {"key": "incoming/churn.csv", "size": 1024, "etag": "b1946ac9", "sequencer": "00617F0829"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    },
    "NotifyDeadLettersFunction": {
        "Records": [{"messageId": "m-1", "body": "{}", "messageAttributes": {}, "attributes": {}}]
    },
    "PlanDeploymentFunction": {"run_id": "tabular-0123456789abcdef"},
    "PlanRollbackFunction": {
        "alarm": "conveyor-tabular-5xx",
        "alarm_time": "2026-11-23T17:04:40.989+0000",
        "execution": "arn:aws:states:us-east-1:123456789012:execution:conveyor-rollback:r-1",
    },
    "PreprocessFunction": {
        "model": "tabular",
        "run_id": "tabular-0123456789abcdef",
        "dataset": {
            "bucket": "conveyor-data",
            "keys": ["incoming/churn.csv"],
            "uri": "s3://conveyor-data/incoming/churn.csv",
            "kind": "single",
        },
    },
    "QualityGateFunction": {"run_id": "tabular-0123456789abcdef", "training_job_name": "tabular-0123456789abcdef"},
    "ScheduledRetrainFunction": {"scheduled_time": "2026-11-30T00:00:00Z"},
    "WatchRunsFunction": {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-23T10:15:30Z",
        "region": "us-east-1",
        "resources": [f"{_RETRAIN_ARN.replace(':stateMachine:', ':execution:')}:tabular-0123456789abcdef"],
        "detail": {
            "executionArn": f"{_RETRAIN_ARN.replace(':stateMachine:', ':execution:')}:tabular-0123456789abcdef",
            "stateMachineArn": _RETRAIN_ARN,
            "name": "tabular-0123456789abcdef",
            "status": "FAILED",
        },
    },
}


@dataclass
class Toolchain:
    python: str
    layer: Path
    runtime: Path | None
    exact: bool
    description: str
    bootstrap: bool = False


def _pin(requirements: Path, package: str) -> str | None:
    for line in requirements.read_text().splitlines():
        if line.strip().lower().startswith(f"{package}=="):
            return line.strip()
    return None


def _find_lambda_python() -> str | None:
    candidates = [os.environ.get("BENCH_LAMBDA_PYTHON", ""), shutil.which(f"python{LAMBDA_PYTHON}") or ""]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [
        str(path) for path in sorted(pyenv_root.glob(f"versions/{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}"))
    ]
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.strip() == LAMBDA_PYTHON:
            return candidate
    return None


def _pip_target(python: str, target: Path, arguments: list[str], compile_bytecode: bool) -> bool:
    command = [python, "-m", "pip", "install", "--quiet", "--target", str(target), "--disable-pip-version-check"]
    command += [] if compile_bytecode else ["--no-compile"]
    done = subprocess.run(command + arguments, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        log(f"{NAME}: pip install into {target} failed: {done.stderr.strip()[-400:]}")
    return done.returncode == 0


def _make_layer(python: str, target: Path) -> bool:
    """The layer built for this host by its own Makefile: only the wheels' platform differs from ``sam build``."""
    command = [
        "make",
        "--no-print-directory",
        "-f",
        str(LAYER_SOURCE / "Makefile"),
        "build-ConveyorLayer",
        f"ARTIFACTS_DIR={target}",
        f"PYTHON={python}",
        f"PLATFORMS=manylinux2014_{platform.machine()} manylinux_2_28_{platform.machine()}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except OSError as error:
        log(f"{NAME}: cannot run make: {error}")
        return False
    if done.returncode != 0:
        log(f"{NAME}: the layer's Makefile failed for this host: {done.stderr.strip()[-400:]}")
    return done.returncode == 0


def prepare_toolchain(build_layer: Path, smoke: bool) -> Toolchain:
    """A host-runnable copy of the Lambda environment, cached between runs; or the host fallback."""
    source_core = build_layer / "conveyor_core"
    python = None if smoke else _find_lambda_python()
    recipe = [LAYER_SOURCE / "requirements.txt", LAYER_SOURCE / "Makefile"]
    dev = REPO_ROOT / "requirements" / "dev.txt"
    runtime_pins = [_pin(dev, "boto3") or "boto3", _pin(dev, "awslambdaric") or "awslambdaric"]
    if python is not None and all(path.exists() for path in recipe):
        fingerprint = "".join(path.read_text() for path in recipe) + " ".join(runtime_pins) + python
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "conveyor-bench" / f"lambda-{digest}"
        layer_build, runtime = cache / "layer", cache / "runtime"
        ready = cache / ".ready"
        if not ready.exists():
            log(f"{NAME}: building a host copy of the layer with {python} (cached in {cache})")
            shutil.rmtree(cache, ignore_errors=True)
            ok = _make_layer(python, layer_build)
            ok = ok and _pip_target(python, runtime, runtime_pins, compile_bytecode=True)
            if ok:
                ready.touch()
        if ready.exists():
            layer = Path(tempfile.mkdtemp(prefix="conveyor-bench-layer-"))
            shutil.copytree(
                layer_build / "python", layer, dirs_exist_ok=True, ignore=shutil.ignore_patterns("conveyor_core")
            )
            # The build's own conveyor_core, with the bytecode it shipped (none from an older build).
            shutil.copytree(source_core, layer / "conveyor_core")
            return Toolchain(
                python,
                layer,
                runtime,
                True,
                f"Python {LAMBDA_PYTHON} ({python}), host build of the layer by layers/conveyor/Makefile",
                True,
            )
    fallback_layer = Path(tempfile.mkdtemp(prefix="conveyor-bench-layer-"))
    shutil.copytree(source_core, fallback_layer / "conveyor_core", ignore=shutil.ignore_patterns("__pycache__"))
    why = "smoke mode" if smoke else f"no python{LAMBDA_PYTHON} or package index"
    try:
        import awslambdaric.bootstrap  # noqa: F401

        bootstrap = True
    except ImportError:
        bootstrap = False
    return Toolchain(
        sys.executable,
        fallback_layer,
        None,
        False,
        f"approximate ({why}): host Python {sys.version.split()[0]} with its site-packages (.pyc included)",
        bootstrap,
    )


def _lambda_environment(toolchain: Toolchain, code_dir: Path, function: str) -> dict[str, str]:
    paths = [str(code_dir), str(toolchain.layer)] + ([str(toolchain.runtime)] if toolchain.runtime else [])
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(paths),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "LAMBDA_TASK_ROOT": str(code_dir),
        **_ENVIRONMENT,
    }


def import_profile(
    toolchain: Toolchain, code_dir: Path, function: str, pycache: Path | None, module: str = "app"
) -> tuple[float, dict[str, float]]:
    """Cumulative import time of ``module`` (ms) from ``-X importtime``, and its costliest direct imports."""
    env = _lambda_environment(toolchain, code_dir, function)
    if pycache is not None:
        # Precompiled variant: bytecode read from (and written once to) a cache of its own.
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # Lambda's bootstrap (awslambdaric) is imported before the handler, as the runtime does, so the
    # modules it brings (json, http, ...) are not charged to the handler.
    prelude = "import awslambdaric.bootstrap; " if toolchain.bootstrap else ""
    command = [toolchain.python, "-s", "-X", "importtime", "-c", f"{prelude}import {module}"]
    done = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed in {code_dir}: {done.stderr.strip().splitlines()[-1:]}")
    total: float | None = None
    children: dict[str, float] = {}
    pending: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if not match:
            continue
        indent, name, cumulative = match.group(3), match.group(4), int(match.group(2)) / 1000.0
        if indent == "  ":
            pending[name] = cumulative
        elif indent == "":
            if name == module:
                total, children = cumulative, pending
            pending = {}
    if total is None:
        raise RuntimeError(f"no import timing for {module} in {code_dir}")
    top = dict(sorted(children.items(), key=lambda item: -item[1])[:6])
    return total, {name: round(ms, 1) for name, ms in top.items()}


def import_ms(toolchain: Toolchain, code_dir: Path, function: str, pycache: Path | None) -> float:
    return import_profile(toolchain, code_dir, function, pycache)[0]


_FIRST_CALL = """
import json, sys, time
{prelude}
import app

class Context:
    function_name = sys.argv[2]
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 60_000

started = time.perf_counter()
try:
    app.lambda_handler(json.loads(sys.argv[1]), Context())
    outcome = "returned"
except Exception as error:
    chain, outcome = error, type(error).__name__
    while chain is not None and type(chain).__name__ != "EndpointConnectionError":
        chain = chain.__cause__ or chain.__context__
    outcome = "reached AWS" if chain is not None else outcome
print("BENCH-FIRST-CALL", json.dumps({{"ms": (time.perf_counter() - started) * 1000, "outcome": outcome}}))
"""


def first_invocation(toolchain: Toolchain, code_dir: Path, function: str) -> tuple[float | None, str]:
    """What the first invocation adds after ``import app``: up to its first AWS call, or all of it.

    Work deferred from import (a settings class built on first use, the event model's validator,
    botocore's first request) lands here. The AWS endpoint is a closed local port and retries are
    off, so the call ends, refused, at the first request; the network time is not counted.
    """
    event = _FIRST_EVENTS.get(function)
    if event is None:
        return None, "no sample event"
    env = {
        **_lambda_environment(toolchain, code_dir, function),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_MAX_ATTEMPTS": "1",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    prelude = "import awslambdaric.bootstrap" if toolchain.bootstrap else ""
    script = _FIRST_CALL.format(prelude=prelude)
    command = [toolchain.python, "-s", "-c", script, json.dumps(event), function]
    done = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True, timeout=120, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("BENCH-FIRST-CALL "):
            result = json.loads(line.split(" ", 1)[1])
            if result["outcome"] in ("returned", "reached AWS"):
                return float(result["ms"]), str(result["outcome"])
            return None, f"the sample event failed: {result['outcome']}"
    return None, f"did not run: {done.stderr.strip().splitlines()[-1:]}"


def _counted(path: Path, bytecode: bool) -> bool:
    # A build's bytecode ships (the layer's Makefile compiles it); a source folder's is local debris.
    return path.is_file() and (bytecode or "__pycache__" not in path.parts)


def _zip_size(root: Path, prefix: str = "", bytecode: bool = False) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if _counted(path, bytecode):
                archive.write(path, prefix + str(path.relative_to(root)))
    return len(buffer.getvalue())


def _tree_size(root: Path, bytecode: bool = False) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if _counted(path, bytecode))


def _functions(build: Path) -> dict[str, Path]:
    return {path.parent.name: path.parent for path in sorted(build.glob("*/app.py"))}


def _fat_handlers(functions: dict[str, Path]) -> Path:
    """The naive fat function's code: every handler in one package, imported by one ``app``."""
    fat = Path(tempfile.mkdtemp(prefix="conveyor-bench-fat-"))
    (fat / "handlers").mkdir()
    (fat / "handlers" / "__init__.py").write_text("")
    for name, folder in functions.items():
        shutil.copy(folder / "app.py", fat / "handlers" / f"{name.lower()}.py")
    (fat / "app.py").write_text(
        '"""The naive fat function: every handler in one package, dispatching on the event."""\n'
        + "\n".join(f"import handlers.{name.lower()}  # noqa: F401" for name in functions)
        + "\n"
    )
    return fat


_FLOOR_HANDLER = '''"""The floor: what the brief asks of a handler that calls AWS, and nothing of Conveyor's."""

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from pydantic import BaseModel

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))  # as Conveyor's handlers: X-Ray patches only botocore
metrics = Metrics()


class Event(BaseModel):
    run_id: str


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=Event)
def lambda_handler(event: Event, context: object) -> dict[str, str]:
    return {"run_id": event.run_id}
'''


def _floor_handler() -> Path:
    """A handler with Powertools' logger, tracer, metrics and parser, one event model and boto3; no Conveyor code."""
    floor = Path(tempfile.mkdtemp(prefix="conveyor-bench-floor-"))
    (floor / "app.py").write_text(_FLOOR_HANDLER)
    return floor


def _fat_package(handlers: Path, layer: Path, runtime: Path | None) -> Path:
    """What the fat function would upload: its handlers, the layer's packages and boto3 vendored."""
    fat = Path(tempfile.mkdtemp(prefix="conveyor-bench-fatzip-"))
    skip = shutil.ignore_patterns("__pycache__", "bin")
    shutil.copytree(handlers, fat, dirs_exist_ok=True, ignore=skip)
    shutil.copytree(layer, fat, dirs_exist_ok=True, ignore=skip)
    # boto3 and what pip installs with it: the layer leaves all of them to the runtime.
    if runtime is not None:
        sources = [runtime / name for name in _BOTO3_CLOSURE if (runtime / name).exists()]
    else:
        files = [Path(importlib.import_module(Path(name).stem).__file__ or "") for name in _BOTO3_CLOSURE]
        sources = [path.parent if path.name == "__init__.py" else path for path in files]
    for source in sources:
        if source.is_dir():
            shutil.copytree(source, fat / source.name, dirs_exist_ok=True, ignore=skip)
        else:
            shutil.copy(source, fat / source.name)
    return fat


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def run(smoke: bool = False, repeat: int | None = None) -> list[Figure]:
    """Handler import time and zipped sizes of the sam build output, against one fat function."""
    repeats = repeat or (1 if smoke else 3)
    build = REPO_ROOT / ".aws-sam" / "build"
    built = (build / "ConveyorLayer" / "python" / "conveyor_core").is_dir()
    if built:
        functions = _functions(build)
        build_layer = build / "ConveyorLayer" / "python"
        origin = "sam build output (.aws-sam/build)"
    else:
        functions = {path.parent.name: path.parent for path in sorted((REPO_ROOT / "functions").glob("*/app.py"))}
        build_layer = REPO_ROOT / "layers" / "conveyor"
        origin = "source folders (no .aws-sam/build: run `make build`)"
    toolchain = prepare_toolchain(build_layer, smoke)
    log(f"{NAME}: {len(functions)} functions from {origin}; {toolchain.description}")
    figures: list[Figure] = []
    scratch: list[Path] = [toolchain.layer]
    try:
        fat = _fat_handlers(functions)
        scratch.append(fat)
        fat_ms = _median([import_ms(toolchain, fat, "FatFunction", None) for _ in range(repeats)])
        floor = _floor_handler()
        scratch.append(floor)
        floor_ms = _median([import_ms(toolchain, floor, "FloorFunction", None) for _ in range(repeats)])
        # The reference: boto3 alone, imported in the same environment before and after the handlers.
        any_folder = next(iter(functions.values()))
        boto3_samples = [import_profile(toolchain, any_folder, "boto3", None, "boto3")[0] for _ in range(repeats)]
        # Smoke mode imports the ingest handler only.
        timed = {name: path for name, path in functions.items() if not smoke or name == "IngestFunction"}
        measured: list[tuple[str, list[float], dict[str, float], tuple[float | None, str]]] = []
        for name, folder in (timed or functions).items():
            first, costliest = import_profile(toolchain, folder, name, None)
            cold = [first] + [import_ms(toolchain, folder, name, None) for _ in range(repeats - 1)]
            measured.append((name, cold, costliest, first_invocation(toolchain, folder, name)))
        boto3_samples += [import_profile(toolchain, any_folder, "boto3", None, "boto3")[0] for _ in range(repeats)]
        boto3_ms = _median(boto3_samples)
        limit = TARGET_IMPORT_BOTO3_RATIO * boto3_ms
        figures.append(
            Figure(
                NAME,
                "import boto3 alone (the reference)",
                boto3_ms,
                "ms",
                note=f"median of {len(boto3_samples)}, before and after the handlers",
                details={"samples_ms": boto3_samples},
            )
        )
        # What no lazy import of Conveyor's own code can go below, for the 18 handlers that call AWS.
        figures.append(
            Figure(
                NAME,
                "import time, the floor: boto3, Powertools' logger, tracer, metrics and parser, one model",
                floor_ms,
                "ms",
                target=f"≤ {limit:.0f} ms ({TARGET_IMPORT_BOTO3_RATIO:g}x import boto3)",
                met=floor_ms <= limit,
                note=f"{floor_ms / boto3_ms:.2f}x boto3; no Conveyor code; every handler that calls AWS imports this",
            )
        )
        for name, cold, costliest, (called, outcome) in measured:
            if called is not None:
                reach = "to its first AWS call" if outcome == "reached AWS" else "all of it"
                note = f"{_median(cold) / boto3_ms:.2f}x boto3; first invocation +{called:.0f} ms ({reach})"
            else:
                note = f"{_median(cold) / boto3_ms:.2f}x boto3; first invocation not measured: {outcome}"
            figures.append(
                Figure(
                    NAME,
                    f"import time, {name}",
                    _median(cold),
                    "ms",
                    naive=fat_ms,
                    naive_label="one fat function importing every handler",
                    target=f"≤ {limit:.0f} ms ({TARGET_IMPORT_BOTO3_RATIO:g}x import boto3)",
                    met=_median(cold) <= limit,
                    note=note,
                    details={
                        "samples_ms": cold,
                        "first_invocation_ms": called,
                        "first_invocation_outcome": outcome,
                        "costliest_imports_ms": costliest,
                        "toolchain": toolchain.description,
                    },
                )
            )
        sizes = {name: _zip_size(folder, bytecode=built) for name, folder in functions.items()}
        largest = max(sizes, key=lambda name: sizes[name])
        fat_package = _fat_package(fat, build_layer, toolchain.runtime)
        scratch.append(fat_package)
        fat_zip = _zip_size(fat_package)
        figures.append(
            Figure(
                NAME,
                f"largest function zip ({largest}; {len(sizes)} functions)",
                sizes[largest],
                "bytes",
                naive=fat_zip,
                naive_label="fat function zip with boto3 vendored",
                target=f"≤ {TARGET_FUNCTION_ZIP:,} bytes each",
                met=all(size <= TARGET_FUNCTION_ZIP for size in sizes.values()),
                kind="size",
                details={"zipped_bytes": sizes},
            )
        )
        layer_root = build / "ConveyorLayer" if built else REPO_ROOT / "layers" / "conveyor"
        layer_unzipped = _tree_size(layer_root, bytecode=built)
        packages = sorted(
            (
                (p.name, _tree_size(p, bytecode=built) if p.is_dir() else p.stat().st_size)
                for p in build_layer.iterdir()
            ),
            key=lambda item: -item[1],
        )
        figures += [
            Figure(
                NAME,
                "layer zipped",
                _zip_size(layer_root, bytecode=built),
                "bytes",
                kind="size",
                note="" if built else "source only: dependencies not vendored without sam build",
            ),
            Figure(
                NAME,
                "layer unzipped",
                layer_unzipped,
                "bytes",
                naive=_tree_size(fat_package),
                naive_label="fat function unzipped",
                target=f"≤ {TARGET_LAYER_UNZIPPED:,} bytes",
                met=layer_unzipped <= TARGET_LAYER_UNZIPPED,
                kind="size",
                details={"largest_entries_bytes": dict(packages[:8])},
            ),
        ]
    finally:
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
    return figures


def _arguments(parser: Any) -> None:
    parser.add_argument("--repeat", type=int, help="imports per function, median reported (default 3, smoke 1)")


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
