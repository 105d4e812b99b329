"""The monitoring baseline, captured-traffic parsing and the drift distance, without a cloud."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import roc_auc_score

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake.csv_dataset import SAMPLE_ROWS, DatasetReport, DatasetValidator, RowSample
from conveyor_core.monitoring import baseline, capture, drift, quality
from tests.unit.monitor_records import truth_line


def rows_of(features: np.ndarray, labels: np.ndarray) -> list[bytes]:
    return [
        (",".join([repr(float(label)), *(repr(float(x)) for x in row)]) + "\n").encode()
        for row, label in zip(features, labels, strict=True)
    ]


def report_of(lines: list[bytes], blocks: bool = False) -> DatasetReport:
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), XGBOOST.label_task({}), 0.2)
    if blocks:
        validator.consume_blocks("s.csv", [b"".join(lines)])
    else:
        validator.consume("s.csv", lines)
    return validator.finish()


@pytest.fixture(scope="module")
def training() -> tuple[np.ndarray, DatasetReport]:
    rng = np.random.default_rng(7)
    features = np.column_stack([rng.normal(10, 2, 5000), rng.exponential(3, 5000), rng.uniform(-1, 1, 5000)])
    labels = (features[:, 0] > 10).astype(float)
    return features, report_of(rows_of(features, labels))


def capture_line(rows: np.ndarray, encoding: str = "CSV", when: str = "2026-12-05T10:00:00.000Z") -> bytes:
    text = "\n".join(",".join(repr(float(x)) for x in row) for row in rows)
    data = text if encoding == "CSV" else base64.b64encode(text.encode()).decode()
    record = {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"},
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": when},
        "eventVersion": "0",
    }
    return json.dumps(record).encode() + b"\n"


def captured(rows: np.ndarray, features: int = 3) -> capture.CapturedRows:
    found = capture.CapturedRows(features=features)
    capture.read_records(found, capture_line(rows))
    return found


# --- the row sample -----------------------------------------------------------------------------


def test_the_sample_is_bounded_and_the_same_whichever_path_read_the_rows(
    training: tuple[np.ndarray, DatasetReport],
) -> None:
    features, report = training
    lines = rows_of(features, (features[:, 0] > 10).astype(float))
    assert len(report.sample.lines()) == SAMPLE_ROWS
    assert report_of(lines, blocks=True).sample == report.sample
    assert report_of(list(reversed(lines))).sample == report.sample, "the sample does not depend on row order"


def test_a_small_dataset_is_sampled_whole() -> None:
    sample = RowSample(size=100)
    sample.offer([5, 3, 9], [b"a\n", b"b\n", b"c\n"])
    assert sorted(sample.lines()) == [b"a", b"b", b"c"]


# --- the baseline files -------------------------------------------------------------------------


def test_statistics_follow_model_monitors_schema_with_exact_moments(training: tuple[np.ndarray, DatasetReport]) -> None:
    features, report = training
    document = baseline.statistics(report)
    assert document["version"] == 0.0
    assert document["dataset"]["item_count"] == 5000
    assert [f["name"] for f in document["features"]] == ["_c0", "_c1", "_c2"]
    first = document["features"][0]["numerical_statistics"]
    assert first["common"] == {"num_present": 5000, "num_missing": 0}
    assert first["mean"] == pytest.approx(features[:, 0].mean())
    assert first["std_dev"] == pytest.approx(features[:, 0].std())
    assert (first["min"], first["max"]) == (pytest.approx(features[:, 0].min()), pytest.approx(features[:, 0].max()))
    buckets = first["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10
    assert sum(b["count"] for b in buckets) == pytest.approx(5000)
    assert len(first["distribution"]["kll"]["sketch"]["data"][0]) == SAMPLE_ROWS


def test_constraints_carry_the_drift_threshold_and_completeness(training: tuple[np.ndarray, DatasetReport]) -> None:
    _features, report = training
    document = baseline.constraints(report, drift_threshold=0.2)
    config = document["monitoring_config"]["distribution_constraints"]
    assert (config["perform_comparison"], config["comparison_threshold"]) == ("Enabled", 0.2)
    assert [f["completeness"] for f in document["features"]] == [1.0, 1.0, 1.0]
    assert [f["num_constraints"]["is_non_negative"] for f in document["features"]] == [True, True, False]


# --- the distance -------------------------------------------------------------------------------


def test_the_distance_is_the_two_sample_kolmogorov_smirnov_statistic() -> None:
    rng = np.random.default_rng(3)
    a, b = sorted(rng.normal(0, 1, 700)), sorted(rng.normal(0.3, 1.2, 450))
    assert drift.ks_distance(a, b) == pytest.approx(scipy_stats.ks_2samp(a, b).statistic)


def test_traffic_from_the_training_distribution_does_not_drift(training: tuple[np.ndarray, DatasetReport]) -> None:
    _features, report = training
    rng = np.random.default_rng(11)
    same = np.column_stack([rng.normal(10, 2, 2000), rng.exponential(3, 2000), rng.uniform(-1, 1, 2000)])
    result = drift.evaluate(baseline.statistics(report), baseline.constraints(report), captured(same))
    assert result.judged
    assert result.drifting == []
    assert result.violations == []
    assert result.max_distance < 0.06


def test_a_shifted_feature_drifts_and_is_reported_as_model_monitor_does(
    training: tuple[np.ndarray, DatasetReport],
) -> None:
    _features, report = training
    rng = np.random.default_rng(12)
    shifted = np.column_stack([rng.normal(13, 2, 2000), rng.exponential(3, 2000), rng.uniform(-1, 1, 2000)])
    result = drift.evaluate(baseline.statistics(report), baseline.constraints(report), captured(shifted))
    assert [f.name for f in result.drifting] == ["_c0"]
    assert result.drifting[0].distance > 0.5
    [violation] = result.violations
    assert violation["feature_name"] == "_c0"
    assert violation["constraint_check_type"] == "baseline_drift_check"
    assert violation["description"].startswith("Numerical distance: 0.")
    assert violation["description"].endswith("exceeds numerical threshold: 0.1")


def test_too_few_rows_are_not_judged(training: tuple[np.ndarray, DatasetReport]) -> None:
    _features, report = training
    shifted = np.full((50, 3), 99.0)
    result = drift.evaluate(baseline.statistics(report), baseline.constraints(report), captured(shifted), min_rows=1000)
    assert not result.judged
    assert result.features == []
    assert result.as_dict()["rows"] == 50


# --- bad capture --------------------------------------------------------------------------------


def test_unparsable_lines_and_wrong_widths_are_counted_and_skipped() -> None:
    found = capture.CapturedRows(features=3)
    body = b"".join(
        [
            capture_line(np.ones((4, 3))),
            b"{not json\n",
            b'{"eventVersion": "0"}\n',
            capture_line(np.ones((2, 2))),
            capture_line(np.ones((1, 4))),
            capture_line(np.ones((3, 3)), encoding="BASE64"),
        ]
    )
    capture.read_records(found, body)
    assert (found.rows, found.unparsed_lines, found.short_rows, found.long_rows) == (7, 2, 2, 1)
    result = drift.evaluate({"features": []}, {}, found, min_rows=1)
    assert {v["constraint_check_type"] for v in result.violations} == {"missing_column_check", "extra_column_check"}


def test_records_from_before_the_window_are_left_out() -> None:
    from datetime import UTC, datetime

    found = capture.CapturedRows(features=3)
    body = capture_line(np.ones((5, 3)), when="2026-12-05T08:59:59.999Z") + capture_line(
        np.ones((2, 3)), when="2026-12-05T09:00:00.000Z"
    )
    capture.read_records(found, body, since=datetime(2026, 12, 5, 9, tzinfo=UTC))
    assert (found.records, found.rows) == (1, 2)


def test_missing_cells_lower_completeness_and_break_the_completeness_check(
    training: tuple[np.ndarray, DatasetReport],
) -> None:
    _features, report = training
    rng = np.random.default_rng(5)
    rows = [
        f"{'' if i % 2 else repr(rng.normal(10, 2))},{rng.exponential(3)!r},{rng.uniform(-1, 1)!r}" for i in range(1500)
    ]
    found = capture.CapturedRows(features=3)
    record: dict[str, Any] = {
        "captureData": {
            "endpointInput": {"data": "\n".join(rows), "encoding": "CSV", "observedContentType": "text/csv"}
        }
    }
    capture.read_records(found, json.dumps(record).encode())
    result = drift.evaluate(baseline.statistics(report), baseline.constraints(report), found)
    assert result.features[0].completeness == pytest.approx(0.5)
    assert any(v["constraint_check_type"] == "completeness_check" for v in result.violations)


# --- live quality from ground truth -------------------------------------------------------------


def answered(identity: str, predictions: list[float], inference_id: bool = True) -> bytes:
    metadata = {"eventId": f"event-{identity}", "inferenceTime": "2026-12-05T10:00:00Z"}
    if inference_id:
        metadata["inferenceId"] = identity
    record = {
        "captureData": {
            "endpointInput": {"data": "\n".join("1,2,3" for _ in predictions), "encoding": "CSV"},
            "endpointOutput": {"data": "\n".join(f"{p:g}" for p in predictions), "encoding": "CSV"},
        },
        "eventMetadata": metadata,
    }
    return json.dumps(record).encode() + b"\n"


def test_labels_join_predictions_by_inference_id_and_give_the_gates_metric() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 400).astype(float)
    scores = np.clip(labels * 0.6 + rng.normal(0.2, 0.25, 400), 0, 1)
    found = capture.CapturedRows(features=3)
    truth = quality.GroundTruth()
    for index in range(0, 400, 4):
        capture.read_records(found, answered(f"req-{index}", list(scores[index : index + 4])))
        quality.read_ground_truth(truth, truth_line(f"req-{index}", list(labels[index : index + 4])))
    quality.read_ground_truth(truth, truth_line("req-unknown", [1.0]) + b"{broken\n")

    live = quality.evaluate("auc", found, truth, min_rows=200)

    assert live.value == pytest.approx(roc_auc_score(labels, scores))
    assert (live.matched_rows, live.unmatched_labels, live.unparsed_lines) == (400, 1, 1)
    assert live.as_dict()["metric"] == "live_auc"


def test_without_an_inference_id_the_event_id_joins_as_model_monitor_does() -> None:
    found = capture.CapturedRows(features=3)
    capture.read_records(found, answered("a", [0.9, 0.1], inference_id=False))
    truth = quality.GroundTruth()
    quality.read_ground_truth(truth, truth_line("event-a", [1.0, 0.0]))
    live = quality.evaluate("error", found, truth, min_rows=1)
    assert (live.value, live.matched_rows) == (0.0, 2)


def test_too_few_labels_publish_no_live_metric_and_batches_that_disagree_in_size_are_counted() -> None:
    found = capture.CapturedRows(features=3)
    capture.read_records(found, answered("a", [0.9, 0.1]) + answered("b", [0.2]))
    truth = quality.GroundTruth()
    quality.read_ground_truth(truth, truth_line("a", [1.0]) + truth_line("b", [0.0]))
    live = quality.evaluate("auc", found, truth, min_rows=5)
    assert live.value is None
    assert (live.matched_rows, live.mismatched_requests) == (1, 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("rmse", np.sqrt(np.mean((np.array([0.2, 0.7, 0.9]) - np.array([0.0, 1.0, 1.0])) ** 2))), ("accuracy", 1.0)],
)
def test_regression_and_accuracy_metrics(name: str, expected: float) -> None:
    assert quality.metric_value(name, [0.0, 1.0, 1.0], [0.2, 0.7, 0.9]) == pytest.approx(expected)


def test_a_metric_conveyor_cannot_compute_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ndcg"):
        quality.metric_value("ndcg", [1.0], [1.0])
    assert quality.live_metric_name("validation:auc") == "auc"
