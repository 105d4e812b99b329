"""An A/B test that may be looked at every hour: the mixture sequential probability ratio test.

Why this test: the evaluator looks at the data on a schedule for as long as the test runs, and
the number of looks is not known in advance (traffic decides when there is enough). A fixed-sample
test looked at repeatedly inflates its false-positive rate far past alpha; alpha spending (Lan-
DeMets) needs the test's final sample size up front to know how much alpha each look may spend. The
mSPRT (Robbins 1970; Johari, Koomen, Pekelis and Walsh, "Always valid inference", Operations
Research 2022) needs neither: its likelihood ratio against "no difference", mixed over a normal
prior on the effect, is a martingale under the null, so by Ville's inequality the chance it *ever*
reaches 1/alpha is at most alpha, however often it is read. The same bound gives a confidence
sequence for the effect: an interval that holds at every look at once.

The effect is the difference of the two variants' mean outcomes (a conversion rate, an accuracy,
a revenue per request), taken as normal with the variance of the two sample means: the guarantee
is asymptotic, which is why no verdict is given before ``min_samples`` outcomes per variant. The
mixing standard deviation ``tau`` is the effect the test is tuned to find fastest
(``AbMinimumEffect``); any tau keeps the false-positive bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from conveyor_core.experiments.arms import Arm

# Where the two sample variances are both zero (every outcome equal so far) the normal
# approximation says nothing; the variance of a single Bernoulli(1/2) outcome is used instead.
_FALLBACK_VARIANCE = 0.25


@dataclass(frozen=True, slots=True)
class SequentialEstimate:
    """The candidate's effect over production, its confidence-sequence interval, and the evidence."""

    effect: float
    low: float
    high: float
    likelihood_ratio: float
    alpha: float

    @property
    def significant(self) -> bool:
        return self.likelihood_ratio >= 1.0 / self.alpha

    @property
    def p_value(self) -> float:
        """The always-valid p-value at this look (1 / the mixture likelihood ratio, at most 1)."""
        return min(1.0, 1.0 / self.likelihood_ratio) if self.likelihood_ratio > 0 else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence": 1.0 - self.alpha,
            "p_value": self.p_value,
        }


def _variance(arm: Arm) -> float:
    variance = arm.variance
    return variance if variance > 0 else _FALLBACK_VARIANCE


def estimate(production: Arm, candidate: Arm, alpha: float, tau: float) -> SequentialEstimate:
    """The mSPRT at this look: candidate mean minus production mean, with its (1 - alpha) sequence."""
    if production.n < 2 or candidate.n < 2:
        return SequentialEstimate(math.nan, -math.inf, math.inf, 0.0, alpha)
    effect = candidate.mean - production.mean
    v = _variance(production) / production.n + _variance(candidate) / candidate.n
    t2 = tau * tau
    log_ratio = 0.5 * math.log(v / (v + t2)) + t2 * effect * effect / (2.0 * v * (v + t2))
    half_width = math.sqrt(v * (v + t2) / t2 * (2.0 * math.log(1.0 / alpha) + math.log((v + t2) / v)))
    return SequentialEstimate(effect, effect - half_width, effect + half_width, math.exp(min(log_ratio, 700.0)), alpha)
