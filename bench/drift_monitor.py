"""What one hourly drift-monitoring run costs: time and memory to read captured traffic and judge it.

The baseline is built from a 30-feature dataset the way preprocessing builds it (a 2,048-row
sample); the capture is SageMaker's JSON Lines, 10 rows a request, from the same distribution with
two features shifted. Each size is the rows one run reads (the window's capture, up to the monitor's
200,000-row bound). The naive way is scipy's ``ks_2samp`` on the same columns, for the distance
alone. With the duration at 1,024 MB, Lambda's published x86 price turns a run into dollars.
"""

from __future__ import annotations

import argparse
import io
import json
import time
import tracemalloc

import numpy as np

from bench.common import Figure, bench_main, log

NAME = "drift_monitor"
FEATURES = 30
ROWS_PER_REQUEST = 10
# Lambda x86 in us-east-1: $0.0000166667 per GB-second, $0.20 per million requests (AWS pricing page).
LAMBDA_GB_SECOND_USD = 0.0000166667
LAMBDA_REQUEST_USD = 0.20 / 1e6
MEMORY_GB = 1.0


def _capture(rows: np.ndarray) -> bytes:
    lines = []
    for start in range(0, len(rows), ROWS_PER_REQUEST):
        text = "\n".join(",".join(f"{v:.6g}" for v in row) for row in rows[start : start + ROWS_PER_REQUEST])
        record = {
            "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": text,
                                              "encoding": "CSV"}},
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-12-05T10:00:00Z"},
            "eventVersion": "0",
        }  # fmt: skip
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


def run(smoke: bool = False) -> list[Figure]:
    from scipy import stats as scipy_stats

    from conveyor_core.families.xgboost import FAMILY
    from conveyor_core.intake.csv_dataset import DatasetValidator
    from conveyor_core.monitoring import baseline, capture, drift

    rng = np.random.default_rng(0)
    training = rng.normal(0, 1, (20_000, FEATURES))
    labels = (training[:, 0] > 0).astype(float)
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), FAMILY.label_task({}), 0.2)
    validator.consume_blocks(
        "train.csv",
        [
            (
                "\n".join(
                    f"{y:g}," + ",".join(f"{v:.6g}" for v in row) for row, y in zip(training, labels, strict=True)
                )
                + "\n"
            ).encode()
        ],
    )
    report = validator.finish()
    statistics, constraints = baseline.statistics(report), baseline.constraints(report)
    figures = []
    for size in (2_000, 20_000) if smoke else (10_000, 50_000, 200_000):
        traffic = rng.normal(0, 1, (size, FEATURES))
        traffic[:, :2] += 0.5
        body = _capture(traffic)

        def judge(body: bytes = body) -> drift.DriftReport:
            found = capture.CapturedRows(features=FEATURES)
            capture.read_records(found, body)
            return drift.evaluate(statistics, constraints, found, min_rows=1000)

        started = time.perf_counter()
        result = judge()
        seconds = time.perf_counter() - started
        # Memory in a second run: tracemalloc slows allocation several times over.
        tracemalloc.start()
        judge()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        naive_started = time.perf_counter()
        for index in range(FEATURES):
            scipy_stats.ks_2samp(baseline.sketch_values(statistics["features"][index]), traffic[:, index])
        naive = time.perf_counter() - naive_started
        assert sorted(f.name for f in result.drifting) == ["_c0", "_c1"], result.drifting
        usd = seconds * MEMORY_GB * LAMBDA_GB_SECOND_USD + LAMBDA_REQUEST_USD
        log(f"{size} rows: {seconds:.2f} s, peak {peak / 1e6:.0f} MB, ${usd:.6f} a run")
        figures.append(
            Figure(
                NAME,
                f"one run over {size:,} captured rows ({len(body) / 1e6:.1f} MB of capture)",
                round(seconds, 3),
                "s",
                naive=round(naive, 3),
                naive_label="scipy ks_2samp alone, same columns",
                note=f"peak traced memory {peak / 1e6:.0f} MB; ${usd:.6f} a run at 1,024 MB "
                f"(${usd * 24 * 30:.4f} a month hourly)",
                details={"peak_bytes": peak, "usd_per_run": usd, "rows": size, "capture_bytes": len(body)},
            )
        )
    return figures


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


if __name__ == "__main__":
    raise SystemExit(bench_main(NAME, run, _no_arguments))
