"""What an experiment's evaluation decides: keep going, promote the candidate, or keep production.

The A/B test decides on the sequential test alone (``sequential``), so its false-positive rate
stays at most alpha however many evaluations it takes. The bandit moves the weights between
evaluations by the candidate's posterior probability of being the better variant (``thompson``)
and names a winner when that probability passes ``promote_probability`` *and* the sequential test
agrees: the posterior alone, checked every hour, named a winner in 14 of 20 simulated A/A tests.
Both wait for ``min_samples`` outcomes per variant before any verdict, and keep production when
``max_duration_seconds`` pass without one: the burden of proof is on the candidate. Outcomes are
"higher is better" (a conversion, an accuracy, a revenue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from conveyor_core.experiments import sequential, thompson
from conveyor_core.experiments.arms import Arm

Decision = Literal["continue", "promote", "keep"]
ExperimentStrategy = Literal["ab-test", "bandit"]


@dataclass(frozen=True, slots=True)
class ExperimentRules:
    strategy: ExperimentStrategy
    alpha: float = 0.05
    minimum_effect: float = 0.02
    min_samples: int = 100
    max_duration_seconds: int = 14 * 86_400
    bandit_floor: float = 0.1
    promote_probability: float = 0.95


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    candidate_share: float
    production: Arm
    candidate: Arm
    estimate: sequential.SequentialEstimate
    elapsed_seconds: float
    probability_candidate_best: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reason": self.reason,
            "candidate_share": self.candidate_share,
            "production": self.production.as_dict(),
            "candidate": self.candidate.as_dict(),
            **self.estimate.as_dict(),
            "probability_candidate_best": self.probability_candidate_best,
            "elapsed_seconds": self.elapsed_seconds,
        }


def _interval(estimate: sequential.SequentialEstimate) -> str:
    return (
        f"effect {estimate.effect:+.4f} (candidate - production), "
        f"{1 - estimate.alpha:.0%} confidence sequence [{estimate.low:+.4f}, {estimate.high:+.4f}]"
    )


def _samples(production: Arm, candidate: Arm) -> str:
    return f"{production.n} production and {candidate.n} candidate outcomes"


def decide(
    rules: ExperimentRules,
    production: Arm,
    candidate: Arm,
    elapsed_seconds: float,
    candidate_share: float,
    seed: int = 0,
) -> Verdict:
    """This evaluation's verdict; ``candidate_share`` is the traffic share the candidate has now."""
    estimate = sequential.estimate(production, candidate, rules.alpha, rules.minimum_effect)
    enough = min(production.n, candidate.n) >= rules.min_samples
    expired = elapsed_seconds >= rules.max_duration_seconds
    samples = _samples(production, candidate)
    probability = None
    share = candidate_share
    if rules.strategy == "bandit":
        probability = thompson.probability_candidate_best(production, candidate, seed)
        share = thompson.candidate_weight(probability, rules.bandit_floor)
        decided_by = f"P(candidate better) {probability:.3f}, always-valid p {estimate.p_value:.4f}"
        # The posterior alone, read every hour, names a winner in most A/A tests (bench/experiments.py):
        # a verdict also needs the sequential test, whose false-positive bound holds at every look.
        promote = enough and probability >= rules.promote_probability and estimate.significant
        keep = enough and 1.0 - probability >= rules.promote_probability and estimate.significant
    else:
        decided_by = f"always-valid p {estimate.p_value:.4f}"
        promote = enough and estimate.significant and estimate.effect > 0
        keep = enough and estimate.significant and estimate.effect < 0

    def verdict(decision: Decision, reason: str) -> Verdict:
        return Verdict(decision, reason, share, production, candidate, estimate, elapsed_seconds, probability)

    detail = f"{_interval(estimate)}; {decided_by}; {samples}"
    if promote:
        return verdict("promote", f"{rules.strategy}: the candidate is better: {detail}")
    if keep:
        return verdict("keep", f"{rules.strategy}: production is better: {detail}")
    if expired:
        why = "no verdict" if enough else f"fewer than {rules.min_samples} outcomes per variant"
        return verdict(
            "keep", f"{rules.strategy}: {why} after {elapsed_seconds:.0f} s (AbMaxDurationSeconds): {detail}"
        )
    return verdict("continue", f"{rules.strategy} continues: {detail}")
