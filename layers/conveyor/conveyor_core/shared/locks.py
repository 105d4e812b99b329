"""One pipeline per model at a time: a DynamoDB lock item that also holds the queue of waiting drops.

The lock and its queue live in one item (``id = lock#<model>``) so that every change to them is a
single conditional write: a drop is either started or queued, never lost between the two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

MAX_ACQUIRE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class PendingRun:
    execution_name: str
    input_json: str
    queued_at: int

    def as_item(self) -> dict[str, Any]:
        return {
            "M": {
                "execution_name": {"S": self.execution_name},
                "input_json": {"S": self.input_json},
                "queued_at": {"N": str(self.queued_at)},
            }
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PendingRun:
        fields = item["M"]
        return cls(fields["execution_name"]["S"], fields["input_json"]["S"], int(fields["queued_at"]["N"]))


def _is_conditional_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class ModelLock:
    def __init__(self, dynamodb_client: Any, table_name: str, model_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._key = {"id": {"S": f"lock#{model_name}"}}

    def holder(self) -> tuple[str, int] | None:
        """The execution holding the lock and when it took it (epoch seconds), or None."""
        item = self._read()
        if not item or "holder" not in item:
            return None
        return item["holder"]["S"], int(item.get("acquired_at", {}).get("N", "0"))

    def pending(self) -> list[PendingRun]:
        item = self._read()
        return [PendingRun.from_item(p) for p in item.get("pending", {}).get("L", [])] if item else []

    def acquire_or_enqueue(self, run: PendingRun, holder_is_dead: Callable[[str, int], bool] | None = None) -> bool:
        """Take the lock for ``run`` (True) or queue it behind the current holder (False).

        ``holder_is_dead(holder, acquired_at)`` lets a caller take over the lock of an execution
        that ended without releasing it, so a crashed run cannot block the model forever.
        """
        for _ in range(MAX_ACQUIRE_ATTEMPTS):
            if self._try_acquire(run.execution_name):
                return True
            current = self.holder()
            if (
                current
                and holder_is_dead
                and holder_is_dead(*current)
                and self.steal_from(current[0], run.execution_name)
            ):
                return True
            if self._try_enqueue(run):
                return False
            # The holder released between our writes: try to take the lock again.
        raise RuntimeError(f"lock {self._key['id']['S']} kept changing; gave up after {MAX_ACQUIRE_ATTEMPTS} tries")

    def steal_from(self, stale_holder: str, new_holder: str) -> bool:
        """Take over a lock whose holder execution is no longer running."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET holder = :new, acquired_at = :now",
                ConditionExpression="holder = :stale",
                ExpressionAttributeValues={":new": {"S": new_holder}, ":stale": {"S": stale_holder}, ":now": _now()},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def release(self, holder: str) -> PendingRun | None:
        """Release the lock held by ``holder``; hand it straight to the oldest queued run, if any.

        Returns the run that now holds the lock and must be started, or None.
        """
        for _ in range(MAX_ACQUIRE_ATTEMPTS):
            item = self._read()
            if not item or item.get("holder", {}).get("S") != holder:
                return None
            queue = item.get("pending", {}).get("L", [])
            try:
                if queue:
                    successor = PendingRun.from_item(queue[0])
                    self._ddb.update_item(
                        TableName=self._table,
                        Key=self._key,
                        UpdateExpression="SET holder = :next, acquired_at = :now REMOVE pending[0]",
                        ConditionExpression="holder = :me AND pending[0].execution_name = :next",
                        ExpressionAttributeValues={
                            ":me": {"S": holder},
                            ":next": {"S": successor.execution_name},
                            ":now": _now(),
                        },
                    )
                    return successor
                self._ddb.update_item(
                    TableName=self._table,
                    Key=self._key,
                    UpdateExpression="REMOVE holder, acquired_at",
                    ConditionExpression="holder = :me AND (attribute_not_exists(pending) OR size(pending) = :zero)",
                    ExpressionAttributeValues={":me": {"S": holder}, ":zero": {"N": "0"}},
                )
                return None
            except ClientError as error:
                if not _is_conditional_failure(error):
                    raise
                # A drop was queued while we read: read again and hand over to it.
        raise RuntimeError(f"could not release {self._key['id']['S']} after {MAX_ACQUIRE_ATTEMPTS} tries")

    def _try_acquire(self, execution_name: str) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET holder = :me, acquired_at = :now",
                ConditionExpression="attribute_not_exists(holder)",
                ExpressionAttributeValues={":me": {"S": execution_name}, ":now": _now()},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def _try_enqueue(self, run: PendingRun) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET pending = list_append(if_not_exists(pending, :empty), :run)",
                ConditionExpression="attribute_exists(holder)",
                ExpressionAttributeValues={":run": {"L": [run.as_item()]}, ":empty": {"L": []}},
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def _read(self) -> dict[str, Any] | None:
        response = self._ddb.get_item(TableName=self._table, Key=self._key, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item


def _now() -> dict[str, str]:
    return {"N": str(int(time.time()))}
