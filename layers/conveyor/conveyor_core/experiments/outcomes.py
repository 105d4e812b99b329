"""Each variant's outcomes: the captured requests it answered, joined by inference id to what happened.

SageMaker writes each variant's captured requests under its own name
(``<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/``); outcomes land as Model Monitor ground-truth
records under ``s3://<DataBucket>/ground-truth/`` (``conveyor_core.monitoring.quality``), keyed by the
request's inference id. An outcome is either the business reward itself (``AbMetric=reward``: the
record's value, a conversion 0/1 or a revenue) or a label the request's answer is scored against
(``AbMetric=accuracy``: 1 when the answer's decision matches it). Outcomes whose id no captured
request of either variant carries are counted, never guessed at.

An experiment is evaluated again and again while it runs, and outcomes arrive after the requests
they belong to, sometimes long after. ``OutcomeLedger`` is the join so far: each variant's running
sums, the requests still waiting for their outcome and the outcomes still waiting for their
request. An evaluation folds in only what landed since the last one (``experiments.progress``), so
its cost follows the new traffic, not the experiment's age. Folding the same records in several
batches gives the arms one fold of them all gives: only the sums' rounding may differ (each batch is
summed exactly, the batches then added). One outcome per request is scored; a second one for a
request already scored finds no request waiting and is counted as unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class OutcomeLedger(BaseModel):
    """The join of an experiment's captured requests and outcomes so far, carried between evaluations."""

    model_config = ConfigDict(defer_build=True)

    arms: dict[str, Arm] = Field(default_factory=dict)
    # Captured requests without an outcome yet: inference id -> (variant, its answers).
    waiting_requests: dict[str, tuple[str, list[float]]] = Field(default_factory=dict)
    # Outcomes whose request no capture read so far carries (capture lands in buffered files).
    waiting_outcomes: dict[str, list[float]] = Field(default_factory=dict)
    unparsed_lines: int = 0
    unscored: int = 0

    def fold(self, metric: AbMetric, captured: dict[str, CapturedRows], truth: GroundTruth) -> None:
        """Join newly read requests and outcomes with each other and with everything still waiting."""
        self.unparsed_lines += truth.unparsed_lines
        for variant, rows in captured.items():
            self.arms.setdefault(variant, Arm(variant))
            for identity, answers in rows.predictions.items():
                self.waiting_requests[identity] = (variant, answers)
        for identity, labels in truth.labels.items():
            self.waiting_outcomes.setdefault(identity, labels)
        values: dict[str, list[float]] = {variant: [] for variant in self.arms}
        for identity in [found for found in self.waiting_outcomes if found in self.waiting_requests]:
            labels = self.waiting_outcomes.pop(identity)
            variant, answers = self.waiting_requests.pop(identity)
            scored = _values(metric, answers, labels)
            if scored is None:
                self.unscored += 1
            else:
                values[variant].extend(scored)
        for variant, found in values.items():
            if found:
                self.arms[variant] = self.arms[variant].add(found)

    def joined(self) -> JoinedOutcomes:
        return JoinedOutcomes(
            arms=dict(self.arms),
            unmatched_outcomes=len(self.waiting_outcomes),
            unparsed_lines=self.unparsed_lines,
            unscored=self.unscored,
        )


def join(metric: AbMetric, captured: dict[str, CapturedRows], truth: GroundTruth) -> JoinedOutcomes:
    """Per variant, the outcome of every captured request that has one (one fold into an empty ledger)."""
    ledger = OutcomeLedger()
    ledger.fold(metric, captured, truth)
    return ledger.joined()
