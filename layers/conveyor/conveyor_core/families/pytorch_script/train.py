"""Conveyor's tabular network: trained by SageMaker's PyTorch container in script mode, and offline.

The layout is Conveyor's CSV (no header, the label first, numeric features), split by preprocessing
into the ``train`` and ``validation`` channels. The model standardizes its inputs itself (the
training set's mean and scale are buffers of the network), so callers send raw feature rows, as
they do to XGBoost. It is saved the way SageMaker Neo takes a PyTorch model: one TorchScript file
traced with a float32 ``[1, features]`` input, ``model.pth`` at the root of ``model.tar.gz``, beside
``code/inference.py`` for the serving containers.

Metrics are printed as ``<channel>:<metric>=<value>`` once per epoch; the family's
``MetricDefinitions`` read them, so the quality gate sees the same names as XGBoost's
(``validation:auc``, ``validation:rmse`` ...). After saving, the script times the traced model on
the processors of the instance it trained on (the CPU, and the GPU when there is one) at batches of
1, 64 and 1,024 rows and prints ``latency:<processor>:b<batch>:<p50|p99>_us=<value>``: the target
advisor (``conveyor_core.release.target_advisor``) picks the serving instance from them.

This file runs inside SageMaker's container, where only the standard library, NumPy and PyTorch
exist: it imports nothing from Conveyor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from torch import nn

MODEL_FILE = "model.pth"
DESCRIPTION_FILE = "conveyor-model.json"
LATENCY_BATCHES = (1, 64, 1024)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objective", default="binary:logistic")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden_units", type=int, default=256)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--eval_metric", default="")
    parser.add_argument("--num_class", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    parser.add_argument(
        "--validation", default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation")
    )
    # SageMaker passes every hyperparameter; the ones this script does not use are ignored.
    known, _unused = parser.parse_known_args(argv)
    return known


def read_channel(path: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(p for p in Path(path).rglob("*") if p.is_file() and p.name.endswith(".csv"))
    if not files:
        raise ValueError(f"no .csv file in {path}")
    blocks = [np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2) for f in files if f.stat().st_size]
    data = np.concatenate(blocks)
    return data[:, 1:], data[:, 0]


class TabularNet(nn.Module):
    """Standardize, two hidden ReLU layers, and the objective's link (sigmoid, softmax or none)."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, hidden: int, outputs: int, link: str) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.layers = nn.Sequential(
            nn.Linear(mean.numel(), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, outputs),
        )
        self.link = link

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.mean) / self.scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.logits(features)
        if self.link == "sigmoid":
            return torch.sigmoid(out).squeeze(-1)
        if self.link == "softmax":
            return torch.softmax(out, dim=-1)
        return out.squeeze(-1)


def _task(objective: str, labels: np.ndarray, num_class: int) -> tuple[str, int, str]:
    """(link, outputs, default metric) for an XGBoost-style objective name."""
    if objective.startswith("binary:"):
        return "sigmoid", 1, "auc"
    if objective.startswith("multi:"):
        return "softmax", max(num_class, int(labels.max()) + 1), "mlogloss"
    return "identity", 1, "rmse"


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties averaged."""
    positives = labels > 0.5
    count_pos, count_neg = int(positives.sum()), int((~positives).sum())
    if not count_pos or not count_neg:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return float((ranks[positives].sum() - count_pos * (count_pos + 1) / 2) / (count_pos * count_neg))


def metric(name: str, labels: np.ndarray, predictions: np.ndarray) -> float:
    eps = 1e-7
    if name == "auc":
        return auc(labels, predictions)
    if name == "rmse":
        return float(np.sqrt(np.mean((predictions - labels) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(predictions - labels)))
    if name == "error":
        return float(np.mean((predictions > 0.5) != (labels > 0.5)))
    if name == "logloss":
        p = np.clip(predictions, eps, 1 - eps)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    if name == "mlogloss":
        p = np.clip(predictions[np.arange(len(labels)), labels.astype(int)], eps, 1.0)
        return float(-np.mean(np.log(p)))
    if name == "merror":
        return float(np.mean(predictions.argmax(axis=1) != labels.astype(int)))
    raise ValueError(f"eval_metric {name!r} is not one this script computes (auc, rmse, mae, error, logloss, ...)")


def _loss(link: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if link == "sigmoid":
        return nn.functional.binary_cross_entropy_with_logits(logits.squeeze(-1), labels)
    if link == "softmax":
        return nn.functional.cross_entropy(logits, labels.long())
    return nn.functional.mse_loss(logits.squeeze(-1), labels)


def train(args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    x_train, y_train = read_channel(args.train)
    x_valid, y_valid = read_channel(args.validation)
    if x_valid.shape[1] != x_train.shape[1]:
        raise ValueError(f"validation has {x_valid.shape[1]} features, train has {x_train.shape[1]}")
    link, outputs, default_metric = _task(args.objective, y_train, args.num_class)
    names = [m for m in (args.eval_metric or default_metric).split(",") if m]
    mean = torch.from_numpy(x_train.mean(axis=0))
    scale = torch.from_numpy(np.where(x_train.std(axis=0) > 0, x_train.std(axis=0), 1.0).astype(np.float32))
    model = TabularNet(mean, scale, args.hidden_units, outputs, link)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    features, labels = torch.from_numpy(x_train), torch.from_numpy(y_train)
    scores: dict[str, float] = {}
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in torch.randperm(len(features)).split(args.batch_size):
            optimizer.zero_grad()
            _loss(link, model.logits(features[batch]), labels[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.inference_mode():
            seen = {
                "train": (model(features).numpy(), y_train),
                "validation": (model(torch.from_numpy(x_valid)).numpy(), y_valid),
            }
        scores = {
            f"{channel}:{name}": metric(name, truth, predicted)
            for channel, (predicted, truth) in seen.items()
            for name in names
        }
        print(
            f"epoch {epoch}/{args.epochs} " + " ".join(f"{key}={value:.6f}" for key, value in scores.items()),
            flush=True,
        )
    save(model, x_train.shape[1], args)
    return scores


def _feature_count(model_dir: str) -> int:
    return int(json.loads((Path(model_dir) / DESCRIPTION_FILE).read_text())["features"])


def save(model: TabularNet, feature_count: int, args: argparse.Namespace) -> None:
    model_dir = Path(args.model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    traced = torch.jit.trace(model.eval(), torch.zeros(1, feature_count, dtype=torch.float32))
    traced.save(str(model_dir / MODEL_FILE))
    code = model_dir / "code"
    code.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).with_name("inference.py"), code / "inference.py")
    description = {
        "framework": "PYTORCH",
        "torch_version": torch.__version__,
        "features": feature_count,
        "objective": args.objective,
        "input": {"name": "input0", "shape": [1, feature_count], "dtype": "float32"},
    }
    (model_dir / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))


def _timings_us(model: torch.jit.ScriptModule, rows: torch.Tensor, calls: int, synchronize: bool) -> np.ndarray:
    for _ in range(10):  # warm-up: the first calls of a TorchScript module run its profiling executor
        model(rows)
    times = np.empty(calls)
    for index in range(calls):
        started = time.perf_counter()
        model(rows)
        if synchronize:  # CUDA calls return before the kernels finish
            torch.cuda.synchronize()
        times[index] = (time.perf_counter() - started) * 1e6
    return times


def report_latency(model_path: Path, feature_count: int) -> None:
    """Print the traced model's p50 and p99 latency per batch size on each processor this instance has."""
    processors = [("cpu", "cpu")] + ([("gpu", "cuda")] if torch.cuda.is_available() else [])
    generator = torch.Generator().manual_seed(0)
    for processor, device in processors:
        model = torch.jit.load(str(model_path), map_location=device).eval()
        for batch in LATENCY_BATCHES:
            rows = torch.randn(batch, feature_count, generator=generator).to(device)
            with torch.inference_mode():
                # 1,000 calls: a p99 over 200 moved up to 5x between runs of one model (latency_regression).
                times = _timings_us(model, rows, 1000 if batch < 1024 else 40, device == "cuda")
            p50, p99 = np.percentile(times, [50, 99])
            print(f"latency:{processor}:b{batch}:p50_us={p50:.3f} latency:{processor}:b{batch}:p99_us={p99:.3f}")


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    try:
        train(args)
    except Exception as error:  # SageMaker reads the reason from /opt/ml/output/failure
        output = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output"))
        if output.is_dir():
            (output / "failure").write_text(f"AlgorithmError: {type(error).__name__}: {error}")
        traceback.print_exc()
        return 1
    try:
        report_latency(Path(args.model_dir) / MODEL_FILE, _feature_count(args.model_dir))
    except Exception:  # a model that trained is not failed by its timing: the advisor says "not measured"
        traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
