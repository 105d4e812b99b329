"""run_watch.py: which execution ends still need a notification, and what it says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor_core.runs.watch import Ending, describe_ending, model_of, unreported_notification
from conveyor_core.shared.contracts import ExecutionStatusChange
from conveyor_core.shared.notifications import EventType

ARN = "arn:aws:states:us-east-1:123456789012:execution:conveyor-retrain:churn-abc"


def change(status: str = "FAILED", input_document: Any = None) -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {
            "executionArn": ARN,
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:conveyor-retrain",
            "name": "churn-abc",
            "status": status,
            "input": json.dumps(input_document if input_document is not None else {"model": "churn"}),
        }
    )


@pytest.mark.parametrize(
    ("ending", "notified"),
    [
        (Ending("FAILED", "Conveyor.PipelineFailed", "The run failed"), True),
        (Ending("FAILED", "Conveyor.RollbackFailed", ""), True),
        (Ending("SUCCEEDED", "", ""), True),
        (Ending("FAILED", "States.DataLimitExceeded", "too large"), False),
        (Ending("FAILED", "Conveyor.NotificationFailed", "SNS down"), False),
        (Ending("TIMED_OUT", "", ""), False),
        (Ending("ABORTED", "", ""), False),
    ],
)
def test_only_ends_that_skipped_their_own_notification_need_one(ending: Ending, notified: bool) -> None:
    assert ending.was_notified is notified


def test_a_data_limit_failure_is_reported_with_its_cause() -> None:
    ending = Ending("FAILED", "States.DataLimitExceeded", "The state/task returned a result exceeding 262144")
    notification = unreported_notification(change(), ending, "churn", is_rollback=False)
    assert notification.event is EventType.PIPELINE_FAILED
    assert notification.execution == ARN
    assert "churn-abc ended FAILED" in notification.reason
    assert "States.DataLimitExceeded: The state/task returned" in notification.reason
    assert notification.details == {"stage": "watch", "status": "FAILED", "error": "States.DataLimitExceeded"}


def test_a_stopped_rollback_is_a_failed_rollback() -> None:
    notification = unreported_notification(change("ABORTED"), Ending("ABORTED", "", ""), "churn", is_rollback=True)
    assert notification.event is EventType.ROLLBACK_FAILED
    assert "was stopped (no error was recorded)" in notification.reason
    assert notification.details["error"] is None


@pytest.mark.parametrize(
    ("document", "expected"),
    [({"model": "fraud"}, "fraud"), ({"model": ""}, "default"), ([1], "default"), ({}, "default")],
)
def test_the_model_comes_from_the_input_when_it_names_one(document: Any, expected: str) -> None:
    assert model_of(change(input_document=document), "default") == expected
    broken = change().model_copy(update={"input": "{not json"})
    assert model_of(broken, "default") == "default"


def test_describe_ending_reads_status_error_and_cause() -> None:
    class FakeSfn:
        def describe_execution(self, executionArn: str) -> dict[str, Any]:
            assert executionArn == ARN
            return {"status": "FAILED", "error": "States.Runtime", "cause": "boom"}

    assert describe_ending(FakeSfn(), ARN) == Ending("FAILED", "States.Runtime", "boom")
