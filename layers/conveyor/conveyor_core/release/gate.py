"""The quality gate: does a newly trained model deserve to replace the one in production?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from conveyor_core.shared.settings import MetricDirection


class MetricNotFoundError(LookupError):
    """The training job did not report the metric the gate is configured to judge."""


@dataclass(frozen=True, slots=True)
class GateDecision:
    promote: bool
    candidate: float
    production: float | None
    improvement: float | None
    reason: str

    def as_output(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "candidate": self.candidate,
            "production": self.production,
            "improvement": self.improvement,
            "reason": self.reason,
        }


def metric_from_training_job(final_metrics: list[dict[str, Any]], metric_name: str) -> float:
    """Read one metric from DescribeTrainingJob's ``FinalMetricDataList``."""
    for entry in final_metrics:
        if entry.get("MetricName") == metric_name:
            value = float(entry["Value"])
            if not math.isfinite(value):
                raise MetricNotFoundError(f"metric '{metric_name}' is {value}, not a finite number")
            return value
    available = sorted(str(entry.get("MetricName")) for entry in final_metrics)
    raise MetricNotFoundError(f"training job reported no '{metric_name}' metric (it reported {available})")


def decide(
    candidate: float,
    production: float | None,
    direction: MetricDirection,
    min_improvement: float,
    metric_name: str,
) -> GateDecision:
    """Promote when there is no production model, or when the candidate is better by the margin.

    A tie with ``min_improvement == 0`` promotes: the candidate saw fresher data at equal quality.
    """
    if production is None:
        return GateDecision(True, candidate, None, None, f"no model in production; {metric_name}={candidate:.6g}")
    improvement = candidate - production if direction == "maximize" else production - candidate
    # A tolerance keeps 0.9 - 0.8 (= 0.0999...) from failing a 0.1 margin on rounding alone.
    promote = improvement >= min_improvement - 1e-9
    verdict = "promoted" if promote else "rejected"
    return GateDecision(
        promote,
        candidate,
        production,
        improvement,
        f"{verdict}: {metric_name} {candidate:.6g} vs production {production:.6g} "
        f"({direction}, improvement {improvement:+.6g}, required >= {min_improvement:g})",
    )
