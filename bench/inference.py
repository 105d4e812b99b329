"""Compiled inference: the offline Neo's tl2cgen library against uncompiled XGBoost, same model.

A binary:logistic model of 200 trees of depth 6 on 30 features is trained here, packaged as the
training job would (``model.tar.gz`` holding ``xgboost-model``), compiled by
``localcloud.sagemaker_engine.compilation.compile_model`` (treelite + tl2cgen + gcc, with its own
agreement check against XGBoost), and loaded by ``inference.load_model`` exactly as an endpoint
loads it. The naive side is the training artefact served as is (``XGBoostModel``: XGBoost's
``inplace_predict``), also single-threaded, as endpoints serve it. ``Booster.predict(DMatrix)``
with XGBoost's default threads, what a hand-written script calls, is reported in the details.

Latency: one row per call, p50/p99 over a few thousand calls. Throughput: rows per second at
batches of 1024.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, bench_main, log, percentile

NAME = "inference"
FEATURES = 30
TARGET_SPEEDUP = 5.0


def train_model(trees: int, depth: int, rows: int) -> tuple[bytes, bytes, Any]:
    """(model.tar.gz, raw model bytes, float32 rows) for a binary:logistic model."""
    import numpy as np
    import xgboost
    from sklearn.datasets import make_classification

    from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME

    features, labels = make_classification(
        n_samples=rows, n_features=FEATURES, n_informative=15, random_state=0, flip_y=0.05
    )
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "nthread": 2, "seed": 0},
        xgboost.DMatrix(features, label=labels),
        num_boost_round=trees,
    )
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE_NAME)
        info.size = len(raw)
        archive.addfile(info, io.BytesIO(raw))
    return buffer.getvalue(), raw, np.ascontiguousarray(features, dtype=np.float32)


def latencies_us(predict: Any, rows: Any, calls: int) -> list[float]:
    for index in range(min(100, calls)):
        predict(rows[index : index + 1])
    timings = []
    for index in range(calls):
        row = rows[index % len(rows) : index % len(rows) + 1]
        started = time.perf_counter_ns()
        predict(row)
        timings.append((time.perf_counter_ns() - started) / 1000)
    return timings


def rows_per_second(predict: Any, rows: Any, batch: int, repeats: int) -> float:
    block = rows[:batch]
    for _ in range(3):
        predict(block)
    started = time.perf_counter()
    for _ in range(repeats):
        predict(block)
    return batch * repeats / (time.perf_counter() - started)


def run(smoke: bool = False, trees: int | None = None, depth: int | None = None) -> list[Figure]:
    """Batch-1 latency and batch-1024 throughput, compiled (tl2cgen) against uncompiled XGBoost."""
    import numpy as np
    import xgboost

    from localcloud.sagemaker_engine.compilation import compile_model
    from localcloud.sagemaker_engine.inference import XGBoostModel, load_model

    trees = trees or (20 if smoke else 200)
    depth = depth or (3 if smoke else 6)
    calls, repeats, batch = (300, 10, 1024) if smoke else (3000, 100, 1024)
    log(f"{NAME}: training {trees} trees of depth {depth}")
    artefact, raw, rows = train_model(trees, depth, 2000 if smoke else 5000)
    work = Path(tempfile.mkdtemp(prefix="conveyor-bench-neo-"))
    started = time.perf_counter()
    outcome = compile_model(artefact, "XGBOOST", "ml_c5", work)
    compile_seconds = time.perf_counter() - started
    if outcome.status != "COMPLETED" or outcome.artifact_tar_gz is None:
        raise RuntimeError(f"compilation failed: {outcome.failure_reason}")
    log(f"{NAME}: compiled in {compile_seconds:.1f} s; measuring")
    compiled = load_model(outcome.artifact_tar_gz, work / "served")
    uncompiled = XGBoostModel(raw)
    if compiled.kind != "compiled":
        raise RuntimeError(f"the compiled artefact loaded as {compiled.kind}: {compiled.note}")
    agreement = float(np.max(np.abs(compiled.predict(rows[:batch]) - uncompiled.predict(rows[:batch]))))

    compiled_us = latencies_us(compiled.predict, rows, calls)
    uncompiled_us = latencies_us(uncompiled.predict, rows, calls)
    compiled_rps = rows_per_second(compiled.predict, rows, batch, repeats)
    uncompiled_rps = rows_per_second(uncompiled.predict, rows, batch, repeats)

    hand = xgboost.Booster()
    hand.load_model(bytearray(raw))
    hand_us = latencies_us(lambda x: hand.predict(xgboost.DMatrix(x)), rows, max(100, calls // 5))
    hand_rps = rows_per_second(lambda x: hand.predict(xgboost.DMatrix(x)), rows, batch, max(5, repeats // 5))

    p50, naive_p50 = percentile(compiled_us, 50), percentile(uncompiled_us, 50)
    speedup = naive_p50 / p50
    model = f"{trees} trees, depth {depth}"
    return [
        Figure(
            NAME,
            f"batch 1 latency p50 ({model})",
            p50,
            "µs",
            naive=naive_p50,
            naive_label="uncompiled XGBoost",
            details={
                "calls": calls,
                "hand_written_booster_predict_p50_us": percentile(hand_us, 50),
                "max_abs_prediction_difference": agreement,
            },
        ),
        Figure(
            NAME,
            f"batch 1 latency p99 ({model})",
            percentile(compiled_us, 99),
            "µs",
            naive=percentile(uncompiled_us, 99),
            naive_label="uncompiled XGBoost",
            details={"hand_written_booster_predict_p99_us": percentile(hand_us, 99)},
        ),
        Figure(
            NAME,
            "compiled speed-up at batch 1 (p50)",
            speedup,
            "x",
            target=f"≥ {TARGET_SPEEDUP:g}x",
            met=speedup >= TARGET_SPEEDUP,
        ),
        Figure(
            NAME,
            f"throughput at batch {batch}",
            compiled_rps,
            "rows/s",
            naive=uncompiled_rps,
            naive_label="uncompiled XGBoost",
            target="not slower than uncompiled",
            met=compiled_rps >= uncompiled_rps,
            note=f"{compiled_rps / uncompiled_rps:.2f}x uncompiled",
            details={"hand_written_booster_predict_rows_per_s": hand_rps, "repeats": repeats},
        ),
        Figure(NAME, "compilation time (treelite + tl2cgen + gcc, 1 thread)", compile_seconds, "s"),
    ]


def _arguments(parser: Any) -> None:
    parser.add_argument("--trees", type=int, help="boosting rounds (default 200, smoke 20)")
    parser.add_argument("--depth", type=int, help="max tree depth (default 6, smoke 3)")


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
