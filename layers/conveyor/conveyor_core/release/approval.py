"""Manual approval (``ApprovalMode=manual``): a run waits for a reviewer's decision in the Model Registry.

The run registers its package ``PendingManualApproval`` and waits in a ``.waitForTaskToken`` task
whose Lambda stores the token beside the package's ARN (``state_items.ApprovalWait``) and tells
people what to review. A reviewer approves or rejects the package in the Model Registry (console,
``aws sagemaker update-model-package`` or ``conveyor approve`` / ``reject``); SageMaker's "Model Package
State Change" event reaches ``ResolveApprovalFunction``, which finds the token and ends the wait:
``SendTaskSuccess`` on approval, ``SendTaskFailure`` (``Conveyor.ModelRejected``) on rejection.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from conveyor_core.shared.state_items import ApprovalWait, state_key

REJECTED_ERROR = "Conveyor.ModelRejected"
DECIDED = ("Approved", "Rejected")


def await_decision(
    dynamodb: Any, table: str, package_arn: str, task_token: str, execution: str, timeout_seconds: int
) -> ApprovalWait:
    """Store the run's token under its package, until the wait would time out."""
    expiration = int(dt.datetime.now(dt.UTC).timestamp()) + timeout_seconds
    wait = ApprovalWait(
        id=ApprovalWait.id_for(package_arn), task_token=task_token, execution=execution, expiration=expiration
    )
    dynamodb.put_item(TableName=table, Item=wait.to_item())
    return wait


@dataclass(frozen=True)
class Decision:
    package_arn: str
    status: str
    description: str
    decided_by: str

    @property
    def approved(self) -> bool:
        return self.status == "Approved"

    def cause(self) -> str:
        by = f" by {self.decided_by}" if self.decided_by else ""
        why = f": {self.description}" if self.description else ""
        return f"{self.package_arn} was rejected in the Model Registry{by}{why}"


def decision_of(sagemaker: Any, package_arn: str, status: str) -> Decision:
    """The decision with the reviewer's words, which the event does not carry (DescribeModelPackage does)."""
    described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    modified_by = described.get("LastModifiedBy", {}) or {}
    who = modified_by.get("UserProfileName") or modified_by.get("IamIdentity", {}).get("Arn", "")
    return Decision(package_arn, status, str(described.get("ApprovalDescription", "")), str(who))


def resolve(dynamodb: Any, sfn: Any, table: str, decision: Decision) -> str:
    """End the run's wait; returns what happened (for the log)."""
    key = state_key(ApprovalWait.id_for(decision.package_arn))
    item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item is None:
        return "no run waits for this package (approved automatically, decided twice, or its wait expired)"
    wait = ApprovalWait.from_item(item)
    try:
        if decision.approved:
            output = {"status": decision.status, "description": decision.description, "by": decision.decided_by}
            sfn.send_task_success(taskToken=wait.task_token, output=json.dumps(output))
        else:
            sfn.send_task_failure(taskToken=wait.task_token, error=REJECTED_ERROR, cause=decision.cause()[:32768])
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken):
        dynamodb.delete_item(TableName=table, Key=key)
        return f"the run {wait.execution} no longer waits (its wait ended)"
    dynamodb.delete_item(TableName=table, Key=key)
    return f"{decision.status.lower()}: run {wait.execution} resumed"
