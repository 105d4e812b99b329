"""Thompson sampling over two variants: each one's probability of being the better, and its weight.

Why Thompson sampling: it sends each variant the share of traffic equal to the posterior
probability that it is the better one, so traffic leaves a worse variant as fast as the evidence
allows and no faster; it has no tuning constant (unlike epsilon-greedy's epsilon or UCB's
exploration width), and its regret is logarithmic in the number of requests (Agrawal and Goyal
2012), the best order possible. A floor per variant keeps both variants measured (and their
alarms fed) until the test ends.

Outcomes in [0, 1] (conversions, accuracies) get a Beta(1 + sum, 1 + n - sum) posterior, a
fractional outcome counting as a partial success; other rewards (revenue) a normal posterior on
the mean. The probability comes from seeded posterior draws, so a weight is reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from conveyor_core.experiments.arms import Arm

DRAWS = 10_000


@dataclass(frozen=True, slots=True)
class Posterior:
    arm: Arm

    def draw(self, rng: random.Random) -> float:
        arm = self.arm
        if arm.bounded:
            return rng.betavariate(1.0 + arm.total, 1.0 + arm.n - arm.total)
        if arm.n < 2:
            return rng.gauss(0.0, 1e6)  # no evidence yet: anything is possible
        return rng.gauss(arm.mean, math.sqrt(max(arm.variance, 1e-12) / arm.n))


def probability_candidate_best(production: Arm, candidate: Arm, seed: int) -> float:
    """P(candidate's true mean > production's) under the posteriors, from ``DRAWS`` seeded draws."""
    rng = random.Random(seed)
    mine, theirs = Posterior(candidate), Posterior(production)
    wins = sum(mine.draw(rng) > theirs.draw(rng) for _ in range(DRAWS))
    return wins / DRAWS


def candidate_weight(probability_best: float, floor: float) -> float:
    """The candidate's share of traffic: its probability of being best, kept within [floor, 1 - floor]."""
    return min(1.0 - floor, max(floor, probability_best))
