"""Compiled inference: the offline Neo's artefact against uncompiled XGBoost, same model.

A binary:logistic model of 200 trees of depth 6 on 30 features is trained here, packaged as the
training job would (``model.tar.gz`` holding ``xgboost-model``), compiled by
``localcloud.sagemaker_engine.compilation.compile_model`` (treelite + tl2cgen + gcc, with its own
agreement check against XGBoost and its timing of where XGBoost overtakes the library), and loaded
by ``inference.load_model`` exactly as an endpoint loads it. "Served" is what that endpoint answers
with: the library, or from the manifest's ``xgboost_from_rows`` on, the XGBoost model the artefact
bundles. The raw library (no routing) and the raw uncompiled model (``XGBoostModel``: XGBoost's
``inplace_predict``) are measured beside it. All three run on one thread, as endpoints serve;
``Booster.predict(DMatrix)`` on all cores, what a hand-written script calls, is in the details, and
the library through tl2cgen's own runtime on all cores against XGBoost on all cores is a figure.

Latency: one row per call, p50/p99 over a few thousand calls. Throughput: rows per second at
batches of 1024, the paths taking turns in rounds, in rotating order, each keeping its best
round, so a burst of load on a shared machine hits every path rather than whichever ran then. A
second instance of the uncompiled model runs beside them as a control: its ratio to the first is
the timing noise of that run.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.common import Figure, bench_main, log, percentile

NAME = "inference"
FEATURES = 30
TARGET_SPEEDUP = 5.0
# Where batch 1024 is routed to XGBoost, served and uncompiled run the same XGBoost call. Two
# instances of the one uncompiled model, timed side by side like this, differed by up to 8% on the
# shared 2-core machine, so "not slower" can only be judged that coarsely there; each run reports
# such a control pair ("uncompiled, second instance") to show its own spread.
SAME_CODE_ALLOWANCE = 0.10
SWEEP_BATCHES = (16, 64, 256)


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


def best_rows_per_second(
    predictors: Mapping[str, Callable[[Any], Any]], rows: Any, batch: int, repeats: int
) -> dict[str, float]:
    """Rows/s of each predictor at ``batch``: they take turns in rounds; each keeps its best round.

    Whichever path runs first in a round finds the caches full of the previous path's code and
    data (5-10% slower at batch 16), so the order rotates and every path leads equally often. The
    batches step through ``rows``: one small batch repeated would let the branch predictor learn
    its rows and flatter the library.
    """
    blocks = [rows[start : start + batch] for start in range(0, max(1, len(rows) - batch + 1), batch)]
    names = list(predictors)
    rounds = 2 * len(names)
    per_round = max(1, repeats // rounds)
    best = dict.fromkeys(names, 0.0)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            predict = predictors[name]
            predict(blocks[-1])  # untimed
            started = time.perf_counter()
            for call in range(per_round):
                predict(blocks[call % len(blocks)])
            best[name] = max(best[name], batch * per_round / (time.perf_counter() - started))
    return best


def run(smoke: bool = False, trees: int | None = None, depth: int | None = None) -> list[Figure]:
    """Batch-1 latency and batch-1024 throughput: the compiled artefact as served against XGBoost."""
    import numpy as np
    import tl2cgen
    import xgboost

    from localcloud.sagemaker_engine.compilation import compile_model
    from localcloud.sagemaker_engine.inference import (
        MANIFEST_FILE_NAME,
        CompiledModel,
        XGBoostModel,
        load_model,
        read_tar_members,
    )

    trees = trees or (20 if smoke else 200)
    depth = depth or (3 if smoke else 6)
    calls, repeats, batch = (300, 12, 1024) if smoke else (3000, 180, 1024)
    cores = os.cpu_count() or 1
    log(f"{NAME}: training {trees} trees of depth {depth}")
    artefact, raw, rows = train_model(trees, depth, 2000 if smoke else 5000)
    work = Path(tempfile.mkdtemp(prefix="conveyor-bench-neo-"))
    started = time.perf_counter()
    outcome = compile_model(artefact, "XGBOOST", "ml_c5", work)
    compile_seconds = time.perf_counter() - started
    if outcome.status != "COMPLETED" or outcome.artifact_tar_gz is None:
        raise RuntimeError(f"compilation failed: {outcome.failure_reason}")
    log(f"{NAME}: compiled in {compile_seconds:.1f} s; measuring")
    manifest = json.loads(read_tar_members(outcome.artifact_tar_gz)[MANIFEST_FILE_NAME])
    served = load_model(outcome.artifact_tar_gz, work / "served")
    uncompiled = XGBoostModel(raw)
    if not isinstance(served, CompiledModel):
        raise RuntimeError(f"the compiled artefact loaded as {served.kind}: {served.note}")
    block = rows[:batch]
    agreement = float(np.max(np.abs(served.library_predict(block) - uncompiled.predict(block))))

    served_us = latencies_us(served.predict, rows, calls)
    uncompiled_us = latencies_us(uncompiled.predict, rows, calls)
    library_us = latencies_us(served.library_predict, rows, max(100, calls // 5))
    tl2cgen_runtime = tl2cgen.Predictor(served.library_path, nthread=1)

    def through_tl2cgen(predictor: Any) -> Callable[[Any], Any]:
        return lambda x: predictor.predict(tl2cgen.DMatrix(x, dtype="float32", missing=np.nan))

    tl2cgen_us = latencies_us(through_tl2cgen(tl2cgen_runtime), rows, max(100, calls // 5))
    hand = xgboost.Booster()
    hand.load_model(bytearray(raw))

    def hand_written(x: Any) -> Any:
        return hand.predict(xgboost.DMatrix(x))

    hand_us = latencies_us(hand_written, rows, max(100, calls // 5))

    paths = {"served": served.predict, "library": served.library_predict, "uncompiled": uncompiled.predict}
    control = XGBoostModel(raw)
    throughput = best_rows_per_second({**paths, "control": control.predict}, rows, batch, repeats)
    sweep = {}
    for size in SWEEP_BATCHES:
        measured = best_rows_per_second(paths, rows, size, max(12, repeats * batch // size // 4))
        sweep[size] = {"served_by": served.serving_path(size), **{k: round(v) for k, v in measured.items()}}
    hand_rps = rows_per_second(hand_written, rows, batch, max(5, repeats // 5))
    all_cores_xgboost = xgboost.Booster()
    all_cores_xgboost.load_model(bytearray(raw))
    all_cores_xgboost.set_param({"nthread": cores})
    all_cores = best_rows_per_second(
        {
            "library": through_tl2cgen(tl2cgen.Predictor(served.library_path, nthread=cores)),
            "uncompiled": lambda x: all_cores_xgboost.inplace_predict(x, missing=np.nan),
        },
        rows,
        batch,
        repeats,
    )

    p50, naive_p50 = percentile(served_us, 50), percentile(uncompiled_us, 50)
    speedup = naive_p50 / p50
    served_rps, library_rps, uncompiled_rps = (throughput[key] for key in ("served", "library", "uncompiled"))
    path = served.serving_path(batch)
    routed_note = (
        f"served by the bundled XGBoost model (xgboost_from_rows={served.xgboost_from_rows})"
        if path == "xgboost"
        else "served by the library"
    )
    allowance = SAME_CODE_ALLOWANCE if path == "xgboost" else 0.0
    threads = {
        "served": 1,
        "library": 1,
        "uncompiled XGBoostModel": 1,
        "hand-written Booster.predict": f"XGBoost default ({cores} cores)",
    }
    model = f"{trees} trees, depth {depth}"
    return [
        Figure(
            NAME,
            f"batch 1 latency p50 ({model})",
            p50,
            "µs",
            naive=naive_p50,
            naive_label="uncompiled XGBoost",
            note=f"served by the {'library' if served.serving_path(1) == 'compiled' else 'bundled XGBoost model'}",
            details={
                "calls": calls,
                "threads": threads,
                "library_p50_us": percentile(library_us, 50),
                "library_through_tl2cgen_runtime_p50_us": percentile(tl2cgen_us, 50),
                "hand_written_booster_predict_p50_us": percentile(hand_us, 50),
                "max_abs_prediction_difference": agreement,
            },
        ),
        Figure(
            NAME,
            f"batch 1 latency p99 ({model})",
            percentile(served_us, 99),
            "µs",
            naive=percentile(uncompiled_us, 99),
            naive_label="uncompiled XGBoost",
            details={
                "library_through_tl2cgen_runtime_p99_us": percentile(tl2cgen_us, 99),
                "hand_written_booster_predict_p99_us": percentile(hand_us, 99),
            },
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
            f"throughput at batch {batch}, as served",
            served_rps,
            "rows/s",
            naive=uncompiled_rps,
            naive_label="uncompiled XGBoost",
            target="not slower than uncompiled"
            + (f" (same code: {allowance:.0%} timing allowance)" if allowance else ""),
            met=served_rps >= uncompiled_rps * (1 - allowance),
            note=f"{served_rps / uncompiled_rps:.2f}x uncompiled, {routed_note}; "
            f"same-code control: second uncompiled instance {throughput['control'] / uncompiled_rps:.2f}x",
            details={
                "served_by": path,
                "uncompiled_second_instance_rows_per_s": throughput["control"],
                "xgboost_from_rows": served.xgboost_from_rows,
                "library_rows_per_s": library_rps,
                "threads": threads,
                "hand_written_booster_predict_rows_per_s": hand_rps,
                "repeats": repeats,
                "sweep_rows_per_s": sweep,
            },
        ),
        Figure(
            NAME,
            f"throughput at batch {batch}, library alone (no routing)",
            library_rps,
            "rows/s",
            naive=uncompiled_rps,
            naive_label="uncompiled XGBoost",
            note=f"{library_rps / uncompiled_rps:.2f}x uncompiled",
        ),
        Figure(
            NAME,
            f"throughput at batch {batch}, library and XGBoost on all {cores} cores",
            all_cores["library"],
            "rows/s",
            naive=all_cores["uncompiled"],
            naive_label=f"XGBoost, nthread={cores}",
            note=f"tl2cgen runtime, nthread={cores}: {all_cores['library'] / all_cores['uncompiled']:.2f}x",
        ),
        Figure(
            NAME,
            "compilation time (treelite + tl2cgen + gcc -O1, 1 thread, self-check, routing timing)",
            compile_seconds,
            "s",
            details={"routing_timings_us_library_xgboost": manifest["routing_timings_us"]},
        ),
    ]


def _arguments(parser: Any) -> None:
    parser.add_argument("--trees", type=int, help="boosting rounds (default 200, smoke 20)")
    parser.add_argument("--depth", type=int, help="max tree depth (default 6, smoke 3)")


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
