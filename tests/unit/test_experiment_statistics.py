"""The experiments' statistics: error rates and coverage in seeded simulations, and the modules' behaviour.

Simulated runs follow ``bench/experiments.py``: each hour ``REQUESTS`` requests, each routed to the
candidate with the candidate's current share and converting with its variant's true rate; the
arms accumulate and ``decide`` runs at the end of the hour. Every seed is fixed, so each test is
deterministic; every tolerance is derived from the run count (a binomial quantile at 99.9%, computed
here from the binomial distribution), so a seed change would fail one of them with probability
about 0.1% if the module holds its guarantee.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field

import pytest

from conveyor_core.experiments import sequential, thompson
from conveyor_core.experiments.arms import Arm
from conveyor_core.experiments.decision import ExperimentRules, ExperimentStrategy, Verdict, decide

REQUESTS = 200
HOUR = 3600
DAYS_14 = 14 * 24
ALPHA = 0.05
TAIL = 0.001  # each statistical assertion's own chance of failing by bad luck, at most
NORMAL = statistics.NormalDist()


# --- the binomial distribution ------------------------------------------------------------------------


def binomial_cdf(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(min(k, n) + 1)) if k >= 0 else 0.0


def upper_quantile(n: int, p: float, tail: float = TAIL) -> int:
    """The smallest k with P(X > k) <= tail for X ~ Binomial(n, p): more than k would be that unlikely."""
    return next(k for k in range(n + 1) if 1.0 - binomial_cdf(k, n, p) <= tail)


def lower_quantile(n: int, p: float, tail: float = TAIL) -> int:
    """The largest k with P(X < k) <= tail for X ~ Binomial(n, p): fewer than k would be that unlikely."""
    return max(k for k in range(n + 1) if binomial_cdf(k - 1, n, p) <= tail)


def test_binomial_quantiles_match_known_values() -> None:
    assert binomial_cdf(200, 200, 0.05) == pytest.approx(1.0)
    # Binomial(200, 0.05): mean 10, sd 3.08; its 99.9% quantile is 21 (P(X > 21) = 0.0006, P(X > 20) = 0.0014).
    assert upper_quantile(200, 0.05) == 21
    assert lower_quantile(10, 0.5) == 1  # P(X = 0) = 0.001: no fewer than 1 of 10 fair coins
    assert lower_quantile(200, 1.0) == 200


# --- the simulation -----------------------------------------------------------------------------------


@dataclass
class Run:
    verdict: Verdict
    hours: int
    shares: list[float] = field(default_factory=list)
    # The smaller arm's outcome count at each look.
    smallest: list[int] = field(default_factory=list)
    naive_hour: int | None = None


def _serve(rng: random.Random, share: float, production_rate: float, candidate_rate: float) -> tuple[list[float], ...]:
    production: list[float] = []
    candidate: list[float] = []
    for _ in range(REQUESTS):
        if rng.random() < share:
            candidate.append(float(rng.random() < candidate_rate))
        else:
            production.append(float(rng.random() < production_rate))
    return production, candidate


def z_test_rejects(production: Arm, candidate: Arm) -> bool:
    """The naive way: a fixed-sample two-proportion z-test at ALPHA, as if this look were the only one."""
    pooled = (production.total + candidate.total) / (production.n + candidate.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / production.n + 1 / candidate.n))
    return se > 0 and abs(candidate.mean - production.mean) / se >= NORMAL.inv_cdf(1 - ALPHA / 2)


def simulate(
    strategy: ExperimentStrategy,
    production_rate: float,
    candidate_rate: float,
    seed: int,
    hours: int = DAYS_14,
    naive: bool = False,
    min_samples: int = ExperimentRules("ab-test").min_samples,
) -> Run:
    """One hourly-evaluated experiment until its verdict (with ``naive``, until the z-test rejects too)."""
    rules = ExperimentRules(strategy, alpha=ALPHA, max_duration_seconds=hours * HOUR, min_samples=min_samples)
    rng = random.Random(seed)
    production, candidate = Arm("production"), Arm("candidate")
    share, shares, smallest = 0.5, [], []
    found: Run | None = None
    naive_hour = None
    for hour in range(1, hours + 1):
        served_production, served_candidate = _serve(rng, share, production_rate, candidate_rate)
        production, candidate = production.add(served_production), candidate.add(served_candidate)
        smallest.append(min(production.n, candidate.n))
        enough = smallest[-1] >= rules.min_samples
        if naive and naive_hour is None and enough and z_test_rejects(production, candidate):
            naive_hour = hour
        if found is None:
            verdict = decide(rules, production, candidate, hour * HOUR, share, seed * 1000 + hour)
            share = verdict.candidate_share
            shares.append(share)
            if verdict.decision != "continue":
                found = Run(verdict, hour, shares, smallest)
        if found is not None and (not naive or naive_hour is not None):
            break
    assert found is not None
    found.naive_hour = naive_hour
    return found


def _by_evidence(run: Run) -> bool:
    """An A/B verdict from the test (not from the maximum duration)."""
    return run.verdict.decision == "promote" or run.verdict.estimate.significant


@pytest.fixture(scope="module")
def aa_runs() -> list[Run]:
    """200 A/A runs (both variants convert at 10%) of the A/B test over 14 days, the z-test read too."""
    return [simulate("ab-test", 0.10, 0.10, seed, naive=True) for seed in range(200)]


# --- the A/B test's error rates -----------------------------------------------------------------------


def test_ab_false_positive_rate_in_aa_runs_is_at_most_alpha(aa_runs: list[Run]) -> None:
    # Any verdict from the test before the 14 days end (promote or keep) is a false positive: the
    # mSPRT bounds their probability by alpha however many looks, so their count over 200 runs is
    # at most Binomial(200, alpha)'s 99.9% quantile.
    false_positives = sum(_by_evidence(run) for run in aa_runs)

    assert false_positives <= upper_quantile(len(aa_runs), ALPHA)


def test_the_naive_peeking_z_test_is_far_above_alpha_in_the_same_runs(aa_runs: list[Run]) -> None:
    # What the simulation would show of a test that does not hold alpha under hourly looks: more
    # rejections than Binomial(200, alpha) allows (the harness can see the inflation it guards against).
    rejections = sum(run.naive_hour is not None for run in aa_runs)

    assert rejections > upper_quantile(len(aa_runs), ALPHA)


def test_aa_runs_without_a_verdict_keep_production_at_expiry(aa_runs: list[Run]) -> None:
    undecided = [run for run in aa_runs if not _by_evidence(run)]

    assert undecided
    assert all(run.hours == DAYS_14 and run.verdict.decision == "keep" for run in undecided)
    assert all("AbMaxDurationSeconds" in run.verdict.reason for run in undecided)


def _power_lower_bound(production_rate: float, candidate_rate: float, hours: int) -> float:
    """A conservative lower bound on the A/B test's power at this effect within ``hours`` hourly looks.

    The test promotes if at some look it is significant with a positive effect and was not
    significant with a negative one before. So P(promote) >= P(significant and positive at the last
    look) - P(ever significant and negative). The second term is at most alpha: the effect being
    positive only makes a negative crossing rarer than under no difference, where crossing at all
    has probability at most alpha. At the last look the mSPRT is significant when
    |effect| >= b = sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) + log((V + tau^2) / V) / 2)), where V is
    the variance of the difference of the two means. Each arm has Binomial(requests, 1/2) outcomes;
    n = the expected count less 5 sd makes V conservative (larger; the sample variances the test
    plugs in are within a few percent of the true ones at thousands of outcomes), and the estimated
    effect is normal (means of thousands of Bernoulli outcomes), so P(effect >= b) >= Phi((delta - b) / sqrt(V)).
    """
    expected = REQUESTS * hours / 2
    n = expected - 5 * math.sqrt(expected / 2)
    variance = (production_rate * (1 - production_rate) + candidate_rate * (1 - candidate_rate)) / n
    tau2 = ExperimentRules("ab-test").minimum_effect ** 2
    b = math.sqrt(
        2 * variance * (variance + tau2) / tau2 * (math.log(1 / ALPHA) + math.log((variance + tau2) / variance) / 2)
    )
    return NORMAL.cdf((candidate_rate - production_rate - b) / math.sqrt(variance)) - ALPHA


@pytest.mark.parametrize(("candidate_rate", "hours"), [(0.12, 72), (0.13, 36)])
def test_ab_power_at_a_stated_effect_is_at_least_its_derived_bound(candidate_rate: float, hours: int) -> None:
    # 10% vs 12% within 3 days: the bound is about 0.71; 10% vs 13% within 36 hours: about 0.75.
    # 200 runs may fall short of the bound's Binomial(200, bound) 0.1% quantile only by that chance.
    bound = _power_lower_bound(0.10, candidate_rate, hours)
    assert bound > 0.6
    runs = [simulate("ab-test", 0.10, candidate_rate, seed, hours=hours) for seed in range(200)]

    promoted = sum(run.verdict.decision == "promote" for run in runs)

    assert promoted >= lower_quantile(len(runs), bound)


def test_ab_test_never_decides_on_fewer_than_min_samples_per_arm_in_simulated_runs(aa_runs: list[Run]) -> None:
    minimum = ExperimentRules("ab-test").min_samples
    decided = [run for run in aa_runs if _by_evidence(run)]
    assert all(min(run.verdict.production.n, run.verdict.candidate.n) >= minimum for run in decided)
    # 10% against 40% with 600 outcomes a variant required: at 600 a variant a 30-point effect is 13
    # standard errors, far past the mSPRT's boundary (about 4 there), so the verdict comes exactly at the
    # first look where both variants have 600 outcomes, never earlier.
    for seed in range(20):
        run = simulate("ab-test", 0.10, 0.40, seed, hours=24, min_samples=600)
        assert run.verdict.decision == "promote"
        assert run.smallest[-2] < 600 <= run.smallest[-1]


# --- the confidence sequence --------------------------------------------------------------------------


def test_confidence_sequence_holds_the_true_effect_at_every_look() -> None:
    # 200 runs of 10% vs 12% at 50/50 over 7 days, never stopped: the (1 - alpha) confidence sequence
    # must contain the true effect at all 168 looks at once (from the first with min_samples per
    # arm) in all but at most Binomial(200, alpha)'s 99.9% quantile of runs.
    minimum = ExperimentRules("ab-test").min_samples
    effect = 0.02
    missed = 0
    widths = []
    for seed in range(200):
        rng = random.Random(seed)
        production, candidate = Arm("production"), Arm("candidate")
        covered = True
        for _ in range(7 * 24):
            served_production, served_candidate = _serve(rng, 0.5, 0.10, 0.10 + effect)
            production, candidate = production.add(served_production), candidate.add(served_candidate)
            if min(production.n, candidate.n) < minimum:
                continue
            estimate = sequential.estimate(production, candidate, ALPHA, 0.02)
            covered = covered and estimate.low <= effect <= estimate.high
        missed += not covered
        widths.append(estimate.high - estimate.low)

    assert missed <= upper_quantile(200, ALPHA)
    # The sequence narrows as outcomes accumulate: after a week (16,800 per arm) it is a few points wide.
    assert max(widths) < 0.03


def test_confidence_sequence_is_unbounded_below_two_outcomes_and_widens_with_lower_alpha() -> None:
    production, candidate = Arm.of("p", [0.0, 1.0] * 500), Arm.of("c", [0.0, 1.0, 1.0] * 300)

    assert math.isinf(sequential.estimate(Arm.of("p", [1.0]), candidate, ALPHA, 0.02).low)
    strict, loose = (
        sequential.estimate(production, candidate, 0.01, 0.02),
        sequential.estimate(production, candidate, 0.1, 0.02),
    )
    assert strict.low < loose.low < loose.effect < loose.high < strict.high
    assert strict.p_value == loose.p_value  # the evidence does not depend on alpha


# --- decide's rules -----------------------------------------------------------------------------------


def _conversions(name: str, converted: int, n: int) -> Arm:
    return Arm.of(name, [1.0] * converted + [0.0] * (n - converted))


@pytest.mark.parametrize("strategy", ["ab-test", "bandit"])
def test_decide_gives_no_verdict_before_min_samples_per_arm(strategy: ExperimentStrategy) -> None:
    rules = ExperimentRules(strategy)
    # A huge effect: 5% against 60%, with one arm one outcome short of the minimum.
    production = _conversions("production", 5, 100)
    short = _conversions("candidate", 59, 99)

    assert decide(rules, production, short, HOUR, 0.5).decision == "continue"
    assert decide(rules, short, production, HOUR, 0.5).decision == "continue"
    assert decide(rules, production, _conversions("candidate", 60, 100), HOUR, 0.5).decision == "promote"
    assert decide(rules, _conversions("production", 60, 100), production, HOUR, 0.5).decision == "keep"


@pytest.mark.parametrize("strategy", ["ab-test", "bandit"])
def test_decide_keeps_production_at_expiry(strategy: ExperimentStrategy) -> None:
    rules = ExperimentRules(strategy)
    equal = _conversions("production", 100, 1000), _conversions("candidate", 100, 1000)
    few = _conversions("production", 5, 50), _conversions("candidate", 40, 50)

    assert decide(rules, *equal, rules.max_duration_seconds - 1, 0.5).decision == "continue"
    at_expiry = decide(rules, *equal, rules.max_duration_seconds, 0.5)
    assert at_expiry.decision == "keep"
    assert "no verdict after" in at_expiry.reason
    too_few = decide(rules, *few, rules.max_duration_seconds, 0.5)
    assert too_few.decision == "keep"
    assert f"fewer than {rules.min_samples} outcomes per variant" in too_few.reason


def test_ab_test_leaves_the_share_where_it_is() -> None:
    rules = ExperimentRules("ab-test")
    verdict = decide(rules, _conversions("p", 10, 100), _conversions("c", 12, 100), HOUR, 0.3)

    assert verdict.candidate_share == 0.3
    assert verdict.probability_candidate_best is None


# --- the bandit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("floor", [0.1, 0.25])
def test_bandit_share_goes_to_the_better_variant_within_the_floor(floor: float) -> None:
    rules = ExperimentRules("bandit", bandit_floor=floor)
    production, better, worse = _conversions("p", 40, 400), _conversions("c", 80, 400), _conversions("c", 20, 400)

    assert decide(rules, production, better, HOUR, 0.5).candidate_share == pytest.approx(1 - floor)
    assert decide(rules, production, worse, HOUR, 0.5).candidate_share == pytest.approx(floor)
    assert thompson.candidate_weight(0.0, floor) == floor
    assert thompson.candidate_weight(1.0, floor) == 1 - floor
    assert thompson.candidate_weight(0.5, floor) == 0.5


@pytest.mark.parametrize(("production_rate", "candidate_rate"), [(0.10, 0.13), (0.13, 0.10)])
def test_bandit_moves_traffic_toward_the_better_variant_in_simulated_runs(
    production_rate: float, candidate_rate: float
) -> None:
    floor = ExperimentRules("bandit").bandit_floor
    runs = [simulate("bandit", production_rate, candidate_rate, seed, hours=48) for seed in range(4)]
    better_is_candidate = candidate_rate > production_rate

    for run in runs:
        assert all(floor <= share <= 1 - floor for share in run.shares)
        assert min(run.verdict.production.n, run.verdict.candidate.n) >= ExperimentRules("bandit").min_samples
        # After its first look the bandit serves the better variant the larger share of traffic.
        assert (statistics.fmean(run.shares) > 0.5) == better_is_candidate
        better_arm = run.verdict.candidate if better_is_candidate else run.verdict.production
        worse_arm = run.verdict.production if better_is_candidate else run.verdict.candidate
        assert better_arm.n > worse_arm.n


# --- Thompson sampling's probability ------------------------------------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def exact_beta_probability(production: Arm, candidate: Arm) -> float:
    """P(candidate's Beta posterior > production's), exactly, for integer successes (Evan Miller's sum)."""
    a_p, b_p = 1 + production.total, 1 + production.n - production.total
    a_c, b_c = 1 + candidate.total, 1 + candidate.n - candidate.total
    return math.fsum(
        math.exp(_log_beta(a_p + i, b_p + b_c) - math.log(b_c + i) - _log_beta(1 + i, b_c) - _log_beta(a_p, b_p))
        for i in range(round(a_c))
    )


def _monte_carlo_tolerance(p: float) -> float:
    # The estimate is a mean of DRAWS independent indicators: 5 standard errors (two-sided 6e-7).
    return 5 * math.sqrt(max(p * (1 - p), 1e-4) / thompson.DRAWS)


def test_probability_candidate_best_is_reproducible_for_a_seed() -> None:
    production, candidate = _conversions("p", 100, 1000), _conversions("c", 112, 1000)

    first = thompson.probability_candidate_best(production, candidate, 7)
    assert thompson.probability_candidate_best(production, candidate, 7) == first
    others = [thompson.probability_candidate_best(production, candidate, seed) for seed in (8, 9)]
    assert others != [first, first]
    assert all(abs(other - first) <= 2 * _monte_carlo_tolerance(first) for other in others)


@pytest.mark.parametrize(
    ("production", "candidate"), [((100, 1000), (112, 1000)), ((3, 20), (9, 25)), ((0, 0), (1, 3))]
)
def test_beta_path_matches_the_exact_posterior_probability(
    production: tuple[int, int], candidate: tuple[int, int]
) -> None:
    arms = _conversions("p", *production), _conversions("c", *candidate)
    assert all(arm.bounded for arm in arms)
    exact = exact_beta_probability(*arms)

    estimated = thompson.probability_candidate_best(*arms, seed=3)

    assert abs(estimated - exact) <= _monte_carlo_tolerance(exact)


def test_normal_path_for_rewards_outside_zero_one() -> None:
    # Revenue: 0 or 5.0 a request. Not bounded, so each mean gets a normal posterior, and the
    # probability is Phi(difference / its standard error).
    rng = random.Random(11)
    production = Arm.of("p", [5.0 * (rng.random() < 0.10) for _ in range(2000)])
    candidate = Arm.of("c", [5.0 * (rng.random() < 0.11) for _ in range(2000)])
    assert not production.bounded
    assert not candidate.bounded
    se = math.sqrt(production.variance / production.n + candidate.variance / candidate.n)
    expected = NORMAL.cdf((candidate.mean - production.mean) / se)

    estimated = thompson.probability_candidate_best(production, candidate, seed=5)

    assert abs(estimated - expected) <= _monte_carlo_tolerance(expected)
    # Beta draws stay in [0, 1]; the normal posterior of a 0/5 revenue is centred on its mean.
    draws = random.Random(1)
    assert all(0 <= thompson.Posterior(_conversions("p", 3, 10)).draw(draws) <= 1 for _ in range(1000))
    assert statistics.fmean(thompson.Posterior(production).draw(draws) for _ in range(1000)) == pytest.approx(
        production.mean, abs=5 * se
    )


@pytest.mark.parametrize(
    ("values", "bounded"),
    [
        ([], True),
        ([0.0, 1.0, 1.0], True),
        ([0.25, 0.5, 1.0], True),
        ([0.0, 5.0], False),
        ([1.5], False),
        ([-1.0, 1.0], False),
    ],
)
def test_arm_bounded_says_whether_a_beta_posterior_fits(values: list[float], bounded: bool) -> None:
    assert Arm.of("a", values).bounded is bounded


def test_arm_running_sums_match_the_statistics_module() -> None:
    rng = random.Random(2)
    values = [rng.random() * 3 for _ in range(50)]
    arm = Arm.of("a", values[:20]).add(values[20:])

    assert arm.n == 50
    assert arm.mean == pytest.approx(statistics.fmean(values))
    assert arm.variance == pytest.approx(statistics.variance(values))
    assert math.isnan(Arm("a").mean)
    assert math.isnan(Arm.of("a", [1.0]).variance)
