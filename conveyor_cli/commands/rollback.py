"""``conveyor rollback``: start the rollback state machine as an alarm would."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

import typer

from conveyor_cli import executions, render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError

MANUAL_ALARM = "manual:conveyor-cli"


def alarm_event(reason: str, now: dt.datetime) -> dict[str, Any]:
    """CloudWatch's "Alarm State Change" shape: the state machine reads detail.alarmName and detail.state."""
    # CloudWatch's timestamp format, millisecond precision and a +0000 offset.
    timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"
    return {
        "source": "conveyor.cli",
        "detail-type": "Manual Rollback",
        "detail": {"alarmName": MANUAL_ALARM, "state": {"value": "ALARM", "timestamp": timestamp, "reason": reason}},
    }


def outcome(described: dict[str, Any]) -> dict[str, Any]:
    """What the rollback decided: the plan's action, and the notification it published."""
    document = executions.output_document(described)
    plan = document.get("plan") or {}
    published = document.get("outcome") or {}
    return {
        "action": plan.get("action"),
        "event": published.get("event"),
        "reason": published.get("reason") or plan.get("reason"),
        "restored_config": plan.get("good_config") or None,
        "error": described.get("error"),
        "cause": described.get("cause"),
    }


def rollback(
    ctx: typer.Context,
    reason: Annotated[
        str, typer.Option("--reason", help="Why; recorded in the event and the notification's details.")
    ] = "manual rollback requested with the conveyor CLI",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the rollback to end and show it.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds --wait waits at most.")] = 300,
) -> None:
    """Roll the endpoint back to the last known good config, as an alarm would."""
    opts = options(ctx)
    target = opts.target()
    now = dt.datetime.now(dt.UTC)
    started = target.client("stepfunctions").start_execution(
        stateMachineArn=target.outputs.rollback_state_machine_arn,
        name=f"manual-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        input=json.dumps(alarm_event(reason, now)),
    )
    arn = str(started["executionArn"])
    result: dict[str, Any] = {"execution_arn": arn, "name": arn.rsplit(":", 1)[-1], "status": "RUNNING"}
    if wait:
        described = executions.wait(target, arn, timeout)
        result["status"] = described["status"]
        result["outcome"] = outcome(described)
    if opts.json:
        render.emit_json(result)
    else:
        _show(result)
    if result["status"] not in ("RUNNING", "SUCCEEDED"):
        # The outcome is printed above; the exit code lets a script notice.
        raise CliError(f"rollback {result['name']} ended {result['status']}")


def _show(result: dict[str, Any]) -> None:
    out = render.console()
    if "outcome" not in result:
        out.print(
            f"started rollback [bold]{result['name']}[/bold]; `conveyor status` or `conveyor tail` shows how it ends"
        )
        return
    found = result["outcome"]
    out.print(
        render.fields(
            f"rollback {result['name']}",
            [
                ("status", result["status"]),
                ("action", found["action"]),
                ("notification", found["event"]),
                ("reason", found["reason"]),
                *([("restored config", found["restored_config"])] if found["restored_config"] else []),
                *([("error", f"{found['error']}: {found['cause']}")] if found["error"] else []),
            ],
        )
    )
