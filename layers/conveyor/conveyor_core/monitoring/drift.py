"""Data drift of captured traffic against a model's baseline, as Model Monitor reports it.

The distance of a numerical feature is Model Monitor's: the largest gap between the cumulative
distributions of the baseline and of the current data (L-infinity, the two-sample
Kolmogorov-Smirnov statistic), against ``comparison_threshold`` from ``constraints.json``. The
report is Model Monitor's ``constraint_violations.json`` (``baseline_drift_check``,
``missing_column_check``, ``extra_column_check``, ``completeness_check``) plus the per-feature
figures the notification, the metrics and ``conveyor drift`` show.

Too little traffic is no evidence: below ``min_rows`` captured rows the report says so and judges
nothing (with 2,048 baseline rows and 1,000 current ones, a distance of 0.1 is more than twice
the Kolmogorov-Smirnov statistic's 95 % quantile under no drift).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from conveyor_core.monitoring.baseline import sketch_values
from conveyor_core.monitoring.capture import CapturedRows

DEFAULT_MIN_ROWS = 1000


def ks_distance(baseline: list[float], current: list[float]) -> float:
    """max |F_baseline(x) - F_current(x)| over every observed x; both lists sorted."""
    if not baseline or not current:
        return 0.0
    gap = 0.0
    for x in (*baseline, *current):
        gap = max(gap, abs(bisect_right(baseline, x) / len(baseline) - bisect_right(current, x) / len(current)))
    return gap


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    distance: float
    threshold: float
    baseline_completeness: float
    completeness: float
    baseline_mean: float | None
    mean: float | None

    @property
    def drifting(self) -> bool:
        return self.distance > self.threshold


@dataclass
class DriftReport:
    rows: int
    min_rows: int
    threshold: float
    features: list[FeatureDrift] = field(default_factory=list)
    violations: list[dict[str, str]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def judged(self) -> bool:
        return self.rows >= self.min_rows

    @property
    def drifting(self) -> list[FeatureDrift]:
        return sorted((f for f in self.features if f.drifting), key=lambda f: -f.distance)

    @property
    def max_distance(self) -> float:
        return max((f.distance for f in self.features), default=0.0)

    def constraint_violations(self) -> dict[str, Any]:
        return {"violations": self.violations}

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "min_rows": self.min_rows,
            "judged": self.judged,
            "threshold": self.threshold,
            "max_distance": self.max_distance,
            "drifting_features": [f.name for f in self.drifting],
            "features": [vars(f) | {"drifting": f.drifting} for f in self.features],
            "skipped": self.skipped,
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def evaluate(
    statistics: dict[str, Any], constraints: dict[str, Any], captured: CapturedRows, min_rows: int = DEFAULT_MIN_ROWS
) -> DriftReport:
    config = constraints.get("monitoring_config", {}).get("distribution_constraints", {})
    threshold = float(config.get("comparison_threshold", 0.1))
    compare = config.get("perform_comparison", "Enabled") == "Enabled"
    report = DriftReport(
        rows=captured.rows,
        min_rows=min_rows,
        threshold=threshold,
        skipped={
            "unparsed_lines": captured.unparsed_lines,
            "unreadable_payloads": captured.unreadable_payloads,
            "short_rows": captured.short_rows,
            "long_rows": captured.long_rows,
        },
    )
    if captured.short_rows:
        report.violations.append(
            {"feature_name": "", "constraint_check_type": "missing_column_check",
             "description": f"{captured.short_rows} rows have fewer than the baseline's {captured.features} columns"}
        )  # fmt: skip
    if captured.long_rows:
        report.violations.append(
            {"feature_name": "", "constraint_check_type": "extra_column_check",
             "description": f"{captured.long_rows} rows have more than the baseline's {captured.features} columns"}
        )  # fmt: skip
    if not report.judged:
        return report
    expected = {f["name"]: f for f in constraints.get("features", [])}
    for index, feature in enumerate(statistics.get("features", [])[: captured.features]):
        name = feature["name"]
        values = sorted(captured.columns[index])
        seen = len(values) + captured.missing_cells[index]
        baseline = sketch_values(feature)
        drift = FeatureDrift(
            name=name,
            distance=ks_distance(baseline, values) if compare else 0.0,
            threshold=threshold,
            baseline_completeness=float(expected.get(name, {}).get("completeness", 1.0)),
            completeness=len(values) / seen if seen else 0.0,
            baseline_mean=feature.get("numerical_statistics", {}).get("mean"),
            mean=_mean(values),
        )
        report.features.append(drift)
        if drift.drifting:
            report.violations.append(
                {"feature_name": name, "constraint_check_type": "baseline_drift_check",
                 "description": f"Numerical distance: {drift.distance:.6g} exceeds numerical threshold: {threshold:g}"}
            )  # fmt: skip
        if drift.completeness < drift.baseline_completeness - threshold:
            report.violations.append(
                {"feature_name": name, "constraint_check_type": "completeness_check",
                 "description": f"Data completeness {drift.completeness:.4g} is below the baseline's "
                 f"{drift.baseline_completeness:.4g}"}
            )  # fmt: skip
    return report
