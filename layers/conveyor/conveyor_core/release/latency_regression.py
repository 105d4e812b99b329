"""Whether the candidate answers one request slower than the production model did: p99 at batch 1.

Neither batch transform measures a row's latency, so the gate compares the latencies both models'
training jobs printed (a script-mode family times its traced model on the training instance's
processors; see ``target_advisor.latency_metric_name``). Two timings compare only when they were
taken on the same instance type: the comparison is then like for like, and it says why it was not
made otherwise (a family that does not time its model, a production model trained before the
timings, another training instance type).

A timing's p99 is noisy: one traced model timed eight times in a row on a 2-core machine gave a
p99 of 18.6 to 33 µs over 1,000 calls (the p50 moved by under 1 µs). A candidate is therefore
slower only past the allowed increase *and* past ``NOISE_FLOOR_US``, so two microsecond-scale
models never fail on timer noise while a model twice as slow at the millisecond scale does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor_core.release.target_advisor import Measurement, measurements_from_metrics

NOISE_FLOOR_US = 50.0
BATCH = 1


@dataclass(frozen=True, slots=True)
class ProcessorLatency:
    processor: str
    candidate_p99_us: float
    production_p99_us: float

    @property
    def increase(self) -> float:
        return self.candidate_p99_us / self.production_p99_us - 1.0

    def slower_than_allowed(self, max_increase: float) -> bool:
        return self.increase > max_increase and self.candidate_p99_us - self.production_p99_us > NOISE_FLOOR_US

    def as_dict(self) -> dict[str, Any]:
        return {
            "processor": self.processor,
            "candidate_p99_us": self.candidate_p99_us,
            "production_p99_us": self.production_p99_us,
            "increase": self.increase,
        }


@dataclass(frozen=True, slots=True)
class TimedJob:
    """What a training job says about its model's latency: its instance type and its timings."""

    instance_type: str
    final_metrics: list[dict[str, Any]]

    def single_row(self) -> dict[str, Measurement]:
        return {m.processor: m for m in measurements_from_metrics(self.final_metrics) if m.batch == BATCH}


@dataclass(frozen=True, slots=True)
class LatencyComparison:
    """Per processor both jobs timed, or the reason nothing could be compared."""

    processors: tuple[ProcessorLatency, ...] = ()
    not_compared: str = ""

    def failures(self, max_increase: float) -> list[str]:
        return [
            f"p99 latency of one row on {p.processor} rose {p.increase:.0%} "
            f"({p.production_p99_us:.1f} -> {p.candidate_p99_us:.1f} µs) > {max_increase:.0%}"
            for p in self.processors
            if p.slower_than_allowed(max_increase)
        ]

    def summary(self) -> str:
        if self.not_compared:
            return f"latency not compared: {self.not_compared}"
        return ", ".join(
            f"{p.processor} p99 {p.production_p99_us:.1f} -> {p.candidate_p99_us:.1f} µs" for p in self.processors
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": BATCH,
            "noise_floor_us": NOISE_FLOOR_US,
            "processors": [p.as_dict() for p in self.processors],
            "not_compared": self.not_compared,
        }


def compare(candidate: TimedJob, production: TimedJob | None, family: str) -> LatencyComparison:
    ours = candidate.single_row()
    if not ours:
        return LatencyComparison(not_compared=f"the {family} training container does not time its model")
    if production is None:
        return LatencyComparison(not_compared="the production model's training job is gone")
    theirs = production.single_row()
    if not theirs:
        return LatencyComparison(not_compared="the production model's training job printed no timings")
    if candidate.instance_type != production.instance_type:
        return LatencyComparison(
            not_compared=(
                f"timed on different instance types ({production.instance_type} for production, "
                f"{candidate.instance_type} for the candidate)"
            )
        )
    common = [processor for processor in ("cpu", "gpu") if processor in ours and processor in theirs]
    return LatencyComparison(tuple(ProcessorLatency(p, ours[p].p99_us, theirs[p].p99_us) for p in common))
