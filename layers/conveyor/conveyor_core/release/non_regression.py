"""The non-regression gate: the candidate's and the production model's answers on a fixed golden dataset.

A global metric can improve while many single answers move: the gate compares the two models row by
row before promotion. Both answer the golden rows in a SageMaker batch transform (the candidate as
trained, the production model as it serves), and the comparison measures the largest absolute
difference between their answers and the share of rows whose decision (answer > 0.5) flips, and the
p99 latency of one row as both training jobs timed it (``latency_regression``). Past any threshold
the candidate is rejected with the report, which is written beside the run's other artefacts and
named in the model package's metadata when the candidate passes.

The golden dataset is ``GoldenDatasetUri`` (a prefix or one object, in the drops' label-first CSV),
or by default the held-out validation split of the production model's own data: rows it never
trained on, and the candidate, trained on newer data, may not have seen either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conveyor_core.release.history import DeploymentRecord
from conveyor_core.release.latency_regression import LatencyComparison
from conveyor_core.shared.contracts import NonRegressionOutput, NonRegressionPlan
from conveyor_core.shared.settings import NonRegressionPlanSettings, NonRegressionSettings

DECISION_THRESHOLD = 0.5


def plan(settings: NonRegressionPlanSettings, run_id: str, production: DeploymentRecord) -> NonRegressionPlan:
    golden = settings.golden_uri or f"s3://{settings.artifact_bucket}/runs/{production.run_id}/data/validation/"
    prefix = f"s3://{settings.artifact_bucket}/runs/{run_id}/non-regression"
    return NonRegressionPlan(
        candidate_model=f"{run_id}-nr",
        candidate_instance_type=settings.endpoint_instance_type,
        candidate_output=f"{prefix}/candidate/",
        production_model=production.model_name,
        # A Neo-compiled production model runs only on the family it was compiled for.
        production_instance_type=production.instance_type or settings.endpoint_instance_type,
        production_output=f"{prefix}/production/",
        golden_uri=golden,
        production_training_job=production.run_id,
    )


def _answers(text: str) -> list[list[float]]:
    return [[float(cell) for cell in line.split(",")] for line in text.splitlines() if line.strip()]


def _decision(answer: list[float]) -> int:
    """A score's side of the threshold; a multi-class answer's most probable class."""
    if len(answer) == 1:
        return int(answer[0] > DECISION_THRESHOLD)
    return answer.index(max(answer))


@dataclass(frozen=True)
class Comparison:
    rows: int
    max_abs_diff: float
    disagreement: float
    worst_row: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "disagreement": self.disagreement,
            "worst_row": self.worst_row,
        }


def compare(candidate: str, production: str) -> Comparison:
    """Row by row: the largest absolute difference, and the share of rows whose decision differs."""
    ours, theirs = _answers(candidate), _answers(production)
    if len(ours) != len(theirs) or not ours:
        raise ValueError(f"the transforms answered {len(ours)} and {len(theirs)} rows of the same golden dataset")
    worst, worst_row, flips = 0.0, 0, 0
    for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
        if len(mine) != len(other):
            raise ValueError(f"row {index + 1}: {len(mine)} answers against {len(other)}: the models' outputs differ")
        gap = max(abs(a - b) for a, b in zip(mine, other, strict=True))
        if gap > worst:
            worst, worst_row = gap, index + 1
        flips += _decision(mine) != _decision(other)
    return Comparison(len(ours), worst, flips / len(ours), worst_row)


def verdict(
    settings: NonRegressionSettings, comparison: Comparison, latency: LatencyComparison, report_uri: str
) -> NonRegressionOutput:
    failures = []
    if comparison.max_abs_diff > settings.max_abs_diff:
        failures.append(
            f"an answer moved by {comparison.max_abs_diff:.4g} (row {comparison.worst_row}) > {settings.max_abs_diff:g}"
        )
    if comparison.disagreement > settings.max_disagreement:
        failures.append(
            f"{comparison.disagreement:.2%} of the golden rows changed decision > {settings.max_disagreement:.2%}"
        )
    failures += latency.failures(settings.max_latency_increase)
    summary = (
        f"{comparison.rows} golden rows: max |diff| {comparison.max_abs_diff:.4g}, "
        f"{comparison.disagreement:.2%} decisions changed; {latency.summary()}"
    )
    reason = (
        f"non-regression failed against the production model: {'; '.join(failures)} ({summary}; report {report_uri})"
        if failures
        else f"non-regression passed: {summary}"
    )
    return NonRegressionOutput(
        passed=not failures,
        reason=reason,
        report_uri=report_uri,
        rows=comparison.rows,
        max_abs_diff=comparison.max_abs_diff,
        disagreement=comparison.disagreement,
        latency=latency.summary(),
        package_metadata={"non_regression_report": report_uri},
    )


def report(settings: NonRegressionSettings, comparison: Comparison, latency: LatencyComparison, golden_uri: str) -> str:
    return json.dumps(
        {
            "golden_uri": golden_uri,
            "decision_threshold": DECISION_THRESHOLD,
            "thresholds": {
                "max_abs_diff": settings.max_abs_diff,
                "max_disagreement": settings.max_disagreement,
                "max_latency_increase": settings.max_latency_increase,
            },
            **comparison.as_dict(),
            "latency": latency.as_dict(),
        },
        indent=2,
    )
