"""Cold start: handler import time and package sizes of the ``sam build`` output.

* import time: ``python -X importtime -c "import app"`` in each function's built folder, with the
  layer and the runtime's boto3 on the path in Lambda's order (function, layer, runtime) and the
  function's environment (tracing on, as ``Tracing: Active`` makes it). ``sam build`` targets
  arm64, so the built layer's native wheels (pydantic_core) cannot load on an x86 host: the layer is
  rebuilt here for the host from ``layers/conveyor/requirements.txt`` (same pins, same Python
  3.13, no ``.pyc``, like the built layer) and ``conveyor_core`` is copied from the build. The
  median of a few runs is reported, for the as-built layer (every module compiled from source at
  init) and for the same layer with precompiled ``.pyc`` files.
* sizes: each function folder and the layer zipped (deflate, as ``sam deploy`` uploads them) and
  the layer unzipped.

The naive package is one fat function: every handler, the layer's dependencies and boto3 vendored in
one zip; its import time is that of a module importing every handler.

Without a ``python3.13`` or the package index, the host interpreter and its site-packages stand in
(with ``.pyc``; the figures are then approximate and say so).
"""

from __future__ import annotations

import hashlib
import io
import os
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
TARGET_IMPORT_MS = 300.0
TARGET_FUNCTION_ZIP = 1024 * 1024
TARGET_LAYER_UNZIPPED = 50 * 1024 * 1024
LAMBDA_PYTHON = "3.13"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s?(\s*)(\S+)")

# Every variable any handler reads at import or first use; each function ignores the others.
_ENVIRONMENT = {
    "MODEL_NAME": "tabular",
    "POWERTOOLS_SERVICE_NAME": "conveyor",
    "POWERTOOLS_METRICS_NAMESPACE": "Conveyor",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:conveyor-retrain",
    "IDEMPOTENCY_TABLE": "conveyor-state",
    "LOCK_TABLE": "conveyor-state",
    "STATE_TABLE": "conveyor-state",
    "HISTORY_TABLE": "conveyor-history",
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


def prepare_toolchain(build_layer: Path, smoke: bool) -> Toolchain:
    """A host-runnable copy of the Lambda environment, cached between runs; or the host fallback."""
    source_core = build_layer / "conveyor_core"
    python = None if smoke else _find_lambda_python()
    requirements = REPO_ROOT / "layers" / "conveyor" / "requirements.txt"
    dev = REPO_ROOT / "requirements" / "dev.txt"
    runtime_pins = [_pin(dev, "boto3") or "boto3", _pin(dev, "awslambdaric") or "awslambdaric"]
    if python is not None and requirements.exists():
        digest = hashlib.sha256((requirements.read_text() + " ".join(runtime_pins) + python).encode()).hexdigest()[:12]
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "conveyor-bench" / f"lambda-{digest}"
        layer_deps, runtime = cache / "layer-deps", cache / "runtime"
        ready = cache / ".ready"
        if not ready.exists():
            log(f"{NAME}: building a host copy of the layer with {python} (cached in {cache})")
            shutil.rmtree(cache, ignore_errors=True)
            ok = _pip_target(python, layer_deps, ["-r", str(requirements)], compile_bytecode=False)
            ok = ok and _pip_target(python, runtime, runtime_pins, compile_bytecode=True)
            if ok:
                ready.touch()
        if ready.exists():
            layer = Path(tempfile.mkdtemp(prefix="conveyor-bench-layer-"))
            shutil.copytree(layer_deps, layer, dirs_exist_ok=True)
            shutil.copytree(source_core, layer / "conveyor_core", ignore=shutil.ignore_patterns("__pycache__"))
            return Toolchain(
                python, layer, runtime, True, f"Python {LAMBDA_PYTHON} ({python}), host build of the layer", True
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


def import_profile(
    toolchain: Toolchain, code_dir: Path, function: str, pycache: Path | None
) -> tuple[float, dict[str, float]]:
    """Cumulative import time of ``app`` (ms) from ``-X importtime``, and its costliest direct imports."""
    paths = [str(code_dir), str(toolchain.layer)] + ([str(toolchain.runtime)] if toolchain.runtime else [])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(paths),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "LAMBDA_TASK_ROOT": str(code_dir),
        **_ENVIRONMENT,
    }
    if pycache is not None:
        # Precompiled variant: bytecode read from (and written once to) a cache of its own.
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # Lambda's bootstrap (awslambdaric) is imported before the handler, as the runtime does, so the
    # modules it brings (json, http, ...) are not charged to the handler.
    prelude = "import awslambdaric.bootstrap; " if toolchain.bootstrap else ""
    command = [toolchain.python, "-s", "-X", "importtime", "-c", prelude + "import app"]
    done = subprocess.run(command, cwd=code_dir, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"import app failed in {code_dir}: {done.stderr.strip().splitlines()[-1:]}")
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
            if name == "app":
                total, children = cumulative, pending
            pending = {}
    if total is None:
        raise RuntimeError(f"no import timing for app in {code_dir}")
    top = dict(sorted(children.items(), key=lambda item: -item[1])[:6])
    return total, {name: round(ms, 1) for name, ms in top.items()}


def import_ms(toolchain: Toolchain, code_dir: Path, function: str, pycache: Path | None) -> float:
    return import_profile(toolchain, code_dir, function, pycache)[0]


def _zip_size(root: Path, prefix: str = "") -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, prefix + str(path.relative_to(root)))
    return len(buffer.getvalue())


def _tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


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


def _fat_package(handlers: Path, layer: Path, runtime: Path | None) -> Path:
    """What the fat function would upload: its handlers, the layer's packages and boto3 vendored."""
    fat = Path(tempfile.mkdtemp(prefix="conveyor-bench-fatzip-"))
    skip = shutil.ignore_patterns("__pycache__", "bin")
    shutil.copytree(handlers, fat, dirs_exist_ok=True, ignore=skip)
    shutil.copytree(layer, fat, dirs_exist_ok=True, ignore=skip)
    if runtime is not None:
        for name in ("boto3", "s3transfer"):
            shutil.copytree(runtime / name, fat / name, ignore=skip)
    else:
        import boto3
        import s3transfer

        for module in (boto3, s3transfer):
            source = Path(module.__file__ or "").parent
            shutil.copytree(source, fat / source.name, ignore=skip)
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
    pycache_root = Path(tempfile.mkdtemp(prefix="conveyor-bench-pycache-"))
    scratch: list[Path] = [pycache_root, toolchain.layer]
    try:
        fat = _fat_handlers(functions)
        scratch.append(fat)
        fat_ms = _median([import_ms(toolchain, fat, "FatFunction", None) for _ in range(repeats)])
        # Smoke mode imports the ingest handler only, and skips the precompiled variant.
        timed = {name: path for name, path in functions.items() if not smoke or name == "IngestFunction"}
        for name, folder in (timed or functions).items():
            first, costliest = import_profile(toolchain, folder, name, None)
            cold = [first] + [import_ms(toolchain, folder, name, None) for _ in range(repeats - 1)]
            pycache = pycache_root / name
            warm: list[float] = []
            if not smoke:
                import_ms(toolchain, folder, name, pycache)  # writes the bytecode once
                warm = [import_ms(toolchain, folder, name, pycache) for _ in range(repeats)]
            figures.append(
                Figure(
                    NAME,
                    f"import time, {name}",
                    _median(cold),
                    "ms",
                    naive=fat_ms,
                    naive_label="one fat function importing every handler",
                    target=f"≤ {TARGET_IMPORT_MS:g} ms",
                    met=_median(cold) <= TARGET_IMPORT_MS,
                    note=f"{_median(warm):.0f} ms with precompiled .pyc" if warm else "",
                    details={
                        "samples_ms": cold,
                        "with_pyc_samples_ms": warm,
                        "costliest_imports_ms": costliest,
                        "toolchain": toolchain.description,
                    },
                )
            )
        sizes = {name: _zip_size(folder) for name, folder in functions.items()}
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
        layer_unzipped = _tree_size(layer_root)
        packages = sorted(
            ((p.name, _tree_size(p) if p.is_dir() else p.stat().st_size) for p in build_layer.iterdir()),
            key=lambda item: -item[1],
        )
        figures += [
            Figure(
                NAME,
                "layer zipped",
                _zip_size(layer_root),
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
