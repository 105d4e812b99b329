"""Step Functions executions of the retrain and rollback state machines."""

from __future__ import annotations

import json
import time
from typing import Any

from conveyor_cli.errors import CliError
from conveyor_cli.target import Target
from conveyor_cli.views import Execution

RUNNING = "RUNNING"


def _view(summary: dict[str, Any]) -> Execution:
    return Execution(
        name=summary["name"],
        arn=summary["executionArn"],
        status=summary["status"],
        started_at=summary["startDate"],
        stopped_at=summary.get("stopDate"),
    )


def recent(target: Target, state_machine_arn: str, limit: int) -> list[Execution]:
    # AWS lists newest first, so one page holds the newest; sorting makes it independent of that order.
    page = target.client("stepfunctions").list_executions(stateMachineArn=state_machine_arn, maxResults=100)
    found = sorted((_view(s) for s in page.get("executions", [])), key=lambda e: e.started_at, reverse=True)
    return found[:limit]


def wait(target: Target, execution_arn: str, timeout: float, interval: float = 1.0) -> dict[str, Any]:
    """DescribeExecution once the execution has ended."""
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != RUNNING:
            return described
        if time.monotonic() >= deadline:
            raise CliError(f"{described['name']} still running after {timeout:g}s; `conveyor status` shows it later")
        time.sleep(interval)


def output_document(described: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = json.loads(described.get("output") or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
