"""The A/B test's error rates and the bandit's regret, simulated on the exact decision code.

Each run is one experiment on a live endpoint, evaluated hourly as the evaluator evaluates it: in
each hour a simulated client sends ``REQUESTS_PER_HOUR`` requests, each routed to the candidate with
probability equal to the candidate's current traffic share and converting with its variant's true
rate (a Bernoulli outcome); the arms accumulate, and ``conveyor_core.experiments.decision.decide``
(the rules' defaults: alpha 0.05, minimum effect 0.02, 100 outcomes per variant before a verdict, a
bandit floor of 0.1 and a promote probability of 0.95) is called at the end of the hour, until it
promotes, keeps, or the maximum duration (14 days, 336 evaluations) passes. The A/B test holds the
candidate at 50%; the bandit takes the share each verdict returns, starting at 50% (the evaluator's
1-point reweigh step, below which it leaves the endpoint's weights alone, is not modelled).

Run ``i`` of every setting seeds its ``random.Random`` with ``i`` (common random numbers across
settings and strategies); the bandit's posterior draws at hour ``h`` use seed ``1000 * i + h``.
Every rate comes with its run count and a 95% Clopper-Pearson interval.

The naive way is a fixed-sample two-proportion z-test at alpha 0.05 read at every hourly look (with
the same 100-outcome minimum): its false-positive rate is measured on the same A/A runs' data. The
bandit's regret (expected conversions lost to the worse variant, share x requests x gap) is set
against a fixed 50/50 split serving the same hours of requests.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from bench.common import Figure, bench_main, log, percentile
from conveyor_core.experiments.arms import Arm
from conveyor_core.experiments.decision import ExperimentRules, ExperimentStrategy, Verdict, decide

NAME = "experiments"
REQUESTS_PER_HOUR = 200
HOUR_SECONDS = 3600
FULL_HOURS = 14 * 24
SMOKE_HOURS = 24
ALPHA = 0.05
BASE_RATE = 0.10
START_SHARE = 0.5
FIXED_SHARE = 0.5
# Runs per setting. The bandit's evaluations cost ~30 ms each (10,000 posterior draws), the A/B
# test's ~10 µs, so the bandit gets fewer runs, and fewest where its runs last longest (A/A: 336
# evaluations each, about 10 s). 12 bandit runs per effect and 8 A/A runs (40 and 40 until issue 19,
# then 16 and 12) keep `make bench` within 10 minutes; --bandit-runs 40 --bandit-aa-runs 40 restore them.
AB_RUNS = 200
BANDIT_RUNS = 12
BANDIT_AA_RUNS = 8
SMOKE_AB_RUNS = 20
SMOKE_BANDIT_RUNS = 2
TARGET_POWER = 0.8
THOMPSON_SEED_STRIDE = 1000


@dataclass(frozen=True, slots=True)
class Setting:
    strategy: ExperimentStrategy
    production_rate: float
    candidate_rate: float
    hours: int
    requests_per_hour: int = REQUESTS_PER_HOUR
    # Read the naive peeking z-test at every look too, and simulate on to its first rejection.
    naive: bool = False

    @property
    def label(self) -> str:
        return f"{self.production_rate:.0%} vs {self.candidate_rate:.0%}"

    def rules(self) -> ExperimentRules:
        return ExperimentRules(self.strategy, alpha=ALPHA, max_duration_seconds=self.hours * HOUR_SECONDS)


@dataclass(frozen=True, slots=True)
class RunResult:
    seed: int
    decision: Literal["promote", "keep"]
    # The verdict came from the evidence (the test or the posterior), not from the maximum duration.
    significant: bool
    hours: int
    # Expected conversions lost to the worse variant while the experiment ran, and by a fixed 50/50
    # split over the same hours of requests.
    regret: float
    fixed_regret: float
    # The same, over the whole horizon: after a verdict, all traffic goes to the variant it chose.
    horizon_regret: float
    # The smaller arm's outcome count at the verdict.
    min_samples_at_verdict: int
    # The first hour the naive peeking z-test rejected, if it did (A/A runs with ``naive`` only).
    naive_hour: int | None = None


def z_test_rejects(production: Arm, candidate: Arm, alpha: float) -> bool:
    """The fixed-sample two-proportion z-test (pooled variance), two-sided at ``alpha``."""
    pooled = (production.total + candidate.total) / (production.n + candidate.n)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / production.n + 1.0 / candidate.n))
    if se == 0.0:
        return False
    z = (candidate.mean - production.mean) / se
    return abs(z) >= statistics.NormalDist().inv_cdf(1.0 - alpha / 2.0)


def _hour(rng: random.Random, setting: Setting, share: float) -> tuple[list[float], list[float]]:
    production: list[float] = []
    candidate: list[float] = []
    for _ in range(setting.requests_per_hour):
        if rng.random() < share:
            candidate.append(1.0 if rng.random() < setting.candidate_rate else 0.0)
        else:
            production.append(1.0 if rng.random() < setting.production_rate else 0.0)
    return production, candidate


def _by_evidence(rules: ExperimentRules, verdict: Verdict) -> bool:
    """Whether a promote/keep verdict came from the evidence rather than from the maximum duration."""
    if verdict.decision == "promote":
        return True
    if rules.strategy == "bandit":
        assert verdict.probability_candidate_best is not None
        return 1.0 - verdict.probability_candidate_best >= rules.promote_probability
    return verdict.estimate.significant


def simulate(setting: Setting, seed: int) -> RunResult:
    """One seeded experiment, evaluated hourly by ``decide`` until a verdict or the maximum duration."""
    rules = setting.rules()
    rng = random.Random(seed)
    production, candidate = Arm("production"), Arm("candidate")
    best = max(setting.production_rate, setting.candidate_rate)
    gap = abs(setting.candidate_rate - setting.production_rate)
    share = START_SHARE if setting.strategy == "bandit" else FIXED_SHARE
    regret = fixed_regret = 0.0
    naive_hour: int | None = None
    found: RunResult | None = None
    alpha = rules.alpha
    for hour in range(1, setting.hours + 1):
        served_production, served_candidate = _hour(rng, setting, share)
        production, candidate = production.add(served_production), candidate.add(served_candidate)
        requests = setting.requests_per_hour
        if found is None:
            lost = share * (best - setting.candidate_rate) + (1.0 - share) * (best - setting.production_rate)
            regret += requests * lost
            fixed_regret += requests * FIXED_SHARE * gap
        enough = min(production.n, candidate.n) >= rules.min_samples
        if setting.naive and naive_hour is None and enough and z_test_rejects(production, candidate, alpha):
            naive_hour = hour
        if found is None:
            verdict = decide(
                rules, production, candidate, hour * HOUR_SECONDS, share, seed * THOMPSON_SEED_STRIDE + hour
            )
            share = verdict.candidate_share
            if verdict.decision != "continue":
                chosen = setting.candidate_rate if verdict.decision == "promote" else setting.production_rate
                after = (setting.hours - hour) * requests * (best - chosen)
                found = RunResult(
                    seed,
                    verdict.decision,
                    _by_evidence(rules, verdict),
                    hour,
                    regret,
                    fixed_regret,
                    regret + after,
                    min(production.n, candidate.n),
                )
        # The A/B test's share never moves, so the data after its verdict are what the A/A run's
        # naive test would have seen: go on until the naive test rejects too.
        if found is not None and (not setting.naive or naive_hour is not None):
            break
    assert found is not None, "decide keeps production at the maximum duration"
    return replace(found, naive_hour=naive_hour)


def _simulate_many(task: tuple[Setting, Sequence[int]]) -> list[RunResult]:
    setting, seeds = task
    return [simulate(setting, seed) for seed in seeds]


def simulate_all(
    plan: Sequence[tuple[Setting, int]], workers: int, chunk: dict[str, int] | None = None
) -> dict[Setting, list[RunResult]]:
    """Every setting's runs, seeds 0..runs-1, spread over ``workers`` processes (the results do not
    depend on how many)."""
    sizes = chunk or {"ab-test": 25, "bandit": 1}
    tasks: list[tuple[Setting, Sequence[int]]] = []
    for setting, runs in plan:
        step = sizes[setting.strategy]
        tasks += [(setting, range(start, min(runs, start + step))) for start in range(0, runs, step)]
    # The bandit's A/A runs last longest: they start first.
    tasks.sort(key=lambda task: (task[0].strategy != "bandit", task[0].production_rate != task[0].candidate_rate))
    results: dict[Setting, list[RunResult]] = {setting: [] for setting, _ in plan}
    if workers <= 1:
        done: Iterable[list[RunResult]] = map(_simulate_many, tasks)
        for (setting, _), found in zip(tasks, done, strict=True):
            results[setting] += found
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (setting, _), found in zip(tasks, pool.map(_simulate_many, tasks), strict=True):
                results[setting] += found
    for found in results.values():
        found.sort(key=lambda run: run.seed)
    return results


# --- binomial intervals -----------------------------------------------------------------------------


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    return math.fsum(
        math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q) for i in range(k + 1)
    )


def _solve(function: Callable[[float], float], target: float, increasing: bool) -> float:
    """The p in [0, 1] where a monotone ``function`` crosses ``target``, by bisection."""
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2.0
        above = function(middle) > target
        if above == increasing:
            high = middle
        else:
            low = middle
    return (low + high) / 2.0


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) binomial interval for a rate seen ``successes`` times in ``trials``."""
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else _solve(lambda p: 1.0 - _binomial_cdf(successes - 1, trials, p), tail, True)
    high = 1.0 if successes == trials else _solve(lambda p: _binomial_cdf(successes, trials, p), tail, False)
    return low, high


def rate_text(successes: int, trials: int) -> str:
    low, high = clopper_pearson(successes, trials)
    return f"{successes}/{trials} = {successes / trials:.1%} (95% CI {low:.1%} to {high:.1%})"


# --- figures ------------------------------------------------------------------------------------------


def _hours_figure(setting: Setting, runs: list[RunResult], what: str) -> Figure:
    hours = [run.hours for run in runs]
    return Figure(
        NAME,
        f"{what} hours to verdict at {setting.label}, median of {len(runs)} runs",
        statistics.median_low(hours),
        "hours",
        kind="count",
        note=(
            f"p25 {percentile(hours, 25):.0f}, p75 {percentile(hours, 75):.0f}, max {max(hours)}; "
            f"a run with no verdict counts as {setting.hours} h"
        ),
        details={"hours": hours},
    )


def _rate_details(successes: int, trials: int) -> dict[str, float | int]:
    low, high = clopper_pearson(successes, trials)
    return {"successes": successes, "runs": trials, "rate": successes / trials, "ci95_low": low, "ci95_high": high}


def run(
    smoke: bool = False,
    workers: int | None = None,
    ab_runs: int | None = None,
    bandit_runs: int | None = None,
    bandit_aa_runs: int | None = None,
) -> list[Figure]:
    """Simulate hourly-evaluated A/B tests and bandits on the exact decision code; report error rates and regret."""
    hours = SMOKE_HOURS if smoke else FULL_HOURS
    ab = ab_runs or (SMOKE_AB_RUNS if smoke else AB_RUNS)
    bandit = bandit_runs or (SMOKE_BANDIT_RUNS if smoke else BANDIT_RUNS)
    bandit_aa = bandit_aa_runs or (SMOKE_BANDIT_RUNS if smoke else BANDIT_AA_RUNS)
    workers = workers or len(os.sched_getaffinity(0))
    aa = Setting("ab-test", BASE_RATE, BASE_RATE, hours, naive=True)
    effects = [Setting("ab-test", BASE_RATE, rate, hours) for rate in (0.12, 0.13)]
    worse = Setting("ab-test", 0.12, BASE_RATE, hours)
    bandit_aa_setting = Setting("bandit", BASE_RATE, BASE_RATE, hours)
    bandit_effects = [Setting("bandit", BASE_RATE, rate, hours) for rate in (0.12, 0.13)]
    bandit_worse = Setting("bandit", 0.12, BASE_RATE, hours)
    plan = [
        (aa, ab),
        *((setting, ab) for setting in effects),
        (worse, ab),
        (bandit_aa_setting, bandit_aa),
        *((setting, bandit) for setting in bandit_effects),
        (bandit_worse, bandit),
    ]
    log(f"{NAME}: {sum(runs for _, runs in plan)} runs of up to {hours} hourly evaluations on {workers} worker(s)")
    results = simulate_all(plan, workers)
    figures: list[Figure] = []

    # The A/B test in A/A runs, and the naive peeking z-test on the same runs' data.
    runs = results[aa]
    false_positives = sum(run.significant for run in runs)
    naive_positives = sum(run.naive_hour is not None for run in runs)
    low, _ = clopper_pearson(false_positives, len(runs))
    figures.append(
        Figure(
            NAME,
            f"A/B test false positives in {len(runs)} A/A runs ({aa.label}), alpha {ALPHA:g}",
            false_positives,
            "runs",
            naive=naive_positives,
            naive_label=f"z-test read every hour: {rate_text(naive_positives, len(runs))}",
            target=f"≤ {ALPHA:.0%} of runs (alpha)",
            met=low <= ALPHA,
            kind="count",
            note=rate_text(false_positives, len(runs)),
            details={
                **_rate_details(false_positives, len(runs)),
                "promotions": sum(run.significant and run.decision == "promote" for run in runs),
                "naive": _rate_details(naive_positives, len(runs)),
            },
        )
    )
    naive_hours = [run.naive_hour for run in runs if run.naive_hour is not None]
    figures.append(
        Figure(
            NAME,
            f"naive: fixed-sample z-test at alpha {ALPHA:g} read every hour, false positives in the same "
            f"{len(runs)} A/A runs",
            naive_positives,
            "runs",
            target=f"≤ {ALPHA:.0%} of runs (alpha)",
            met=clopper_pearson(naive_positives, len(runs))[0] <= ALPHA,
            kind="count",
            note=rate_text(naive_positives, len(runs))
            + (f"; median first rejection at hour {statistics.median_low(naive_hours)}" if naive_hours else ""),
            details={**_rate_details(naive_positives, len(runs)), "first_rejection_hours": naive_hours},
        )
    )
    for setting in effects:
        runs = results[setting]
        promoted = sum(run.decision == "promote" for run in runs)
        figures.append(
            Figure(
                NAME,
                f"A/B test power at {setting.label}: promotions in {len(runs)} runs",
                promoted,
                "runs",
                target=f"≥ {TARGET_POWER:.0%} of runs",
                met=promoted / len(runs) >= TARGET_POWER,
                kind="count",
                note=rate_text(promoted, len(runs)),
                details=_rate_details(promoted, len(runs)),
            )
        )
        figures.append(_hours_figure(setting, runs, "A/B test"))
    runs = results[worse]
    promoted = sum(run.decision == "promote" for run in runs)
    figures.append(
        Figure(
            NAME,
            f"A/B test promotions of a worse candidate ({worse.label}) in {len(runs)} runs",
            promoted,
            "runs",
            target=f"≤ {ALPHA:.0%} of runs (alpha)",
            met=clopper_pearson(promoted, len(runs))[0] <= ALPHA,
            kind="count",
            note=rate_text(promoted, len(runs)),
            details=_rate_details(promoted, len(runs)),
        )
    )

    # The bandit: its verdicts' errors, its time to verdict, its regret against a fixed 50/50 split.
    runs = results[bandit_aa_setting]
    promoted = sum(run.decision == "promote" for run in runs)
    declared = sum(run.significant for run in runs)
    figures.append(
        Figure(
            NAME,
            f"bandit promotions of an equal candidate in {len(runs)} A/A runs ({bandit_aa_setting.label})",
            promoted,
            "runs",
            naive_label=f"A/B test: {rate_text(false_positives, len(results[aa]))}",
            kind="count",
            note=f"{rate_text(promoted, len(runs))}; a winner declared either way: {rate_text(declared, len(runs))}",
            details={**_rate_details(promoted, len(runs)), "declared": _rate_details(declared, len(runs))},
        )
    )
    figures.append(_hours_figure(bandit_aa_setting, runs, "bandit"))
    runs = results[bandit_worse]
    promoted = sum(run.decision == "promote" for run in runs)
    ab_promoted = sum(run.decision == "promote" for run in results[worse])
    figures.append(
        Figure(
            NAME,
            f"bandit promotions of a worse candidate ({bandit_worse.label}) in {len(runs)} runs",
            promoted,
            "runs",
            naive_label=f"A/B test: {rate_text(ab_promoted, len(results[worse]))}",
            target=f"≤ {ALPHA:.0%} of runs (the A/B test's alpha)",
            met=clopper_pearson(promoted, len(runs))[0] <= ALPHA,
            kind="count",
            note=rate_text(promoted, len(runs)),
            details=_rate_details(promoted, len(runs)),
        )
    )
    figures.append(_hours_figure(bandit_worse, runs, "bandit"))
    for setting, ab_setting in zip(bandit_effects, effects, strict=True):
        runs = results[setting]
        kept = sum(run.decision == "keep" and run.significant for run in runs)
        promoted = sum(run.decision == "promote" for run in runs)
        figures.append(
            Figure(
                NAME,
                f"bandit wrong verdicts at {setting.label} (production judged better) in {len(runs)} runs",
                kept,
                "runs",
                kind="count",
                note=(
                    f"{rate_text(kept, len(runs))}; promoted {rate_text(promoted, len(runs))}; "
                    f"the rest kept at {setting.hours} h without a verdict"
                ),
                details={**_rate_details(kept, len(runs)), "promoted": _rate_details(promoted, len(runs))},
            )
        )
        figures.append(_hours_figure(setting, runs, "bandit"))
        regret = statistics.fmean(run.regret for run in runs)
        fixed = statistics.fmean(run.fixed_regret for run in runs)
        figures.append(
            Figure(
                NAME,
                f"bandit regret during the experiment at {setting.label}, against a fixed 50/50 split",
                round(regret / fixed, 3),
                "x",
                naive=1.0,
                naive_label="fixed 50/50 split on the same hours of requests",
                target="< 1x",
                met=regret < fixed,
                kind="count",
                note=(
                    f"{regret:.1f} against {fixed:.1f} expected conversions lost a run "
                    f"(mean of {len(runs)} runs, {REQUESTS_PER_HOUR} requests an hour)"
                ),
                details={"bandit_mean": regret, "fixed_mean": fixed, "runs": len(runs)},
            )
        )
        horizon = statistics.fmean(run.horizon_regret for run in runs)
        ab_horizon = statistics.fmean(run.horizon_regret for run in results[ab_setting])
        figures.append(
            Figure(
                NAME,
                f"regret over {hours} h (experiment + the verdict's variant after) at {setting.label}: "
                "bandit against the A/B test",
                round(horizon / ab_horizon, 3) if ab_horizon else None,
                "x",
                naive=1.0,
                naive_label="A/B test at 50/50 until its verdict",
                kind="count",
                note=(
                    f"bandit {horizon:.1f} ({len(runs)} runs) against A/B test {ab_horizon:.1f} "
                    f"({len(results[ab_setting])} runs) expected conversions lost a run"
                ),
                details={"bandit_mean": horizon, "ab_test_mean": ab_horizon},
            )
        )
    for setting, found in results.items():
        minimum = setting.rules().min_samples
        early = [run for run in found if run.significant and run.min_samples_at_verdict < minimum]
        assert not early, f"{setting}: a verdict before {minimum} outcomes per variant: {early[:3]}"
        log(f"{NAME}: {setting.strategy} {setting.label}: {len(found)} runs")
    return figures


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, help="processes (default: the cores this process may use)")
    parser.add_argument("--ab-runs", type=int, help=f"A/B test runs per setting (default {AB_RUNS})")
    parser.add_argument("--bandit-runs", type=int, help=f"bandit runs per effect setting (default {BANDIT_RUNS})")
    parser.add_argument("--bandit-aa-runs", type=int, help=f"bandit A/A runs (default {BANDIT_AA_RUNS})")


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
