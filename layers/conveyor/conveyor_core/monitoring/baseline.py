"""A model's data-quality baseline, in SageMaker Model Monitor's ``statistics.json`` / ``constraints.json``.

Preprocessing has exact per-feature counts, mean, deviation, minimum and maximum (streamed), and a
uniform sample of rows (``csv_dataset.RowSample``) for the distributions. The files follow Model
Monitor's documented schemas (model-monitor-byoc-statistics, model-monitor-byoc-constraints), so a
team that still has Model Monitor can point a monitoring schedule at them; Conveyor's own monitor
(``conveyor_core.monitoring.drift``) reads the same files. Features are named ``_c0``, ``_c1`` ...
in request order, the names a headerless CSV gets in Model Monitor's analyzer; the label is not a
feature (requests carry none).
"""

from __future__ import annotations

import math
from typing import Any

from conveyor_core.intake.csv_dataset import DatasetReport

# Model Monitor's KLL summaries always have ten buckets; the sketch below carries the sample itself.
_BUCKETS = 10
DEFAULT_DRIFT_THRESHOLD = 0.1


def feature_name(index: int) -> str:
    return f"_c{index}"


def _sample_columns(report: DatasetReport) -> list[list[float]]:
    """The sampled rows' feature values, column by column (missing cells left out)."""
    columns: list[list[float]] = [[] for _ in range(report.feature_count)]
    for line in report.sample.lines():
        cells = line.split(b",")[1:]
        for column, cell in zip(columns, cells, strict=False):
            text = cell.strip()
            if text and text.lower() != b"nan":
                column.append(float(text))
    return columns


def _buckets(values: list[float], low: float, high: float, total: int) -> list[dict[str, float]]:
    """Ten equal-width buckets over [low, high], their counts the sample's scaled to the whole column."""
    width = (high - low) / _BUCKETS or 1.0
    counts = [0] * _BUCKETS
    for value in values:
        counts[min(_BUCKETS - 1, max(0, int((value - low) / width)))] += 1
    scale = total / len(values) if values else 0.0
    return [
        {"lower_bound": low + i * width, "upper_bound": low + (i + 1) * width, "count": counts[i] * scale}
        for i in range(_BUCKETS)
    ]


def statistics(report: DatasetReport) -> dict[str, Any]:
    features = []
    for index, (stats, sample) in enumerate(zip(report.column_stats[1:], _sample_columns(report), strict=True)):
        summary = stats.as_dict()
        numerical: dict[str, Any] = {"common": {"num_present": stats.count, "num_missing": stats.missing}}
        if stats.count:
            numerical.update(
                mean=stats.mean,
                sum=stats.mean * stats.count,
                std_dev=summary["stddev"],
                min=stats.minimum,
                max=stats.maximum,
                distribution={
                    "kll": {
                        "buckets": _buckets(sample, stats.minimum, stats.maximum, stats.count),
                        # One level holding the sample: a KLL sketch whose compactions never ran.
                        "sketch": {"parameters": {"c": 0.64, "k": float(report.sample.size)}, "data": [sorted(sample)]},
                    }
                },
            )
        features.append({"name": feature_name(index), "inferred_type": "Fractional", "numerical_statistics": numerical})
    return {"version": 0.0, "dataset": {"item_count": report.rows}, "features": features}


def constraints(report: DatasetReport, drift_threshold: float = DEFAULT_DRIFT_THRESHOLD) -> dict[str, Any]:
    features = []
    for index, stats in enumerate(report.column_stats[1:]):
        seen = stats.count + stats.missing
        features.append(
            {
                "name": feature_name(index),
                "inferred_type": "Fractional",
                "completeness": stats.count / seen if seen else 0.0,
                "num_constraints": {"is_non_negative": bool(stats.count) and stats.minimum >= 0},
            }
        )
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": drift_threshold,
                "comparison_method": "Robust",
            },
        },
    }


def sketch_values(feature: dict[str, Any]) -> list[float]:
    """The baseline sample of one ``statistics.json`` feature, sorted (every level of its sketch)."""
    sketch = feature.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).get("sketch", {})
    values = [float(v) for level in sketch.get("data", []) for v in level if v is not None]
    return sorted(v for v in values if math.isfinite(v))
