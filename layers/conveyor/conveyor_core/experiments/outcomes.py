"""Each variant's outcomes: the captured requests it answered, joined by inference id to what happened.

SageMaker writes each variant's captured requests under its own name
(``<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/``); outcomes land as Model Monitor ground-truth
records under ``s3://<DataBucket>/ground-truth/`` (``conveyor_core.monitoring.quality``), keyed by the
request's inference id. An outcome is either the business reward itself (``AbMetric=reward``: the
record's value, a conversion 0/1 or a revenue) or a label the request's answer is scored against
(``AbMetric=accuracy``: 1 when the answer's decision matches it). Outcomes whose id no captured
request of either variant carries are counted, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from conveyor_core.experiments.arms import Arm
from conveyor_core.monitoring.capture import CapturedRows
from conveyor_core.monitoring.quality import GroundTruth

AbMetric = Literal["reward", "accuracy"]
DECISION_THRESHOLD = 0.5


@dataclass
class JoinedOutcomes:
    arms: dict[str, Arm] = field(default_factory=dict)
    unmatched_outcomes: int = 0
    unparsed_lines: int = 0
    # Requests whose answer cannot be scored against the label (a different number of rows).
    unscored: int = 0


def _decision(answer: float) -> int:
    return int(answer > DECISION_THRESHOLD)


def _values(metric: AbMetric, answers: list[float], labels: list[float]) -> list[float] | None:
    if metric == "reward":
        return [labels[0]]
    if len(answers) != len(labels):
        return None
    return [float(_decision(a) == _decision(y)) for a, y in zip(answers, labels, strict=True)]


def join(metric: AbMetric, captured: dict[str, CapturedRows], truth: GroundTruth) -> JoinedOutcomes:
    """Per variant, the outcome of every captured request that has one."""
    joined = JoinedOutcomes(unparsed_lines=truth.unparsed_lines)
    owner = {identity: variant for variant, rows in captured.items() for identity in rows.predictions}
    values: dict[str, list[float]] = {variant: [] for variant in captured}
    for identity, labels in truth.labels.items():
        variant = owner.get(identity)
        if variant is None:
            joined.unmatched_outcomes += 1
            continue
        scored = _values(metric, captured[variant].predictions[identity], labels)
        if scored is None:
            joined.unscored += 1
            continue
        values[variant].extend(scored)
    joined.arms = {variant: Arm.of(variant, found) for variant, found in values.items()}
    return joined
