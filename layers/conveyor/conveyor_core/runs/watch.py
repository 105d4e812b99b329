"""The last line of defence: an execution that ended without its own notification gets one.

Every path through both state machines ends in a notification, and a failed one then ends in a
``Fail`` state with Conveyor's own error name. A few ends bypass every ``Catch``:
``States.DataLimitExceeded`` (a state's data over 256 KiB), a notification that could not be
published, an execution timeout, and ``StopExecution``. Step Functions still emits an
"Execution Status Change" event for them, and this module turns it into the missing notification.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conveyor_core.shared.contracts import ExecutionStatusChange
from conveyor_core.shared.notifications import EventType, Notification, RunError

# The Fail states a run reaches only after it has published its own outcome.
NOTIFIED_ERRORS = frozenset({RunError.PIPELINE_FAILED.value, RunError.ROLLBACK_FAILED.value})
UNREPORTED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True, slots=True)
class Ending:
    """How an execution ended, as DescribeExecution tells it."""

    status: str
    error: str
    cause: str

    @property
    def was_notified(self) -> bool:
        return self.status not in UNREPORTED_STATUSES or self.error in NOTIFIED_ERRORS


def describe_ending(sfn_client: Any, execution_arn: str) -> Ending:
    # The event itself carries no error or cause, so they are read from the execution.
    described = sfn_client.describe_execution(executionArn=execution_arn)
    return Ending(
        status=str(described.get("status", "")),
        error=str(described.get("error") or ""),
        cause=str(described.get("cause") or ""),
    )


def model_of(change: ExecutionStatusChange, default: str) -> str:
    try:
        document = json.loads(change.input or "{}")
    except json.JSONDecodeError:
        return default
    model = document.get("model") if isinstance(document, dict) else None
    return model if isinstance(model, str) and model else default


def unreported_notification(
    change: ExecutionStatusChange, ending: Ending, model: str, *, is_rollback: bool
) -> Notification:
    what = "rollback" if is_rollback else "run"
    why = f"{ending.error}: {ending.cause}" if ending.error or ending.cause else "no error was recorded"
    if ending.status == "ABORTED":
        why = f"it was stopped ({why})"
    return Notification(
        event=EventType.ROLLBACK_FAILED if is_rollback else EventType.PIPELINE_FAILED,
        model=model,
        execution=change.execution_arn,
        reason=f"the {what} {change.name} ended {ending.status} before it could report: {why}",
        details={"stage": "watch", "status": ending.status, "error": ending.error or None},
    )
