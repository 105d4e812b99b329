"""GPU inference of the same model as ``bench.inference``, against the CPU, at batch 1 and 1024.

Backends, in order: XGBoost itself with ``device="cuda"`` when the installed XGBoost was built
with CUDA (the ``xgboost-cpu`` wheel the project pins is not); otherwise hummingbird-ml's PyTorch
translation of the same trees when ``torch`` with CUDA and ``hummingbird`` are importable.
Without an NVIDIA GPU it prints ``no NVIDIA GPU present: skipped`` and exits 0; with a GPU but
neither backend it says so and exits 0 too. No figure is ever made up.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, bench_main, log, percentile

NAME = "gpu_inference"
SKIPPED = "no NVIDIA GPU present: skipped"


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


def _measure(predict: Any, rows: Any, calls: int, repeats: int) -> tuple[float, float, float]:
    from bench.inference import latencies_us, rows_per_second

    latencies = latencies_us(predict, rows, calls)
    return percentile(latencies, 50), percentile(latencies, 99), rows_per_second(predict, rows, 1024, repeats)


def _backends(raw: bytes, rows: Any) -> tuple[str, Any, Any]:
    """(backend name, GPU predict, CPU predict) for the same trees."""
    import xgboost

    if xgboost_cuda():
        cpu = xgboost.Booster()
        cpu.load_model(bytearray(raw))
        cpu.set_param({"device": "cpu"})
        gpu = xgboost.Booster()
        gpu.load_model(bytearray(raw))
        gpu.set_param({"device": "cuda"})
        return "XGBoost device=cuda", gpu.inplace_predict, cpu.inplace_predict
    from hummingbird.ml import convert

    # The very same trees, through XGBoost's scikit-learn wrapper, which hummingbird translates.
    model = xgboost.XGBClassifier()
    model.load_model(bytearray(raw))
    model.set_params(n_jobs=1)
    on_gpu = convert(model, "torch", rows[:1024])  # hummingbird needs sample rows for XGBoost models
    on_gpu.to("cuda")
    return "hummingbird-ml -> PyTorch on CUDA", on_gpu.predict_proba, model.predict_proba


def run(smoke: bool = False) -> list[Figure]:
    """GPU vs CPU inference at batch 1 and 1024; skipped (exit 0) without an NVIDIA GPU."""
    gpu = nvidia_gpu()
    if gpu is None:
        print(SKIPPED)
        return [Figure(NAME, "GPU inference", None, "µs", note=SKIPPED, naive_label="CPU")]
    if not (xgboost_cuda() or hummingbird_cuda()):
        message = f"{gpu} present, but no CUDA backend: xgboost has no CUDA and hummingbird/torch are missing: skipped"
        print(message)
        return [Figure(NAME, "GPU inference", None, "µs", note=message, naive_label="CPU")]
    from bench.inference import train_model

    trees, depth = (20, 3) if smoke else (200, 6)
    calls, repeats = (200, 10) if smoke else (3000, 100)
    log(f"{NAME}: {gpu}; training {trees} trees of depth {depth}")
    _, raw, rows = train_model(trees, depth, 2000 if smoke else 5000)
    backend, gpu_predict, cpu_predict = _backends(raw, rows)
    started = time.perf_counter()
    gpu_predict(rows[:1024])  # first call: device set-up, kernels
    warm_up = time.perf_counter() - started
    gpu_p50, gpu_p99, gpu_rps = _measure(gpu_predict, rows, calls, repeats)
    cpu_p50, cpu_p99, cpu_rps = _measure(cpu_predict, rows, calls, repeats)
    details = {"gpu": gpu, "backend": backend, "first_call_s": warm_up}
    return [
        Figure(
            NAME,
            "batch 1 latency p50",
            gpu_p50,
            "µs",
            naive=cpu_p50,
            naive_label="same model on the CPU",
            details=details,
        ),
        Figure(NAME, "batch 1 latency p99", gpu_p99, "µs", naive=cpu_p99, naive_label="same model on the CPU"),
        Figure(NAME, "throughput at batch 1024", gpu_rps, "rows/s", naive=cpu_rps, naive_label="same model on the CPU"),
    ]


def main() -> int:
    return bench_main(NAME, run)


if __name__ == "__main__":
    raise SystemExit(main())
