"""``conveyor status``: what serves, what is in production, and the latest runs and rollbacks."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from conveyor_cli import endpoint, executions, history_table, render
from conveyor_cli.context import options
from conveyor_cli.views import Endpoint, Execution
from conveyor_core.release.history import DeploymentRecord


def status(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many retrain and rollback executions to list.")] = 5,
) -> None:
    """Show the endpoint, the production model and the latest retrain and rollback executions."""
    opts = options(ctx)
    target = opts.target()
    serving = endpoint.describe(target)
    production = history_table.current(target)
    # SUCCEEDED says only that a run ended as designed; its outcome says how (deployed, quarantined...).
    retrains = [
        executions.detailed(target, e)
        for e in executions.recent(target, target.outputs.retrain_state_machine_arn, limit)
    ]
    rollbacks = [
        executions.detailed(target, e)
        for e in executions.recent(target, target.outputs.rollback_state_machine_arn, limit)
    ]
    if opts.json:
        render.emit_json(
            {
                "stack": target.stack_name,
                "region": target.region,
                "model": target.model_name,
                "endpoint": serving,
                "production": production,
                "retrain_executions": retrains,
                "rollback_executions": rollbacks,
            }
        )
        return
    out = render.console()
    out.print(f"[bold]{target.label}[/bold]  model [bold]{target.model_name}[/bold]")
    _endpoint(out, target.outputs.endpoint_name, serving)
    _production(out, production)
    _executions(out, "retrain executions", retrains, target.outputs.data_bucket_name)
    _executions(out, "rollback executions", rollbacks, target.outputs.data_bucket_name)


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
