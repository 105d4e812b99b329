"""The non-regression gate's latency check: one row's p99, as both training jobs timed it."""

from __future__ import annotations

import pytest

from conveyor_core.release import non_regression
from conveyor_core.release.latency_regression import NOISE_FLOOR_US, LatencyComparison, TimedJob, compare
from conveyor_core.shared.settings import NonRegressionSettings


def timed(instance_type: str = "ml.m5.xlarge", **p99_by_processor: float) -> TimedJob:
    metrics = []
    for processor, p99 in p99_by_processor.items():
        metrics += [
            {"MetricName": f"latency:{processor}:b1:p50_us", "Value": p99 / 2},
            {"MetricName": f"latency:{processor}:b1:p99_us", "Value": p99},
            # Other batch sizes are not what one request waits for: they must not be compared.
            {"MetricName": f"latency:{processor}:b64:p50_us", "Value": p99 * 40},
            {"MetricName": f"latency:{processor}:b64:p99_us", "Value": p99 * 50},
        ]
    return TimedJob(instance_type, [*metrics, {"MetricName": "validation:auc", "Value": 0.97}])


def test_each_processor_both_jobs_timed_is_compared_at_one_row() -> None:
    result = compare(timed(cpu=300.0, gpu=90.0), timed(cpu=200.0), "pytorch")
    assert [p.processor for p in result.processors] == ["cpu"], "production timed no GPU"
    [cpu] = result.processors
    assert (cpu.candidate_p99_us, cpu.production_p99_us) == (300.0, 200.0)
    assert cpu.increase == pytest.approx(0.5)
    assert result.summary() == "cpu p99 200.0 -> 300.0 µs"


@pytest.mark.parametrize(
    ("candidate", "production", "fails"),
    [
        (301.0, 200.0, True),  # +50.5% and +101 µs
        (300.0, 200.0, False),  # exactly the allowed increase
        (40.0, 20.0, False),  # +100%, but 20 µs is timer noise
        (20.0 + NOISE_FLOOR_US + 1, 20.0, True),  # past the floor and far past the ratio
        (150.0, 200.0, False),  # faster
    ],
)
def test_slower_means_past_the_allowed_increase_and_past_the_noise_floor(
    candidate: float, production: float, fails: bool
) -> None:
    result = compare(timed(cpu=candidate), timed(cpu=production), "pytorch")
    failures = result.failures(max_increase=0.5)
    assert bool(failures) is fails
    if fails:
        assert failures[0].startswith(f"p99 latency of one row on cpu rose {result.processors[0].increase:.0%}")


@pytest.mark.parametrize(
    ("candidate", "production", "reason"),
    [
        (TimedJob("ml.m5.xlarge", []), timed(cpu=10.0), "the xgboost training container does not time its model"),
        (timed(cpu=10.0), None, "the production model's training job is gone"),
        (timed(cpu=10.0), TimedJob("ml.m5.xlarge", []), "the production model's training job printed no timings"),
        (
            timed("ml.c5.xlarge", cpu=10.0),
            timed("ml.m5.xlarge", cpu=10.0),
            "timed on different instance types (ml.m5.xlarge for production, ml.c5.xlarge for the candidate)",
        ),
    ],
)
def test_timings_that_are_not_like_for_like_are_not_compared_and_say_why(
    candidate: TimedJob, production: TimedJob | None, reason: str
) -> None:
    result = compare(candidate, production, "xgboost")
    assert result.not_compared == reason
    assert result.processors == ()
    assert result.failures(max_increase=0.0) == [], "what was not compared cannot fail the gate"
    assert result.summary() == f"latency not compared: {reason}"


def test_a_slower_candidate_is_rejected_even_when_its_answers_match() -> None:
    settings = NonRegressionSettings(
        MODEL_NAME="churn", ARTIFACT_BUCKET="art", NON_REGRESSION_MAX_LATENCY_INCREASE="0.2"
    )
    answers = non_regression.compare("0.1\n0.9\n", "0.1\n0.9\n")
    slower = compare(timed(cpu=900.0), timed(cpu=600.0), "pytorch")
    result = non_regression.verdict(settings, answers, slower, "s3://art/report.json")
    assert not result.passed
    assert "p99 latency of one row on cpu rose 50% (600.0 -> 900.0 µs) > 20%" in result.reason
    assert result.latency == "cpu p99 600.0 -> 900.0 µs"
    report = non_regression.report(settings, answers, slower, "s3://golden/")
    assert '"max_latency_increase": 0.2' in report
    assert '"candidate_p99_us": 900.0' in report


def test_the_report_keeps_why_latency_was_not_compared() -> None:
    settings = NonRegressionSettings(MODEL_NAME="churn", ARTIFACT_BUCKET="art")
    answers = non_regression.compare("0.1\n", "0.1\n")
    result = non_regression.verdict(settings, answers, LatencyComparison(not_compared="why"), "s3://r")
    assert result.passed
    assert result.reason.endswith("; latency not compared: why")
