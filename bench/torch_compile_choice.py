"""Which runtime the offline Neo uses for the pytorch family, by measurement on this machine.

The model is the family's own network (``TabularNet`` of the training script: 30 features, two
hidden layers of 256, a sigmoid), traced as training saves it. Each runtime answers the same rows at
batch 1, 64 and 1024 on the CPU (and on CUDA when this machine has a GPU): eager PyTorch (the naive
way), the traced TorchScript module (what Neo receives), TorchScript frozen and optimized for
inference (``torch.jit.freeze`` + ``optimize_for_inference``: the offline Neo's choice), and ONNX
Runtime on an export of the same module when ``onnxruntime`` is installed (requirements/bench.txt).
Every runtime's answers are checked against eager's before it is timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import REPO_ROOT, Figure, bench_main, log, percentile

NAME = "torch_compile_choice"
BATCHES = (1, 64, 1024)
FEATURES = 30


def _network() -> Any:
    import torch

    spec = importlib.util.spec_from_file_location(
        "conveyor_train", REPO_ROOT / "layers/conveyor/conveyor_core/families/pytorch_script/train.py"
    )
    assert spec is not None
    assert spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    torch.manual_seed(0)
    return train.TabularNet(torch.zeros(FEATURES), torch.ones(FEATURES), 256, 1, "sigmoid").eval()


def _runtimes(device: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    import torch

    net = _network().to(device)
    example = torch.zeros(1, FEATURES, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(net, example)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example)))

    def torch_runner(module: Any) -> Callable[[np.ndarray], np.ndarray]:
        def run(rows: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out: np.ndarray = module(torch.from_numpy(rows).to(device)).cpu().numpy()
            return out

        return run

    found = {
        "eager PyTorch": torch_runner(net),
        "TorchScript traced": torch_runner(traced),
        "TorchScript frozen": torch_runner(frozen),
    }
    if device == "cpu" and importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        exported = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net.cpu(), example.cpu(), exported, input_names=["x"], output_names=["y"],
                dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False,
            )  # fmt: skip
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(exported.getvalue(), options, providers=["CPUExecutionProvider"])
        found["ONNX Runtime"] = lambda rows: session.run(None, {"x": rows})[0]
    return found


def _latencies(run: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, calls: int) -> list[float]:
    for _ in range(max(5, calls // 10)):
        run(rows)
    measured = []
    for _ in range(calls):
        started = time.perf_counter()
        run(rows)
        measured.append((time.perf_counter() - started) * 1e6)
    return measured


def run(smoke: bool = False) -> list[Figure]:
    """Latency (p50, p99) and throughput of each runtime for the pytorch family's network, per batch size."""
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figures: list[Figure] = []
    rng = np.random.default_rng(0)
    for device in devices:
        runtimes = _runtimes(device)
        for batch in BATCHES:
            rows = rng.normal(size=(batch, FEATURES)).astype(np.float32)
            expected = runtimes["eager PyTorch"](rows)
            calls = 50 if smoke else (2000 if batch < 1024 else 300)
            p50_eager = None
            for name, runner in runtimes.items():
                answer = np.asarray(runner(rows)).reshape(expected.shape)
                if not np.allclose(answer, expected, atol=1e-5):
                    raise AssertionError(f"{name} answers differently from eager PyTorch at batch {batch}")
                latencies = _latencies(runner, rows, calls)
                p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
                p50_eager = p50 if name == "eager PyTorch" else p50_eager
                log(f"{device} batch {batch:>4} {name:<20} p50 {p50:8.1f} us  p99 {p99:8.1f} us")
                figures.append(
                    Figure(
                        NAME,
                        f"{name} on {device}, batch {batch}: p50",
                        round(p50, 1),
                        "us",
                        naive=None if name == "eager PyTorch" else round(p50_eager or 0, 1),
                        naive_label="eager PyTorch p50",
                        note=f"p99 {p99:.1f} us; {batch / p50 * 1e6:,.0f} rows/s at p50",
                        details={"p99_us": p99, "rows_per_second": batch / p50 * 1e6, "device": device},
                    )
                )
    return figures


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


if __name__ == "__main__":
    raise SystemExit(bench_main(NAME, run, _no_arguments))
