"""Closing a run: release the model's lock and start the drop that waited for it."""

from __future__ import annotations

from typing import Any

from conveyor_core.shared import executions
from conveyor_core.shared.locks import ModelLock


def close_run(run_id: str, lock: ModelLock, sfn_client: Any, state_machine_arn: str) -> dict[str, Any]:
    """Release the lock held by ``run_id``; if a drop is queued, the lock passes to it and it starts."""
    successor = lock.release(run_id)
    if successor is None:
        return {"released": True, "next_execution": None}
    arn, started = executions.start(sfn_client, state_machine_arn, successor.execution_name, successor.input_json)
    if not started:
        # The queued drop had run already: pass the lock on again rather than leave it held.
        return close_run(successor.execution_name, lock, sfn_client, state_machine_arn)
    return {"released": True, "next_execution": arn, "next_started": started}
