"""Evaluate a running A/B test or bandit: each variant's outcomes so far, the verdict, the next weights."""

from __future__ import annotations

import math
import zlib
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.experiments import outcomes, progress
from conveyor_core.experiments.decision import ExperimentRules, Verdict, decide
from conveyor_core.release import history
from conveyor_core.release.deployment import CANDIDATE_VARIANT
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import ExperimentInput, ExperimentOutput
from conveyor_core.shared.settings import EXPERIMENT_STRATEGIES, ExperimentSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics(namespace="Conveyor/Experiments")
s3 = aws_clients.client("s3")
dynamodb = aws_clients.client("dynamodb")
sagemaker = aws_clients.client("sagemaker")
# A bandit's weights move only when its share changes by at least this much: every update puts
# the endpoint in Updating for a while, and a percent of traffic is below what the estimate resolves.
REWEIGH_STEP = 0.01


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _candidate_share(settings: ExperimentSettings) -> float:
    """The candidate's share of traffic now, from the endpoint's current weights."""
    described = sagemaker.describe_endpoint(EndpointName=settings.endpoint_name)
    weights = {v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in described["ProductionVariants"]}
    total = sum(weights.values())
    if CANDIDATE_VARIANT not in weights or total <= 0:
        raise ValueError(f"endpoint {settings.endpoint_name} serves no '{CANDIDATE_VARIANT}' variant: {weights}")
    return weights[CANDIDATE_VARIANT] / total


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _record(settings: ExperimentSettings, event: ExperimentInput, verdict: Verdict, evaluations: int) -> None:
    state = {"continue": "running", "promote": "promoted", "keep": "kept"}[verdict.decision]
    estimate = verdict.estimate
    history.put_experiment(
        dynamodb,
        settings.history_table,
        history.ExperimentRecord(
            pk=history.partition(settings.model_name),
            sk=history.experiment_sort_key(event.run_id),
            run_id=event.run_id,
            strategy=settings.strategy,
            endpoint=settings.endpoint_name,
            state=state,  # type: ignore[arg-type]
            reason=verdict.reason,
            started_at=event.started_at,
            evaluated_at=event.now,
            evaluations=evaluations,
            candidate_share=verdict.candidate_share,
            production_n=verdict.production.n,
            candidate_n=verdict.candidate.n,
            production_mean=_finite(verdict.production.mean),
            candidate_mean=_finite(verdict.candidate.mean),
            effect=_finite(estimate.effect),
            ci_low=_finite(estimate.low),
            ci_high=_finite(estimate.high),
            p_value=_finite(estimate.p_value),
            probability_candidate_best=verdict.probability_candidate_best,
        ),
    )


def _evaluations_so_far(settings: ExperimentSettings, run_id: str) -> int:
    record = history.experiment(dynamodb, settings.history_table, settings.model_name, run_id)
    return int(record.evaluations) if record else 0


def _emit(verdict: Verdict, joined: outcomes.JoinedOutcomes) -> None:
    metrics.add_metric(name="candidate_share", unit=MetricUnit.Percent, value=100 * verdict.candidate_share)
    metrics.add_metric(name="production_outcomes", unit=MetricUnit.Count, value=verdict.production.n)
    metrics.add_metric(name="candidate_outcomes", unit=MetricUnit.Count, value=verdict.candidate.n)
    metrics.add_metric(name="unmatched_outcomes", unit=MetricUnit.Count, value=joined.unmatched_outcomes)
    if math.isfinite(verdict.estimate.effect):
        metrics.add_metric(name="effect", unit=MetricUnit.NoUnit, value=verdict.estimate.effect)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ExperimentInput)
def lambda_handler(event: ExperimentInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(ExperimentSettings)
    if settings.strategy not in EXPERIMENT_STRATEGIES:
        raise ValueError(f"DeploymentStrategy {settings.strategy} runs no experiment")
    logger.append_keys(run_id=event.run_id)
    metrics.add_dimension(name="Endpoint", value=settings.endpoint_name)
    started, now = _time(event.started_at), _time(event.now)
    share = _candidate_share(settings)
    saved_at = progress.progress_key(settings.endpoint_name, event.run_id)
    so_far = progress.load(s3, settings.artifact_bucket, saved_at)
    progress.advance(s3, so_far, settings, started, now)
    joined = so_far.ledger.joined()
    evaluations = _evaluations_so_far(settings, event.run_id) + 1
    rules = ExperimentRules(
        strategy=settings.strategy,  # type: ignore[arg-type]
        alpha=settings.alpha,
        minimum_effect=settings.minimum_effect,
        min_samples=settings.min_samples,
        max_duration_seconds=settings.max_duration_seconds,
        bandit_floor=settings.bandit_floor_percent / 100,
        promote_probability=settings.promote_probability,
    )
    production = joined.arms[settings.variant_name]
    candidate = joined.arms[CANDIDATE_VARIANT]
    seed = zlib.crc32(event.run_id.encode()) * 1000 + evaluations
    verdict = decide(rules, production, candidate, (now - started).total_seconds(), share, seed)
    # Saved before the record: an evaluation on the record has always saved what it read.
    progress.save(s3, settings.artifact_bucket, saved_at, so_far)
    _record(settings, event, verdict, evaluations)
    _emit(verdict, joined)
    summary = {
        **verdict.as_dict(),
        "metric": settings.metric,
        "unmatched_outcomes": joined.unmatched_outcomes,
        "unparsed_outcome_lines": joined.unparsed_lines,
        "unscored_outcomes": joined.unscored,
    }
    logger.info("experiment evaluated", extra=summary)
    new_share = round(verdict.candidate_share, 3)
    return ExperimentOutput(
        decision=verdict.decision,
        reason=verdict.reason,
        weights=[
            {"VariantName": settings.variant_name, "DesiredWeight": round(100 * (1 - new_share), 1)},
            {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": round(100 * new_share, 1)},
        ],
        reweigh=verdict.decision == "continue" and abs(new_share - share) >= REWEIGH_STEP,
        candidate_share=new_share,
        evaluations=evaluations,
        verdict={k: v for k, v in summary.items() if not isinstance(v, float) or math.isfinite(v)},
    ).model_dump()
