"""``conveyor trigger``: a retrain now, through exactly the path the schedule takes."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import typer
from rich.markup import escape

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError
from conveyor_cli.target import Target
from conveyor_core.shared.contracts import ScheduledInvocation

MANUAL_SCHEDULE = "manual:conveyor-cli"
FUNCTION_OUTPUT = "ScheduledRetrainFunctionName"
FUNCTION_LOGICAL_ID = "ScheduledRetrainFunction"


def function_name(target: Target) -> str:
    found = target.outputs.scheduled_retrain_function_name or target.physical_id(FUNCTION_LOGICAL_ID)
    if not found:
        raise CliError(
            f"stack {target.stack_name} has no {FUNCTION_OUTPUT} output and no {FUNCTION_LOGICAL_ID} resource"
        )
    return found


def trigger(ctx: typer.Context) -> None:
    """Run a retrain now via the ScheduledRetrain function; it skips when nothing changed."""
    opts = options(ctx)
    target = opts.target()
    function = function_name(target)
    # Scheduler's own format (seconds, Z): the function derives the run's identity from it.
    invocation = ScheduledInvocation(
        schedule_arn=MANUAL_SCHEDULE,
        scheduled_time=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        execution_id=f"conveyor-cli-{uuid.uuid4()}",
    )
    response = target.client("lambda").invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=invocation.model_dump_json().encode()
    )
    answer: Any = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(answer, dict):
        detail = answer.get("errorMessage", answer) if isinstance(answer, dict) else answer
        raise CliError(f"{function} failed: {detail}")
    if opts.json:
        render.emit_json({"function": function, "request": invocation, **answer})
        return
    render.console().print(_sentence(answer))


def _sentence(answer: dict[str, Any]) -> str:
    action = str(answer.get("action", "unknown"))
    execution = answer.get("execution_name", "")
    return {
        "started": f"[green]started[/green] retrain {execution}",
        "queued": f"[cyan]queued[/cyan] {execution}: it starts when the running run for this model finishes",
        "duplicate": f"[yellow]duplicate[/yellow]: {execution} already covers this firing",
        "skipped": f"[yellow]skipped[/yellow]: {escape(str(answer.get('reason', '')))}",
    }.get(action, f"{action}: {escape(json.dumps(answer))}")
