"""How a run ends: an outcome document at ``$.outcome``, which the notification tail publishes.

An outcome is the formatter's input (``NotificationInput``): its ``event`` is always an
``EventType`` member, written from the enum, never typed as a string.
"""

from __future__ import annotations

from typing import Any

from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl

OUTCOME = "$.outcome"


def outcome(
    event: EventType,
    *,
    model: str,
    next_state: str,
    reason: str | None = None,
    failure: str | None = None,
    metrics: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    timed: bool = False,
) -> asl.State:
    """A Pass state that writes one outcome.

    ``reason`` is a literal or a JSONPath/intrinsic; ``failure`` instead names where a ``Catch``
    left ``{Error, Cause}``, which the formatter turns into the reason. ``timed`` adds the
    execution's start, so the notification carries how long the work took.
    """
    if (reason is None) == (failure is None):
        raise ValueError("an outcome has a reason or a caught failure, not both")
    document: dict[str, Any] = {"event": event.value, "model": model, "execution": "$$.Execution.Id"}
    if reason is not None:
        document["reason"] = reason
    else:
        document["error"] = f"{failure}.Error"
        document["cause"] = f"{failure}.Cause"
    document["metrics"] = metrics or {}
    document["details"] = details or {}
    if timed:
        document["started_at"] = "$$.Execution.StartTime"
    return asl.pass_state(document, result_path=OUTCOME, next_state=next_state)
