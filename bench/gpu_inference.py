"""GPU inference for both model families, against the uncompiled model and the CPU, at batch 1, 64 and 1024.

Every runtime answers float32 NumPy rows with NumPy predictions, as an endpoint does, so each call
includes the copies to and from the GPU; on CUDA each timed call ends with
``torch.cuda.synchronize()`` when PyTorch has CUDA. Per runtime and batch size: p50 and p99 latency
over up to a few thousand calls (each measurement capped at ``CAP_SECONDS``) and rows/s (the batch
size over the mean latency). Every runtime's answers are checked against a reference before it is
timed (``np.allclose``; CUDA paths get a looser tolerance for cuBLAS/TF32 rounding, and the largest
difference seen is in each figure's details); a runtime that answers differently is not timed.

pytorch family: the family's own network (``TabularNet`` of the training script: 30 features, two
hidden layers of 256, a sigmoid) with seeded random weights (``torch.manual_seed(0)``; not trained:
the timing does not depend on the weights' values). It is saved as training saves it (traced
``model.pth`` and ``conveyor-model.json`` in a ``model.tar.gz``) and compiled by the offline Neo
(``localcloud.sagemaker_engine.pytorch_engine.ENGINE.compile``, target ``ml_g4dn``: traced
TorchScript -> ONNX -> ONNX Runtime ``ORT_ENABLE_ALL`` graph). Runtimes:

* compiled: the Neo's graph on ONNX Runtime's ``CUDAExecutionProvider`` (options as the endpoint's
  ``OnnxModel``); where ONNX Runtime has no CUDA provider it says the compiled artefact could only
  run on the CPU. The details say on which provider each node of the graph ran.
* uncompiled: the traced TorchScript module on CUDA (what ``TorchScriptModel`` serves; each row's
  naive figure, or TorchScript on the CPU where PyTorch has no CUDA) and eager PyTorch on CUDA.
* CPU: the Neo's graph on ONNX Runtime's CPU provider, and the traced TorchScript module, both on
  all of PyTorch's threads.
* diagnostic: the Neo's unoptimized ONNX export on ONNX Runtime CUDA (ONNX Runtime optimizing at
  load for CUDA), which shows whether the CPU-optimized graph costs anything on a GPU.

Answers are checked against eager PyTorch on the CPU. Speed-up figures (ratios of p50 latencies)
compare the compiled graph on CUDA with uncompiled TorchScript on CUDA, the faster CPU runtime and
the unoptimized export on CUDA.

xgboost family: the model of ``bench.inference`` (200 trees of depth 6 on 30 features) on the GPU
through XGBoost with ``device="cuda"`` when the installed XGBoost was built with CUDA (the
``xgboost-cpu`` wheel the project pins is not), otherwise hummingbird-ml's PyTorch translation of
the same trees on CUDA; against XGBoost's ``inplace_predict`` on the CPU (all cores), which is also
the reference for the answers.

Without an NVIDIA GPU it prints ``no NVIDIA GPU present: skipped`` and exits 0 with no figure
(``--cpu-paths`` measures the CPU rows anyway, labelled CPU, to check the script). With a GPU, what
cannot run (a package missing, no CUDA build) is a figure without a value that says why; the other
rows are still measured. No figure is ever made up. A full run takes a minute or two on a GPU
machine, and at most about 5 (the per-measurement cap); ``--smoke`` takes seconds.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Figure, bench_main, log, percentile

NAME = "gpu_inference"
SKIPPED = "no NVIDIA GPU present: skipped"
BATCHES = (1, 64, 1024)
FEATURES = 30
CALLS = {1: 3000, 64: 3000, 1024: 1000}
SMOKE_CALLS = {1: 30, 64: 30, 1024: 10}
# Per runtime and batch size, warm-up included: 2 families x 8 runtimes x 3 batch sizes stay under 4 minutes.
CAP_SECONDS = 10.0
SMOKE_CAP_SECONDS = 2.0
CPU_ATOL = 1e-5
CUDA_ATOL = 5e-3  # cuBLAS reduction order and TF32 (ONNX Runtime's CUDA provider may use it) on outputs in [0, 1]
TREES_ATOL = 1e-4
TS_CUDA = "uncompiled: TorchScript (traced) on CUDA"
ORT_CUDA = "compiled: the Neo's ONNX graph on ONNX Runtime CUDA"
EAGER_CUDA = "uncompiled: eager PyTorch on CUDA"
ORT_CPU = "CPU: the Neo's ONNX graph on ONNX Runtime CPU"
TS_CPU = "CPU: TorchScript (traced) on the CPU"
EXPORT_CUDA = "diagnostic: unoptimized ONNX export on ONNX Runtime CUDA"
XGB_CPU = "CPU: XGBoost inplace_predict"


def nvidia_gpu() -> str | None:
    """The first NVIDIA GPU's name, or None."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            listed = None
        if listed is not None and listed.returncode == 0 and "GPU" in listed.stdout:
            return listed.stdout.strip().splitlines()[0]
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return "NVIDIA GPU (from /proc/driver/nvidia)"
    return None


def xgboost_cuda() -> bool:
    try:
        import xgboost

        return bool(xgboost.build_info().get("USE_CUDA"))
    except Exception:
        return False


def hummingbird_cuda() -> bool:
    try:
        import hummingbird.ml  # noqa: F401
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def _missing(*modules: str) -> list[str]:
    return [module for module in modules if importlib.util.find_spec(module) is None]


def _torch_cuda_sync() -> Callable[[], None] | None:
    """``torch.cuda.synchronize`` when PyTorch with CUDA is importable (it waits for the whole device)."""
    if _missing("torch"):
        return None
    import torch

    return torch.cuda.synchronize if torch.cuda.is_available() else None


@contextmanager
def _quiet() -> Iterator[None]:
    # TorchScript and its ONNX exporter are deprecated in recent PyTorch; the family still ships them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*TracerWarning.*")
        yield


@dataclass
class Runtime:
    """One way to answer rows: NumPy float32 rows in, predictions out."""

    name: str
    device: str
    predict: Callable[[Any], Any]
    atol: float
    sync: Callable[[], None] | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Family:
    """A model family's runtimes, what they are checked against and what could not run."""

    name: str
    rows: Any
    reference: Callable[[Any], Any]
    reference_label: str
    runtimes: list[Runtime]  # the baseline first
    baseline: str
    comparisons: list[tuple[str, tuple[str, ...], str]]  # (runtime, against the best of, label)
    skipped: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def skip(self, what: str, why: str) -> None:
        print(f"{self.name}: {what}: {why}")
        self.skipped.append(Figure(NAME, f"{self.name}, {what}", None, "µs", note=why))


def _skipped_family(family: str, why: str) -> list[Figure]:
    print(f"{family} family: {why}")
    return [Figure(NAME, f"{family} family", None, "µs", note=why)]


# --- measuring ---------------------------------------------------------------------------------


def _blocks(rows: Any, batch: int) -> list[Any]:
    """Consecutive batches of the rows: the calls step through them rather than repeat one."""
    return [rows[start : start + batch] for start in range(0, len(rows) - batch + 1, batch)]


def _latencies_us(runtime: Runtime, blocks: list[Any], calls: int, cap_seconds: float) -> list[float]:
    predict, sync = runtime.predict, runtime.sync or (lambda: None)
    started = time.perf_counter()
    deadline = started + cap_seconds
    for index in range(max(5, calls // 10)):  # warm-up: a quarter of the cap at most
        predict(blocks[index % len(blocks)])
        if time.perf_counter() > started + cap_seconds / 4:
            break
    sync()
    measured: list[float] = []
    for index in range(calls):
        block = blocks[index % len(blocks)]
        started = time.perf_counter_ns()
        predict(block)
        sync()
        measured.append((time.perf_counter_ns() - started) / 1000)
        if len(measured) >= 10 and time.perf_counter() > deadline:
            break
    return measured


def _answers(predict: Callable[[Any], Any], block: Any) -> Any:
    import numpy as np

    return np.asarray(predict(block), dtype=np.float64).reshape(-1)


def _measure(family: Family, smoke: bool) -> list[Figure]:
    import numpy as np

    calls_for = SMOKE_CALLS if smoke else CALLS
    cap = SMOKE_CAP_SECONDS if smoke else CAP_SECONDS
    figures: list[Figure] = []
    p50s: dict[tuple[str, int], float] = {}
    first_call: dict[str, float] = {}
    for batch in BATCHES:
        blocks = _blocks(family.rows, batch)
        expected = _answers(family.reference, blocks[0])
        for runtime in family.runtimes:
            label = f"{family.name}, {runtime.name}, batch {batch}"
            started = time.perf_counter()
            try:
                answer = _answers(runtime.predict, blocks[0])
            except Exception as error:
                why = f"failed on its first call: {type(error).__name__}: {str(error)[:300]}"
                log(f"{label}: {why}")
                figures.append(Figure(NAME, label, None, "µs", note=why))
                continue
            first_call.setdefault(runtime.name, time.perf_counter() - started)
            difference = float(np.max(np.abs(answer - expected))) if answer.shape == expected.shape else None
            if difference is None or not np.allclose(answer, expected, rtol=0, atol=runtime.atol):
                shown = "shape differs" if difference is None else f"by up to {difference:.3g}"
                why = f"answers differ from {family.reference_label} ({shown}, tolerance {runtime.atol:g}): not timed"
                log(f"{label}: {why}")
                figures.append(Figure(NAME, label, None, "µs", note=why))
                continue
            latencies = _latencies_us(runtime, blocks, calls_for[batch], cap)
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            rows_per_second = batch * len(latencies) / (sum(latencies) / 1e6)
            p50s[(runtime.name, batch)] = p50
            log(f"{label}: p50 {p50:,.1f} µs, p99 {p99:,.1f} µs, {rows_per_second:,.0f} rows/s")
            baseline = p50s.get((family.baseline, batch)) if runtime.name != family.baseline else None
            details = {
                "family": family.name,
                "runtime": runtime.name,
                "device": runtime.device,
                "batch": batch,
                "p50_us": p50,
                "p99_us": p99,
                "rows_per_second": rows_per_second,
                "calls": len(latencies),
                "max_abs_difference_from_reference": difference,
                "reference": family.reference_label,
                "first_call_s": first_call[runtime.name],
                **runtime.details,
            }
            if not any(figure.value is not None for figure in figures):
                details["family_details"] = family.details
            figures.append(
                Figure(
                    NAME,
                    label,
                    p50,
                    "µs",
                    naive=baseline,
                    naive_label=f"{family.baseline}, p50" if baseline is not None else "",
                    note=f"p50; p99 {p99:,.1f} µs; {rows_per_second:,.0f} rows/s ({len(latencies)} calls)",
                    details=details,
                )
            )
    for target, against, text in family.comparisons:
        for batch in BATCHES:
            others = [p50s[(name, batch)] for name in against if (name, batch) in p50s]
            if (target, batch) in p50s and others:
                figures.append(
                    Figure(
                        NAME,
                        f"{family.name}, batch {batch}: {text}",
                        round(min(others) / p50s[(target, batch)], 2),
                        "x",
                        note="ratio of p50 latencies; above 1: faster",
                        details={"runtime": target, "against": list(against), "batch": batch},
                    )
                )
    return figures


# --- the pytorch family ------------------------------------------------------------------------


def _model_tar_gz(model_pth: bytes, torch_version: str) -> bytes:
    """``model.tar.gz`` as the family's training script saves it (``save()``), without ``code/``."""
    description = {
        "framework": "PYTORCH",
        "torch_version": torch_version,
        "features": FEATURES,
        "objective": "binary:logistic",
        "input": {"name": "input0", "shape": [1, FEATURES], "dtype": "float32"},
    }
    files = {"model.pth": model_pth, "conveyor-model.json": json.dumps(description, indent=2).encode()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _offline_neo(archive: bytes, work: Path, torch_version: str) -> tuple[bytes | None, bytes | None, dict[str, Any]]:
    """(optimized graph, unoptimized export, details) from the offline Neo; details["failure"] says why not."""
    missing = _missing("onnx", "onnxruntime")
    if missing:
        return None, None, {"failure": f"{' and '.join(missing)} not installed: the offline Neo cannot compile"}
    try:
        from localcloud.sagemaker_engine.inference import read_tar_members
        from localcloud.sagemaker_engine.pytorch_engine import COMPILED_FILE, ENGINE, MANIFEST_FILE
    except ImportError as error:
        return None, None, {"failure": f"the offline Neo (localcloud) could not be imported: {error}"}
    started = time.perf_counter()
    try:
        outcome = ENGINE.compile(archive, "PYTORCH", "ml_g4dn", work / "neo", torch_version.partition("+")[0])
    except Exception as error:
        return None, None, {"failure": f"the offline Neo raised {type(error).__name__}: {str(error)[:300]}"}
    seconds = time.perf_counter() - started
    if outcome.status != "COMPLETED" or outcome.artifact_tar_gz is None:
        return None, None, {"failure": f"the offline Neo failed: {outcome.failure_reason}"}
    files = read_tar_members(outcome.artifact_tar_gz)
    details: dict[str, Any] = {"compile_s": seconds, "manifest": json.loads(files[MANIFEST_FILE])}
    graph = files[COMPILED_FILE]
    try:
        import onnx

        details["compiled_graph_ops"] = [node.op_type for node in onnx.load_from_string(graph).graph.node]
    except Exception as error:
        details["compiled_graph_ops"] = f"unread: {error}"
    try:
        served = ENGINE.load(outcome.artifact_tar_gz, work / "served")
        details["endpoint_loads_it_as"] = f"{type(served).__name__}: {served.note}"
    except Exception as error:
        details["endpoint_loads_it_as"] = f"failed: {type(error).__name__}: {error}"
    exported_path = work / "neo" / "exported.onnx"
    return graph, exported_path.read_bytes() if exported_path.exists() else None, details


def _ort_session(graph: bytes, cuda: bool, threads: int, profile_prefix: Path | None = None) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    return onnxruntime.InferenceSession(graph, options, providers=providers)


def _ort_runner(session: Any) -> Callable[[Any], Any]:
    name = session.get_inputs()[0].name

    def predict(rows: Any) -> Any:
        return session.run(None, {name: rows})[0]

    return predict


def _node_providers(graph: bytes, cuda: bool, threads: int, rows: Any, work: Path) -> list[str] | str:
    """Which execution provider ran each node of the graph, from ONNX Runtime's own profile."""
    try:
        session = _ort_session(graph, cuda, threads, work / "ort-profile")
        _ort_runner(session)(rows)
        profile = Path(session.end_profiling())
        events = json.loads(profile.read_text())
        profile.unlink(missing_ok=True)
    except Exception as error:
        return f"unknown: {type(error).__name__}: {error}"
    return [
        f"{event['args'].get('op_name')}: {event['args'].get('provider')}"
        for event in events
        if event.get("cat") == "Node" and str(event.get("name", "")).endswith("_kernel_time")
    ]


def _ort_cuda(graph: bytes, rows: Any, work: Path, sync: Callable[[], None] | None) -> tuple[Runtime | None, str]:
    """A runtime on ONNX Runtime's CUDA provider as the endpoint's ``OnnxModel`` opens it, or why not."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        return None, f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (it has {available})"
    try:
        session = _ort_session(graph, cuda=True, threads=1)  # OnnxModel's options: one CPU thread
    except Exception as error:
        return None, f"ONNX Runtime's CUDA provider did not start: {type(error).__name__}: {str(error)[:300]}"
    if session.get_providers()[0] != "CUDAExecutionProvider":
        return None, f"ONNX Runtime did not start its CUDA provider (session providers: {session.get_providers()})"
    options = session.get_provider_options().get("CUDAExecutionProvider", {})
    details = {
        "onnxruntime": onnxruntime.__version__,
        "cuda_provider_options": {key: options[key] for key in ("device_id", "use_tf32") if key in options},
        "node_providers": _node_providers(graph, True, 1, rows[:64], work),
    }
    return Runtime("", "cuda", _ort_runner(session), CUDA_ATOL, sync, details), ""


def _pytorch_family(cuda_wanted: bool, smoke: bool, work: Path) -> Family | list[Figure]:
    missing = _missing("torch", "numpy")
    if missing:
        return _skipped_family("pytorch", f"{' and '.join(missing)} not installed: skipped")
    import numpy as np
    import torch

    from bench.torch_compile_choice import _network

    net = _network()  # the family's TabularNet, torch.manual_seed(0): seeded random weights, not trained
    with _quiet():
        traced = torch.jit.trace(net, torch.zeros(1, FEATURES))
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    model_pth = buffer.getvalue()
    rows = np.random.default_rng(0).normal(size=(2048 if smoke else 8192, FEATURES)).astype(np.float32)
    threads = torch.get_num_threads()

    def on_torch(module: Any, device: str) -> Callable[[Any], Any]:
        def predict(block: Any) -> Any:
            with torch.inference_mode():
                return module(torch.from_numpy(block).to(device)).cpu().numpy()

        return predict

    cuda_torch = cuda_wanted and torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda_torch else None
    family = Family(
        "pytorch",
        rows,
        on_torch(net, "cpu"),
        "eager PyTorch on the CPU",
        [],
        TS_CUDA if cuda_torch else TS_CPU,
        [
            (ORT_CUDA, (TS_CUDA,), "compiled on CUDA vs uncompiled TorchScript on CUDA"),
            (ORT_CUDA, (ORT_CPU, TS_CPU), "compiled on CUDA vs the faster CPU runtime"),
            (ORT_CUDA, (EXPORT_CUDA,), "compiled on CUDA vs the unoptimized export on CUDA"),
        ],
        details={
            "weights": "seeded random (torch.manual_seed(0)), not trained",
            "network": "TabularNet: 30 features -> 256 -> 256 -> 1, sigmoid",
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "torch_threads": threads,
            "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        },
    )
    if cuda_wanted and not cuda_torch:
        family.skip(
            "uncompiled on CUDA",
            f"torch {torch.__version__} has no usable CUDA (torch.version.cuda={torch.version.cuda}): skipped",
        )
    if cuda_torch:
        family.details["cuda_device"] = torch.cuda.get_device_name(0)
        with _quiet():
            on_gpu = torch.jit.load(io.BytesIO(model_pth), map_location="cuda").eval()
        family.runtimes.append(Runtime(TS_CUDA, "cuda", on_torch(on_gpu, "cuda"), CUDA_ATOL, sync))

    log("pytorch: compiling with the offline Neo")
    graph, exported, neo = _offline_neo(_model_tar_gz(model_pth, torch.__version__), work, torch.__version__)
    family.details["offline_neo"] = neo
    if graph is None:
        family.skip("compiled (ONNX Runtime, CUDA and CPU)", f"{neo['failure']}: skipped")
    elif cuda_wanted:
        compiled, why = _ort_cuda(graph, rows, work, sync)
        if compiled is None:
            family.skip(ORT_CUDA, f"the compiled artefact could only run on the CPU: {why} (see the CPU row)")
        else:
            compiled.name = ORT_CUDA
            family.runtimes.append(compiled)

    if cuda_torch:
        family.runtimes.append(
            Runtime(EAGER_CUDA, "cuda", on_torch(copy.deepcopy(net).to("cuda"), "cuda"), CUDA_ATOL, sync)
        )
    with _quiet():
        on_cpu = torch.jit.load(io.BytesIO(model_pth), map_location="cpu").eval()
    cpu_runtimes = [Runtime(TS_CPU, "cpu", on_torch(on_cpu, "cpu"), CPU_ATOL, details={"threads": threads})]
    if graph is not None:
        session = _ort_session(graph, cuda=False, threads=threads)
        cpu_runtimes.append(Runtime(ORT_CPU, "cpu", _ort_runner(session), CPU_ATOL, details={"threads": threads}))
    # The baseline runs first in each batch so that every other row can name it.
    family.runtimes = family.runtimes + cpu_runtimes if cuda_torch else cpu_runtimes + family.runtimes
    if graph is not None and exported is not None and any(runtime.name == ORT_CUDA for runtime in family.runtimes):
        diagnostic, why = _ort_cuda(exported, rows, work, sync)
        if diagnostic is None:
            family.skip(EXPORT_CUDA, why)
        else:
            diagnostic.name = EXPORT_CUDA
            family.runtimes.append(diagnostic)
    return family


# --- the xgboost family ------------------------------------------------------------------------


def _xgboost_family(cuda_wanted: bool, smoke: bool, work: Path) -> Family | list[Figure]:
    del work
    missing = _missing("xgboost", "sklearn", "numpy")
    if missing:
        return _skipped_family("xgboost", f"{' and '.join(missing)} not installed: skipped")
    import xgboost

    from bench.inference import train_model

    trees, depth = (20, 3) if smoke else (200, 6)
    log(f"xgboost: training {trees} trees of depth {depth}")
    _, raw, rows = train_model(trees, depth, 2000 if smoke else 5000)
    cpu = xgboost.Booster()
    cpu.load_model(bytearray(raw))
    cpu.set_param({"device": "cpu"})
    family = Family(
        "xgboost",
        rows,
        cpu.inplace_predict,
        "XGBoost on the CPU",
        [Runtime(XGB_CPU, "cpu", cpu.inplace_predict, 0.0, details={"threads": "XGBoost default (all cores)"})],
        XGB_CPU,
        [],
        details={"model": f"{trees} trees of depth {depth}, binary:logistic", "xgboost": xgboost.__version__},
    )
    if not cuda_wanted:
        return family
    sync = _torch_cuda_sync()
    if xgboost_cuda():
        gpu = xgboost.Booster()
        gpu.load_model(bytearray(raw))
        gpu.set_param({"device": "cuda"})
        gpu.inplace_predict(rows[:64])  # any warning about the rows being on the host shows once, here
        xgboost.set_config(verbosity=0)
        name = "GPU: XGBoost device=cuda"
        details = {"input": "NumPy rows on the host, copied each call; xgboost verbosity 0 while timing"}
        family.runtimes.append(Runtime(name, "cuda", gpu.inplace_predict, TREES_ATOL, sync, details))
    elif hummingbird_cuda():
        from hummingbird.ml import convert

        # The very same trees, through XGBoost's scikit-learn wrapper, which hummingbird translates.
        model = xgboost.XGBClassifier()
        model.load_model(bytearray(raw))
        on_gpu = convert(model, "torch", rows[:1024])  # hummingbird needs sample rows for XGBoost models
        on_gpu.to("cuda")

        def translated(block: Any) -> Any:
            return on_gpu.predict_proba(block)[:, 1]

        name = "GPU: hummingbird-ml -> PyTorch on CUDA"
        family.runtimes.append(Runtime(name, "cuda", translated, TREES_ATOL, sync))
    else:
        family.skip(
            "GPU",
            "no CUDA backend for the trees: the installed XGBoost has no CUDA, and hummingbird-ml or "
            "PyTorch with CUDA is missing: skipped",
        )
        return family
    family.comparisons.append((name, (XGB_CPU,), "GPU vs the CPU"))
    return family


# --- the command -------------------------------------------------------------------------------


def run(smoke: bool = False, cpu_paths: bool = False) -> list[Figure]:
    """Both families on CUDA (compiled, uncompiled) and the CPU at batch 1, 64, 1024; skipped without a GPU."""
    gpu = nvidia_gpu()
    if gpu is None and not cpu_paths:
        print(SKIPPED)
        return [Figure(NAME, "GPU inference", None, "µs", note=SKIPPED, naive_label="CPU")]
    figures: list[Figure] = []
    if gpu is None:
        note = f"{SKIPPED}: no GPU figure; the CPU rows below were measured because of --cpu-paths"
        print(note)
        figures.append(Figure(NAME, "GPU inference", None, "µs", note=note))
    else:
        log(f"{NAME}: {gpu}")
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-gpu-") as folder:
        for family_name, build in (("pytorch", _pytorch_family), ("xgboost", _xgboost_family)):
            try:
                built = build(gpu is not None, smoke, Path(folder))
                if isinstance(built, list):
                    figures.extend(built)
                    continue
                built.details["gpu"] = gpu
                figures.extend(built.skipped)
                figures.extend(_measure(built, smoke))
            except Exception as error:
                traceback.print_exc()
                why = f"failed: {type(error).__name__}: {str(error)[:300]}"
                print(f"{family_name} family: {why}")
                figures.append(Figure(NAME, f"{family_name} family", None, "µs", note=why))
    return figures


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpu-paths",
        action="store_true",
        help="without a GPU, still measure the CPU rows (labelled CPU) to check the script; no GPU figure is made",
    )


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
