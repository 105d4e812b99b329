"""The target advisor: the cheapest instance whose measured processor meets the latency objective."""

from __future__ import annotations

from conveyor_core.release.target_advisor import Measurement, price_table, recommend

CPU = [Measurement("cpu", 1, 12.0, 20.0), Measurement("cpu", 1024, 800.0, 1500.0)]
GPU = [Measurement("gpu", 1, 130.0, 150.0), Measurement("gpu", 1024, 220.0, 300.0)]


def test_the_price_table_is_dated_and_sourced() -> None:
    table = price_table()
    assert table["as_of"]
    assert table["source"].startswith("https://aws.amazon.com/sagemaker/pricing")
    assert {entry["processor"] for entry in table["instances"].values()} == {"cpu", "gpu"}


def test_a_small_batch_goes_to_the_cheapest_cpu_instance_when_the_cpu_meets_the_objective() -> None:
    advice = recommend("pytorch", CPU + GPU, p99_objective_us=100, batch=1)
    assert (advice.instance_type, advice.neo_target) == ("ml.c5.large", "ml_c5")
    gpu = [c for c in advice.candidates if c.processor == "gpu"]
    assert gpu
    assert not any(c.meets for c in gpu), "the GPU's 150 us p99 misses 100 us"


def test_a_large_batch_with_a_tight_objective_goes_to_the_gpu() -> None:
    advice = recommend("pytorch", CPU + GPU, p99_objective_us=500, batch=1024)
    assert (advice.instance_type, advice.neo_target) == ("ml.g4dn.xlarge", "ml_g4dn")
    assert "p99 300 us <= 500 us" in advice.reason


def test_an_unmeasured_gpu_is_never_recommended_and_the_reason_says_so() -> None:
    advice = recommend("pytorch", CPU, p99_objective_us=500, batch=1024)
    assert advice.instance_type is None
    assert advice.reason == "no measured processor meets p99 <= 500 us at batch 1024 (cpu p99 1,500 us)"
    assert all(c.p99_us is None for c in advice.candidates if c.processor == "gpu")
    met = recommend("pytorch", CPU, p99_objective_us=5000, batch=1024)
    assert met.instance_type == "ml.c5.large"
    assert met.reason.endswith("not measured here: gpu")


def test_xgboost_is_only_offered_cpu_instances() -> None:
    advice = recommend("xgboost", CPU + GPU, p99_objective_us=500, batch=1024)
    assert advice.instance_type is None
    assert {c.processor for c in advice.candidates} == {"cpu"}


def test_cost_per_million_rows_follows_throughput_and_price() -> None:
    advice = recommend("pytorch", CPU, p99_objective_us=100, batch=1)
    cheapest = advice.candidates[0]
    rows_per_hour = 1 / 12e-6 * 3600
    assert cheapest.usd_per_million_rows is not None
    assert abs(cheapest.usd_per_million_rows - cheapest.hourly_usd / rows_per_hour * 1e6) < 1e-12
