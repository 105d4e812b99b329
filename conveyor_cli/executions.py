"""Step Functions executions of the retrain and rollback state machines."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from conveyor_cli.errors import CliError
from conveyor_cli.target import Target
from conveyor_cli.views import Execution

RUNNING = "RUNNING"
_LONGEST_RUN = dt.timedelta(days=1)


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


def _document(text: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def output_document(described: dict[str, Any]) -> dict[str, Any]:
    return _document(described.get("output"))


def final_document(target: Target, described: dict[str, Any]) -> dict[str, Any]:
    """The run's last state data: its output, or, for a run that ended in a Fail state, the history's.

    A Fail state leaves no output; the state data it was entered with still holds the outcome.
    """
    document = output_document(described)
    if document or described.get("status") in (RUNNING, "SUCCEEDED"):
        return document
    history = target.client("stepfunctions").get_execution_history(
        executionArn=described["executionArn"], reverseOrder=True, maxResults=50
    )
    # The newest state data holding an outcome, by event id: not every emulator honours reverseOrder.
    latest: tuple[int, dict[str, Any]] = (-1, {})
    for event in history.get("events", []):
        details = event.get("stateExitedEventDetails") or event.get("stateEnteredEventDetails") or {}
        found = _document(details.get("output") or details.get("input"))
        if "outcome" in found and int(event.get("id", 0)) > latest[0]:
            latest = (int(event.get("id", 0)), found)
    return latest[1]


def detailed(target: Target, execution: Execution) -> Execution:
    """``execution`` with the notification event it ended with and the dataset it ran on."""
    described: dict[str, Any] = target.client("stepfunctions").describe_execution(executionArn=execution.arn)
    document = final_document(target, described)
    outcome = document.get("outcome")
    event = outcome.get("event") if isinstance(outcome, dict) else None
    dataset = _document(described.get("input")).get("dataset")
    uri = dataset.get("uri") if isinstance(dataset, dict) else None
    return execution.model_copy(update={"outcome": str(event) if event else None, "dataset": str(uri) if uri else None})


def ended_since(target: Target, state_machine_arn: str, since: dt.datetime) -> list[dict[str, Any]]:
    """DescribeExecution of every execution that ended at or after ``since``, oldest first."""
    sfn = target.client("stepfunctions")
    ended: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        summaries = page.get("executions", [])
        ended.extend(s for s in summaries if s.get("stopDate") and s["stopDate"] >= since)
        # Newest first: once a whole page started a day before the window, later pages are older still
        # (a run lasts hours at most, so none of them can have ended inside the window).
        if summaries and all(s["startDate"] < since - _LONGEST_RUN for s in summaries):
            break
    ended.sort(key=lambda s: s["stopDate"])
    return [sfn.describe_execution(executionArn=s["executionArn"]) for s in ended]
