"""The offline stand-in for SageMaker Neo: compile an XGBoost ``model.tar.gz`` into native code.

treelite reads the model and tl2cgen turns its trees into C, which gcc builds into a shared
library for *this* host. Nothing is cross-compiled: a GPU, Inferentia or Jetson target still gets
a host CPU library, and the status message says so rather than pretend otherwise.

Before the artefact is accepted, the library and XGBoost predict the same probe rows; a model the
library would serve differently (an objective treelite post-processes in its own way, say) fails
the job instead of reaching an endpoint.

tl2cgen's code is one nested if-else per tree: unbeatable for a row or a few (no interpreter, no
set-up), but on a large batch every row mispredicts branches and XGBoost's own blocked traversal
wins: 200 trees of depth 6 ran at 0.45-0.7x XGBoost's rows/s at 1,024 rows, on one thread or on
all, and none of tl2cgen's options (branch annotation from the training rows, quantised
thresholds, other translation-unit splits) closed the gap; annotation made it worse. So the job
also times both on this host and writes into the manifest the batch size from which the endpoint
hands batches to the XGBoost model the artefact bundles anyway.
"""

from __future__ import annotations

import ctypes
import io
import json
import logging
import math
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from localcloud.sagemaker_engine.inference import (
    MANIFEST_FILE_NAME,
    POSTPROCESS_ARGMAX,
    POSTPROCESS_NONE,
    ROWS_ENTRY_POINT,
    XGBOOST_FROM_ROWS,
    CompiledModel,
    XGBoostModel,
    read_tar_members,
)
from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME, describe_xgboost_error

_LOGGER = logging.getLogger(__name__)

CompilationStatus = Literal["COMPLETED", "FAILED"]

LIBRARY_FILE_NAME = "model.so"
SUPPORTED_FRAMEWORK = "XGBOOST"
# Neo targets whose real artefact would run on an accelerator rather than the CPU.
ACCELERATOR_TARGET_PREFIXES = ("ml_g", "ml_p", "ml_inf", "ml_eia", "ml_trn", "jetson_")
# One C file per this many trees: gcc slows down more than linearly with file size (300 trees of
# depth 6 built ~35% faster as 30 files than as 3).
TREES_PER_TRANSLATION_UNIT = 10
MAX_TRANSLATION_UNITS = 64
# Appended to tl2cgen's gcc -O3 (the last -O wins). On these long if-else chains -O3 only grows the
# code: 200 trees of depth 6 took 35-40% less compiler CPU time at -O1 and predicted 5-17% more
# rows/s (gcc 12, AMD EPYC); -O2 was no better than -O3.
OPTIMISATION_FLAG = "-O1"
# Batch sizes timed to find where XGBoost overtakes the library; XGBoost's fixed cost per call
# (~0.3 ms) against the library's higher cost per row puts the crossover anywhere from a few dozen
# rows (big models) to never (small ones).
ROUTING_BATCHES = tuple(2**power for power in range(12))
ROUTING_PASSES = 3
ROUTING_CALLS = 2
# Each timed call gets rows of its own: a small batch predicted again would let the branch
# predictor learn its rows (16 rows repeated ran 3x faster through the library than 16 fresh ones).
ROUTING_ROWS = 4096
PROBE_ROWS = 256
PROBE_SEED = 20240601
PROBE_RTOL = 1e-4
PROBE_ATOL = 1e-5
PROBE_MISSING_FRACTION = 0.1


@dataclass(frozen=True)
class CompilationOutcome:
    """What DescribeCompilationJob and the compiled artefact in S3 need from a finished compilation."""

    status: CompilationStatus
    failure_reason: str | None
    artifact_tar_gz: bytes | None
    status_message: str
    seconds: float
    log: str = ""


class CompilationError(Exception):
    """The model cannot be compiled; the message is the job's FailureReason."""


def compile_model(model_tar_gz: bytes, framework: str, target_device: str, work_dir: Path) -> CompilationOutcome:
    """Compile ``model_tar_gz`` for ``target_device``; failures come back as FAILED, never raised."""
    started = time.perf_counter()
    log_lines: list[str] = []
    if framework.upper() != SUPPORTED_FRAMEWORK:
        reason = f"ClientError: the offline compiler handles {SUPPORTED_FRAMEWORK} only; got {framework}"
        return _failed(reason, started, log_lines)
    build_dir = work_dir / f"build-{uuid.uuid4().hex[:12]}"
    try:
        with _captured_native_logs(log_lines):
            artifact = _compile_xgboost(model_tar_gz, target_device, build_dir)
    except CompilationError as error:
        return _failed(str(error), started, log_lines)
    except Exception as error:  # a toolchain or library fault must still end the job, not the server
        _LOGGER.exception("offline compilation crashed")
        return _failed(f"InternalServerError: {type(error).__name__}: {error}"[:1000], started, log_lines)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    return CompilationOutcome(
        status="COMPLETED",
        failure_reason=None,
        artifact_tar_gz=artifact,
        status_message=status_message(target_device, seconds),
        seconds=seconds,
        log="\n".join(log_lines),
    )


def status_message(target_device: str, seconds: float) -> str:
    """Say what was really built: a library for this host's CPU, whatever the target."""
    import tl2cgen

    built = f"Compiled a CPU ({platform.machine()} host) artefact with tl2cgen {tl2cgen.__version__}"
    if target_device.lower().startswith(ACCELERATOR_TARGET_PREFIXES):
        return f"{built}; no GPU code was generated offline for target {target_device}."
    return f"{built} for target {target_device} in {seconds:.2f} s."


def _compile_xgboost(model_tar_gz: bytes, target_device: str, build_dir: Path) -> bytes:
    model_bytes = _xgboost_model_bytes(model_tar_gz)
    reference = _load_reference(model_bytes)
    booster = reference.booster
    config = json.loads(booster.save_config())
    objective = str(config["learner"]["objective"]["name"])
    booster_kind = str(config["learner"]["gradient_booster"]["name"])
    if booster_kind == "gblinear":
        raise CompilationError("ClientError: the offline compiler compiles tree models; this one uses booster gblinear")
    build_dir.mkdir(parents=True)
    # Re-saved as JSON so treelite reads one format, whatever XGBoost version wrote the original.
    model_json = bytes(booster.save_raw(raw_format="json"))
    json_path = build_dir / "xgboost-model.json"
    json_path.write_bytes(model_json)
    treelite_model = _load_treelite(json_path)
    libpath = build_dir / f"{uuid.uuid4().hex}.so"  # unique: dlopen() reuses a path it has loaded
    translation_units = _translation_units(int(treelite_model.num_tree))
    _export_library(treelite_model, libpath, translation_units)

    manifest = _manifest(target_device, objective, translation_units)
    compiled = CompiledModel(libpath, manifest)
    manifest.update(num_features=compiled.num_features, **compiled.describe_output())
    document = json.loads(model_json)
    _verify_against_xgboost(compiled, reference, probe_rows(document, compiled.num_features), objective)
    # Timed on rows without missing values: XGBoost's in-place prediction takes a slower path for
    # any (10% NaN took it 1.8x longer at 1,024 rows, the library 1.15x), so NaN rows would put the
    # crossover at sizes where dense traffic, the usual kind, would already be faster on XGBoost.
    dense = probe_rows(document, compiled.num_features, missing_fraction=0.0, count=ROUTING_ROWS)
    threshold, timings = _xgboost_from_rows(compiled, reference, dense)
    manifest.update({XGBOOST_FROM_ROWS: threshold, "routing_timings_us": timings})
    return _package(libpath.read_bytes(), manifest, model_bytes)


def _xgboost_model_bytes(model_tar_gz: bytes) -> bytes:
    try:
        files = read_tar_members(model_tar_gz)
    except ValueError as error:
        raise CompilationError(f"ClientError: {error}") from None
    model_bytes = files.get(MODEL_FILE_NAME)
    if model_bytes is None:
        raise CompilationError(
            f"ClientError: the model artefact holds no {MODEL_FILE_NAME}; found {sorted(files) or 'nothing'}"
        )
    return model_bytes


def _load_reference(model_bytes: bytes) -> XGBoostModel:
    try:
        return XGBoostModel(model_bytes)
    except ValueError as error:
        raise CompilationError(f"ClientError: {error}") from None


def _load_treelite(json_path: Path) -> Any:
    import treelite

    try:
        return treelite.frontend.load_xgboost_model(json_path, format_choice="json")
    except Exception as error:
        reason = describe_xgboost_error(error)
        raise CompilationError(f"ClientError: treelite cannot load the model: {reason}") from None


def _translation_units(num_tree: int) -> int:
    return max(1, min(MAX_TRANSLATION_UNITS, math.ceil(num_tree / TREES_PER_TRANSLATION_UNIT)))


def _export_library(treelite_model: Any, libpath: Path, translation_units: int) -> None:
    import tl2cgen

    source_dir = libpath.parent / "src"
    try:
        with _version_warning_held_back():
            tl2cgen.generate_c_code(treelite_model, source_dir, params={"parallel_comp": translation_units})
        with (source_dir / "main.c").open("a", encoding="utf-8") as main:
            main.write(rows_entry_point(int(treelite_model.num_feature), str(treelite_model.output_type)))
        # nthread=1: gcc runs one file at a time so a compilation never starves the offline cloud.
        built = tl2cgen.create_shared(
            "gcc", source_dir, nthread=1, options=[OPTIMISATION_FLAG], long_build_time_warning=False
        )
    except tl2cgen.TL2cgenError as error:
        raise CompilationError(f"InternalServerError: tl2cgen could not build the library: {error}"[:1000]) from None
    shutil.move(built, libpath)


def rows_entry_point(num_feature: int, leaf_output_type: str) -> str:
    """C for the entry point endpoints call: dense float rows (NaN = missing) straight into ``predict``.

    tl2cgen's own runtime first copies the rows into a DMatrix and makes four calls across ctypes to
    size and fill the output: ~40 µs a request, several times what 200 trees cost for one row. This
    is its per-row loop without that: NaN becomes tl2cgen's "missing" marker, the output starts at 0.
    """
    leaf_type = {"float32": "float", "float64": "double"}[leaf_output_type]
    return f"""
/* Added by Conveyor's offline compiler; see compilation.rows_entry_point. */
void {ROWS_ENTRY_POINT}(const float* rows, size_t num_row, {leaf_type}* out) {{
  union Entry data[{max(1, num_feature)}];
  const size_t width = (size_t)N_TARGET * MAX_N_CLASS;
  for (size_t r = 0; r < num_row; ++r) {{
    const float* row = rows + r * {num_feature};
    for (size_t j = 0; j < {num_feature}; ++j) {{
      if (isnan(row[j])) {{
        data[j].missing = -1;
      }} else {{
        data[j].fvalue = row[j];
      }}
    }}
    for (size_t k = 0; k < width; ++k) {{
      out[r * width + k] = 0;
    }}
    predict(data, 0, out + r * width);
  }}
}}
"""


def _manifest(target_device: str, objective: str, translation_units: int) -> dict[str, Any]:
    import tl2cgen
    import treelite
    import xgboost

    return {
        "compiler": "tl2cgen",
        "optimisation": OPTIMISATION_FLAG,
        "entry_point": ROWS_ENTRY_POINT,
        "framework": SUPPORTED_FRAMEWORK,
        "target_device": target_device,
        "host_machine": platform.machine(),
        "library": LIBRARY_FILE_NAME,
        "objective": objective,
        # treelite applies sigmoid/softmax/exp itself but knows no "predict the class index".
        "postprocess": POSTPROCESS_ARGMAX if objective == "multi:softmax" else POSTPROCESS_NONE,
        "parallel_comp": translation_units,
        "treelite_version": treelite.__version__,
        "tl2cgen_version": tl2cgen.__version__,
        "xgboost_version": xgboost.__version__,
    }


def probe_rows(
    model_json: dict[str, Any],
    num_features: int,
    missing_fraction: float = PROBE_MISSING_FRACTION,
    count: int = PROBE_ROWS,
) -> npt.NDArray[np.float32]:
    """Rows that land on both sides of the model's own split points, plus missing values.

    Random rows far from the thresholds would all reach the same leaves and prove little.
    """
    thresholds: list[list[float]] = [[] for _ in range(num_features)]
    for tree in _trees(model_json):
        for left, feature, condition in zip(
            tree["left_children"], tree["split_indices"], tree["split_conditions"], strict=True
        ):
            if left != -1 and feature < num_features:
                thresholds[feature].append(float(condition))
    rng = np.random.default_rng(PROBE_SEED)
    rows = rng.normal(size=(count, num_features)).astype(np.float32)
    for feature, points in enumerate(thresholds):
        if points:
            picked = rng.choice(np.asarray(points), size=count)
            nudge = rng.choice([-1.0, 1.0], size=count) * np.maximum(np.abs(picked) * 1e-3, 1e-3)
            rows[:, feature] = picked + nudge
    rows[rng.random(size=rows.shape) < missing_fraction] = np.nan
    return rows


def _trees(model_json: dict[str, Any]) -> list[dict[str, Any]]:
    gradient_booster = model_json["learner"]["gradient_booster"]
    model = gradient_booster.get("model") or gradient_booster.get("gbtree", {}).get("model", {})
    trees: list[dict[str, Any]] = model.get("trees", [])
    return trees


def _verify_against_xgboost(
    compiled: CompiledModel, reference: XGBoostModel, rows: npt.NDArray[np.float32], objective: str
) -> None:
    expected = reference.predict(rows)
    actual = compiled.library_predict(rows)
    if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=PROBE_RTOL, atol=PROBE_ATOL):
        detail = (
            f"shape {actual.shape} vs {expected.shape}"
            if actual.shape != expected.shape
            else f"largest difference {float(np.max(np.abs(actual - expected))):.3g}"
        )
        raise CompilationError(
            f"ClientError: the compiled library does not reproduce XGBoost's predictions for objective "
            f"{objective} ({detail}); serve the uncompiled model instead"
        )


def _xgboost_from_rows(
    compiled: CompiledModel, reference: XGBoostModel, pool: npt.NDArray[np.float32]
) -> tuple[int | None, dict[str, list[float]]]:
    """The smallest batch from which XGBoost predicts faster than the library here; None for never.

    Both give the same answers (checked just before), so a threshold that noise moved a step costs
    some speed near the crossover, never a wrong prediction. The ladder is timed in a few passes
    and each size keeps its fastest call, since a neighbour's burst of load on a shared host lasts
    longer than one pass; XGBoost must then win at the threshold and at every size above it. The
    timings go into the manifest so the choice can be read back.
    """
    fastest = {batch: [math.inf, math.inf] for batch in ROUTING_BATCHES}
    calls = 0
    for _ in range(ROUTING_PASSES):
        for batch in ROUTING_BATCHES:
            blocks = []
            for _ in range(ROUTING_CALLS):
                blocks.append(np.take(pool, range(calls * batch, (calls + 1) * batch), axis=0, mode="wrap"))
                calls += 1
            timed = _fastest_us((compiled.library_predict, reference.predict), blocks)
            fastest[batch] = [min(old, new) for old, new in zip(fastest[batch], timed, strict=True)]
    threshold: int | None = None
    for batch in reversed(ROUTING_BATCHES):
        library_us, xgboost_us = fastest[batch]
        if xgboost_us >= library_us:
            break
        threshold = batch
    timings = {
        str(batch): [round(library_us, 1), round(xgboost_us, 1)] for batch, (library_us, xgboost_us) in fastest.items()
    }
    return threshold, timings


def _fastest_us(predictors: tuple[Any, ...], blocks: list[npt.NDArray[np.float32]]) -> list[float]:
    # An untimed call each first: the first batch of a new size pays for fresh memory.
    for predict in predictors:
        predict(blocks[-1])
    best = [math.inf] * len(predictors)
    for block in blocks:
        for index, predict in enumerate(predictors):
            started = time.perf_counter()
            predict(block)
            best[index] = min(best[index], (time.perf_counter() - started) * 1e6)
    return best


def _package(library: bytes, manifest: dict[str, Any], model_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in (
            (LIBRARY_FILE_NAME, library),
            (MANIFEST_FILE_NAME, json.dumps(manifest, indent=2).encode("utf-8")),
            # Kept so hosting can fall back to XGBoost where the library cannot load (another CPU).
            (MODEL_FILE_NAME, model_bytes),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755 if name.endswith(".so") else 0o644
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _failed(reason: str, started: float, log_lines: list[str]) -> CompilationOutcome:
    return CompilationOutcome(
        status="FAILED",
        failure_reason=reason,
        artifact_tar_gz=None,
        status_message=reason,
        seconds=time.perf_counter() - started,
        log="\n".join(log_lines),
    )


# --- native log routing ---------------------------------------------------------------------------
# treelite and tl2cgen print their native logs straight to the console, from a per-thread callback
# registry. Routing them to `logging` (and into the job's log) keeps a busy offline cloud's console
# readable. One message has no callback: tl2cgen 1.0.0 (the latest release) bundles treelite 4.1.2
# and loads the model from a checkpoint that the installed treelite (4.8.1, pinned in requirements)
# writes, so the bundled runtime warns on stderr that the model "originated from a newer Treelite
# version". tl2cgen reads newer checkpoints of the same major version by design, and every
# compiled library is checked against XGBoost's predictions, so :func:`_version_warning_held_back`
# moves that warning into the job's log at the file-descriptor level, passing on anything else.

_capture = threading.local()


def _native_log(message: bytes) -> None:
    text = message.decode("utf-8", errors="replace").strip()
    _LOGGER.debug("%s", text)
    lines: list[str] | None = getattr(_capture, "lines", None)
    if lines is not None:
        lines.append(text)


# Kept at module level: the native side holds a bare pointer, so the wrapper must never be collected.
_NATIVE_LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_char_p)(_native_log)


@contextmanager
def _captured_native_logs(lines: list[str]) -> Iterator[None]:
    _capture.lines = lines
    _register_native_log_callbacks()
    try:
        yield
    finally:
        _capture.lines = None


def _register_native_log_callbacks() -> None:
    # The registries are thread-local, so this runs for every compilation, on its own thread.
    try:
        import tl2cgen.libloader
        import treelite.core

        for library, prefix in ((tl2cgen.libloader._LIB, "TL2cgen"), (treelite.core._LIB, "Treelite")):
            getattr(library, f"{prefix}RegisterLogCallback")(_NATIVE_LOG_CALLBACK)
            getattr(library, f"{prefix}RegisterWarningCallback")(_NATIVE_LOG_CALLBACK)
    except (ImportError, AttributeError) as error:  # private hooks; losing them only costs console noise
        _LOGGER.debug("native log routing unavailable: %s", error)


# The lines of the bundled runtime's version warning (a dmlc-style log line, then two plain ones).
_VERSION_WARNING_MARKERS = (
    "originated from a newer Treelite version",
    "Currently running Treelite version",
    "The model checkpoint was generated from Treelite version",
)
# fd 2 is process-wide: one redirect at a time, or two compilations would restore each other's fd.
_STDERR_REDIRECT = threading.Lock()


@contextmanager
def _version_warning_held_back() -> Iterator[None]:
    """Hold back the bundled treelite's version warning; pass on anything else written to stderr.

    The warning goes to the job's log instead. If the block fails, everything captured goes back to
    stderr unfiltered, since then it may explain the failure.
    """
    with _STDERR_REDIRECT, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            _pass_on(text, hold_back=not failed)


def _pass_on(text: str, hold_back: bool) -> None:
    kept = []
    for line in text.splitlines(keepends=True):
        if hold_back and any(marker in line for marker in _VERSION_WARNING_MARKERS):
            _native_log(line.encode())
        else:
            kept.append(line)
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
