"""Starting retrain executions: deterministic names, and telling a live lock holder from a dead one."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

_LIVE_STATUSES = frozenset({"RUNNING", "PENDING_REDRIVE"})


def execution_arn(state_machine_arn: str, name: str) -> str:
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"


def start(sfn_client: Any, state_machine_arn: str, name: str, input_json: str) -> tuple[str, bool]:
    """Start an execution; return (arn, started). ``started`` is False for a name already used.

    Standard workflows keep names for 90 days, so a re-delivered drop that slipped past the
    idempotency table still cannot start a second run.
    """
    try:
        response = sfn_client.start_execution(stateMachineArn=state_machine_arn, name=name, input=input_json)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return execution_arn(state_machine_arn, name), False
        raise
    return str(response["executionArn"]), True


def _status(sfn_client: Any, arn: str) -> str | None:
    """The execution's status, or None when no execution of that ARN was ever started."""
    try:
        return str(sfn_client.describe_execution(executionArn=arn)["status"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def exists(sfn_client: Any, arn: str) -> bool:
    """Whether an execution of that ARN was ever started (Standard workflows keep it 90 days)."""
    return _status(sfn_client, arn) is not None


def is_live(sfn_client: Any, state_machine_arn: str, name: str) -> bool:
    """Whether the execution holding a lock is still running (a dead holder's lock may be taken over)."""
    return _status(sfn_client, execution_arn(state_machine_arn, name)) in _LIVE_STATUSES
