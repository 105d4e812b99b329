"""``conveyor status``: what serves, what is in production, and the latest runs and rollbacks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from conveyor_cli import endpoint, executions, history_table, render
from conveyor_cli.context import options
from conveyor_cli.views import Endpoint, Execution
from conveyor_core.intake.pending_drops import PendingDrop, PendingDrops, now_seconds
from conveyor_core.release.deployment import CANDIDATE_VARIANT
from conveyor_core.release.history import DeploymentRecord, ExperimentRecord


def status(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many retrain and rollback executions to list.")] = 5,
) -> None:
    """Show the endpoint, the production model and the latest retrain and rollback executions."""
    opts = options(ctx)
    target = opts.target()
    serving = endpoint.describe(target)
    production = history_table.current(target)
    experiment = history_table.latest_experiment(target)
    # SUCCEEDED says only that a run ended as designed; its outcome says how (deployed, quarantined...).
    retrains = [
        executions.detailed(target, e)
        for e in executions.recent(target, target.outputs.retrain_state_machine_arn, limit)
    ]
    rollbacks = [
        executions.detailed(target, e)
        for e in executions.recent(target, target.outputs.rollback_state_machine_arn, limit)
    ]
    drops = (
        PendingDrops(target.client("dynamodb"), target.outputs.drop_table_name, target.model_name).waiting()
        if target.outputs.drop_table_name
        else []
    )
    if opts.json:
        render.emit_json(
            {
                "pending_drops": [_drop_view(d) for d in drops],
                "stack": target.stack_name,
                "region": target.region,
                "model": target.model_name,
                "endpoint": serving,
                "production": production,
                "experiment": experiment,
                "retrain_executions": retrains,
                "rollback_executions": rollbacks,
            }
        )
        return
    out = render.console()
    out.print(f"[bold]{target.label}[/bold]  model [bold]{target.model_name}[/bold]")
    _endpoint(out, target.outputs.endpoint_name, serving)
    _production(out, production)
    _experiment(out, experiment, serving)
    _executions(out, "retrain executions", retrains, target.outputs.data_bucket_name)
    _executions(out, "rollback executions", rollbacks, target.outputs.data_bucket_name)
    _pending_drops(out, drops)


def _drop_view(drop: PendingDrop) -> dict[str, object]:
    now = now_seconds()
    return {
        "folder": f"s3://{drop.bucket}/{drop.folder}",
        "status": drop.status.value,
        "objects": drop.parts,
        "data_objects": drop.data_parts,
        "bytes": drop.bytes,
        "age_seconds": int(drop.age(now)),
        "quiet_seconds": int(drop.quiet_for(now)),
        "reported_incomplete": drop.notified_at is not None,
    }


def _pending_drops(out: Console, drops: list[PendingDrop]) -> None:
    # A folder drop waits for its marker, a manifest or its quiet period; none of it is a run yet.
    rows = []
    for drop in drops:
        view = _drop_view(drop)
        rows.append(
            (
                view["folder"],
                f"{drop.parts} ({drop.data_parts} data)",
                render.duration(float(drop.age(now_seconds()))),
                render.duration(float(drop.quiet_for(now_seconds()))),
                "reported" if drop.notified_at is not None else drop.status.value,
            )
        )
    out.print(render.table("pending drops", ["folder", "objects", "age", "quiet for", "state"], rows))


def _endpoint(out: Console, name: str, serving: Endpoint | None) -> None:
    if serving is None:
        out.print(render.fields("endpoint", [("name", name), ("status", "not created yet (the first run creates it)")]))
        return
    out.print(
        render.fields(
            "endpoint",
            [
                ("name", serving.name),
                ("status", serving.status),
                ("config", serving.config),
                ("last modified", render.when(serving.last_modified_at)),
                *([("failure", serving.failure_reason)] if serving.failure_reason else []),
            ],
        )
    )
    out.print(
        render.table(
            "variants",
            ["variant", "weight", "instances", "instance type", "model"],
            [
                (
                    v.name,
                    _pair(v.current_weight, v.desired_weight),
                    _pair(v.current_instances, v.desired_instances),
                    v.instance_type,
                    v.model,
                )
                for v in serving.variants
            ],
        )
    )


def _pair(current: float | int | None, desired: float | int | None) -> str:
    # Current and desired differ only while SageMaker moves traffic or capacity.
    shown = "" if current is None else f"{current:g}"
    return f"{shown} -> {desired:g}" if desired is not None and desired != current else shown


def _production(out: Console, production: DeploymentRecord | None) -> None:
    if production is None:
        out.print(render.fields("production", [("model", "none in production yet")]))
        return
    metric = f"{production.metric_name} = {production.metric_value:.6g}"
    out.print(
        render.fields(
            "production",
            [
                ("endpoint config", production.endpoint_config),
                ("model package", production.model_package_arn),
                ("metric", metric),
                ("dataset", production.dataset_uri),
                ("run", production.run_id),
                ("trigger", production.trigger),
                ("since", render.when(production.recorded_at)),
                ("instance type", production.instance_type or "not recorded"),
                ("target advice", production.target_advice or "not recorded"),
            ],
        )
    )


def _number(value: float | None, form: str = "+.4f") -> str:
    return "not yet" if value is None else format(value, form)


def _experiment(out: Console, experiment: ExperimentRecord | None, serving: Endpoint | None) -> None:
    """The latest A/B test or bandit: its estimate so far while it runs, its verdict once it ended."""
    if experiment is None:
        return
    state: str = experiment.state
    if state == "running" and not any(v.name == CANDIDATE_VARIANT for v in (serving.variants if serving else [])):
        # An alarm or a failure ended it between evaluations: the run's notification says which.
        state = "ended without a verdict"
    interval = (
        f"[{_number(experiment.ci_low)}, {_number(experiment.ci_high)}]"
        if experiment.ci_low is not None and experiment.ci_high is not None
        else "not yet"
    )
    out.print(
        render.fields(
            f"experiment ({experiment.strategy}, {state})",
            [
                ("run", experiment.run_id),
                ("started", render.when(experiment.started_at)),
                ("evaluations", f"{experiment.evaluations:g} (last {render.when(experiment.evaluated_at)})"),
                ("candidate share", f"{experiment.candidate_share:.0%}"),
                (
                    "outcomes",
                    f"production {experiment.production_n:g} (mean {_number(experiment.production_mean, '.4f')}), "
                    f"candidate {experiment.candidate_n:g} (mean {_number(experiment.candidate_mean, '.4f')})",
                ),
                ("effect", f"{_number(experiment.effect)}, confidence sequence {interval}"),
                ("always-valid p", _number(experiment.p_value, ".4g")),
                *(
                    [("P(candidate better)", f"{experiment.probability_candidate_best:.3f}")]
                    if experiment.probability_candidate_best is not None
                    else []
                ),
                ("verdict", experiment.reason),
            ],
        )
    )


def _executions(out: Console, title: str, found: list[Execution], data_bucket: str) -> None:
    with_dataset = any(e.dataset for e in found)
    out.print(
        render.table(
            title,
            ["name", "status", "outcome", "started", "duration", *(["dataset"] if with_dataset else [])],
            [
                (
                    e.name,
                    e.status,
                    e.outcome,
                    render.when(e.started_at),
                    render.duration(e.duration_seconds),
                    *([(e.dataset or "").removeprefix(f"s3://{data_bucket}/")] if with_dataset else []),
                )
                for e in found
            ],
        )
    )
