"""gate.py: reading the training job's metric and the promote/reject decision."""

from __future__ import annotations

import math

import pytest

from conveyor_core.release.gate import GateDecision, MetricNotFoundError, decide, metric_from_training_job

FINAL_METRICS = [
    {"MetricName": "train:auc", "Value": 0.99, "Timestamp": "2026-11-23T00:00:00Z"},
    {"MetricName": "validation:auc", "Value": 0.93},
    {"MetricName": "validation:logloss", "Value": 0.21},
]


# --- metric_from_training_job -------------------------------------------------------------------


def test_metric_from_training_job_returns_the_named_metric() -> None:
    assert metric_from_training_job(FINAL_METRICS, "validation:auc") == pytest.approx(0.93)
    assert metric_from_training_job(FINAL_METRICS, "validation:logloss") == pytest.approx(0.21)


def test_metric_from_training_job_converts_integer_and_string_values_to_float() -> None:
    assert metric_from_training_job([{"MetricName": "m", "Value": 1}], "m") == 1.0
    assert isinstance(metric_from_training_job([{"MetricName": "m", "Value": "0.5"}], "m"), float)


def test_missing_metric_names_every_metric_the_job_did_report() -> None:
    with pytest.raises(MetricNotFoundError) as caught:
        metric_from_training_job(FINAL_METRICS, "validation:rmse")
    message = str(caught.value)
    assert "validation:rmse" in message
    for reported in ("train:auc", "validation:auc", "validation:logloss"):
        assert reported in message


def test_missing_metric_from_a_job_that_reported_nothing() -> None:
    with pytest.raises(MetricNotFoundError, match=r"validation:auc.*\[\]"):
        metric_from_training_job([], "validation:auc")


def test_metric_not_found_is_a_lookup_error() -> None:
    assert issubclass(MetricNotFoundError, LookupError)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "NaN", "Infinity"])
def test_non_finite_metric_is_rejected(value: object) -> None:
    with pytest.raises(MetricNotFoundError, match="not a finite number"):
        metric_from_training_job([{"MetricName": "validation:auc", "Value": value}], "validation:auc")


# --- decide -------------------------------------------------------------------------------------


def test_no_production_model_always_promotes() -> None:
    decision = decide(0.1, None, "maximize", 0.5, "validation:auc")
    assert decision == GateDecision(True, 0.1, None, None, decision.reason)
    assert "no model in production" in decision.reason
    assert "validation:auc=0.1" in decision.reason


@pytest.mark.parametrize(
    ("candidate", "production", "direction", "promote", "improvement"),
    [
        (0.75, 0.5, "maximize", True, 0.25),
        (0.5, 0.75, "maximize", False, -0.25),
        (0.25, 0.5, "minimize", True, 0.25),
        (0.75, 0.5, "minimize", False, -0.25),
    ],
)
def test_direction_decides_which_way_is_better(
    candidate: float, production: float, direction: str, promote: bool, improvement: float
) -> None:
    decision = decide(candidate, production, direction, 0.0, "m")  # type: ignore[arg-type]
    assert decision.promote is promote
    assert decision.improvement == improvement
    assert (decision.candidate, decision.production) == (candidate, production)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_a_tie_with_zero_margin_promotes(direction: str) -> None:
    decision = decide(0.5, 0.5, direction, 0.0, "m")  # type: ignore[arg-type]
    assert decision.promote is True
    assert decision.improvement == 0.0


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_a_tie_with_a_positive_margin_rejects(direction: str) -> None:
    assert decide(0.5, 0.5, direction, 0.01, "m").promote is False  # type: ignore[arg-type]


def test_margin_must_be_met_exactly_or_exceeded() -> None:
    # Binary-exact values, so the boundary is not blurred by floating point.
    assert decide(0.75, 0.5, "maximize", 0.25, "m").promote is True
    assert decide(0.75, 0.5, "maximize", 0.375, "m").promote is False
    assert decide(0.25, 0.5, "minimize", 0.25, "m").promote is True
    assert decide(0.375, 0.5, "minimize", 0.25, "m").promote is False


def test_better_but_below_margin_rejects() -> None:
    decision = decide(0.91, 0.9, "maximize", 0.02, "validation:auc")
    assert decision.promote is False
    assert decision.improvement == pytest.approx(0.01)


def test_worse_candidate_is_rejected_and_the_reason_shows_both_values() -> None:
    decision = decide(0.8123, 0.9456, "maximize", 0.0, "validation:auc")
    assert decision.promote is False
    assert decision.reason.startswith("rejected:")
    assert "0.8123" in decision.reason
    assert "0.9456" in decision.reason
    assert "validation:auc" in decision.reason
    assert "maximize" in decision.reason


def test_promoted_reason_shows_both_values_and_the_margin() -> None:
    decision = decide(0.125, 0.25, "minimize", 0.0625, "validation:rmse")
    assert decision.promote is True
    assert decision.reason.startswith("promoted:")
    assert "0.125" in decision.reason
    assert "0.25" in decision.reason
    assert "+0.125" in decision.reason
    assert ">= 0.0625" in decision.reason


def test_as_output_is_a_plain_document() -> None:
    decision = decide(0.75, 0.5, "maximize", 0.0, "m")
    assert decision.as_output() == {
        "promote": True,
        "candidate": 0.75,
        "production": 0.5,
        "improvement": 0.25,
        "reason": decision.reason,
    }
