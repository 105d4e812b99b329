"""``conveyor history``: the model's deployments and rollbacks, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor_cli import history_table, render
from conveyor_cli.context import options
from conveyor_core.release.history import AlarmRollbackRecord, HistoryRecord


def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many records to show.")] = 20,
) -> None:
    """List deployments and rollbacks recorded in HistoryTable, newest first."""
    opts = options(ctx)
    target = opts.target()
    records = history_table.deployments(target, limit)
    if opts.json:
        render.emit_json({"model": target.model_name, "deployments": records})
        return
    render.console().print(
        render.table(
            f"deployments of {target.model_name} on {target.label}",
            ["recorded", "status", "trigger", "endpoint config", "metric", "dataset / alarm"],
            [_row(r, target.outputs.data_bucket_name) for r in records],
            empty="no deployments recorded yet",
        )
    )


def _row(record: HistoryRecord, data_bucket: str) -> tuple[str | None, ...]:
    if isinstance(record, AlarmRollbackRecord):
        # An alarm rollback record names the config it left, the one it restored, and the alarm.
        return (
            render.when(record.recorded_at),
            record.status,
            None,
            f"{record.endpoint_config} -> {record.restored_config}",
            None,
            f"alarm {record.alarm}",
        )
    # The run id is the config name without "-cfg", so the table leaves it to --json.
    dataset = record.dataset_uri.removeprefix(f"s3://{data_bucket}/")
    return (
        render.when(record.recorded_at),
        record.status,
        record.trigger,
        record.endpoint_config,
        f"{record.metric_name}={record.metric_value:.6g}",
        dataset or None,
    )
