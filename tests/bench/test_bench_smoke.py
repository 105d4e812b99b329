"""Every benchmark runs in smoke mode and produces figures of the right shape.

Each benchmark runs as ``make bench`` runs it (a fresh process via ``bench.run_all.run_one``) with
tiny sizes. Nothing here asserts a timing or a target: the figures are for people to read, and a
busy CI machine must not fail the suite. Counts and shapes are checked, never speed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.common import Figure, markdown_table, percentile
from bench.run_all import BENCHMARKS, run_one

pytestmark = pytest.mark.e2e

# Figures each benchmark must report (by the start of their name), with a value.
EXPECTED: dict[str, tuple[str, ...]] = {
    "orchestration": ("state transitions, create path", "Lambda invocations", "polling transitions"),
    "arrival_latency": ("S3 put → CreateTrainingJob call, no queue, p50", "ingest handler warm Duration, p95"),
    "burst": ("executions started", "Lambda invocations", "execution input"),
    "cold_start": ("import time, the floor", "import time, ", "largest function zip", "layer unzipped"),
    "preprocessing": ("throughput, ", "peak RSS, "),
    "processing": (
        "single pass (Lambda path's code) throughput",
        "Processing, 2 instances: throughput",
        "Processing speedup, 2 instances vs 1",
        "rows, train rows, validation rows, labels, sample and split bytes: merged = single pass",
    ),
    "inference": ("batch 1 latency p50", "compiled speed-up", "throughput at batch 1024"),
    "rollback": ("evaluated 5XX alarm: alarm → 100% traffic",),
    "demo_time": ("import of conveyor_cli.demo",),
    "gpu_inference": (),
    "experiments": (
        "A/B test false positives in ",
        "naive: fixed-sample z-test",
        "A/B test power at ",
        "bandit regret during the experiment",
    ),
}
KINDS = {"count", "timing", "size"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_shape(name: str, figure: Figure) -> None:
    assert figure.benchmark == name
    assert figure.figure.strip()
    assert isinstance(figure.unit, str)
    assert figure.value is None or _is_number(figure.value), figure
    assert figure.naive is None or _is_number(figure.naive), figure
    assert figure.met is None or isinstance(figure.met, bool), figure
    assert figure.kind in KINDS
    assert isinstance(figure.details, dict)
    if figure.kind == "count" and figure.value is not None and figure.unit != "x":
        assert float(figure.value).is_integer(), figure
        assert figure.value >= 0, figure


def test_every_benchmark_has_expectations() -> None:
    assert set(EXPECTED) == set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_smoke_mode_produces_figures_of_the_right_shape(name: str, tmp_path: Path) -> None:
    figures, _, code = run_one(name, smoke=True, log_dir=tmp_path, options={})

    log = (tmp_path / f"{name}.log").read_text(errors="replace")
    assert code == 0, log[-3000:]
    assert figures, log[-3000:]
    for figure in figures:
        _check_shape(name, figure)
    for prefix in EXPECTED[name]:
        matching = [figure for figure in figures if figure.figure.startswith(prefix)]
        assert matching, f"{name} reported no '{prefix}…' figure: {[f.figure for f in figures]}"
        assert all(figure.value is not None for figure in matching), matching
    assert "| benchmark | figure |" in markdown_table(figures)


def test_gpu_benchmark_skips_cleanly_without_a_gpu(tmp_path: Path) -> None:
    from bench.gpu_inference import SKIPPED, nvidia_gpu

    if nvidia_gpu() is not None:
        pytest.skip("an NVIDIA GPU is present; the smoke run above measured it")
    figures, _, code = run_one("gpu_inference", smoke=True, log_dir=tmp_path, options={})

    assert code == 0
    assert SKIPPED in (tmp_path / "gpu_inference.log").read_text()
    assert [figure.value for figure in figures] == [None]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(101)), 95) == 95.0
