"""One pipeline per model at a time: a DynamoDB lock item that also holds the queue of waiting drops.

The lock and its queue live in one item (``id = lock#<model>``) so that every change to them is a
single conditional write: a drop is either started or queued, never lost between the two. The item
itself (its key, attributes and DynamoDB form) is ``shared.state_items.LockItem``; this module owns
the conditional writes that change it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from conveyor_core.shared.state_items import LockItem, PendingRun, state_key

__all__ = ["MAX_ACQUIRE_ATTEMPTS", "LockOutcome", "ModelLock", "PendingRun"]

MAX_ACQUIRE_ATTEMPTS = 8


def _is_conditional_failure(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class LockOutcome(enum.Enum):
    """What ``ModelLock.admit`` did for a run."""

    ACQUIRED = "acquired"  # the run holds the lock now: start it
    QUEUED = "queued"  # the run waits behind the holder
    HOLDING = "holding"  # the run already held the lock: a redelivery, or a retry of an admission
    ALREADY_QUEUED = "already-queued"  # the run already waits in the queue: a redelivery


class ModelLock:
    def __init__(self, dynamodb_client: Any, table_name: str, model_name: str) -> None:
        self._ddb = dynamodb_client
        self._table = table_name
        self._id = LockItem.id_for(model_name)
        self._key = state_key(self._id)

    def holder(self) -> tuple[str, int] | None:
        """The execution holding the lock and when it took it (epoch seconds), or None."""
        item = self.read()
        if item.holder is None:
            return None
        return item.holder, item.acquired_at or 0

    def pending(self) -> list[PendingRun]:
        return list(self.read().pending)

    def acquire_or_enqueue(self, run: PendingRun, holder_is_dead: Callable[[str, int], bool] | None = None) -> bool:
        """Take the lock for ``run`` (True) or queue it behind the current holder (False)."""
        return self.admit(run, holder_is_dead) in (LockOutcome.ACQUIRED, LockOutcome.HOLDING)

    def admit(self, run: PendingRun, holder_is_dead: Callable[[str, int], bool] | None = None) -> LockOutcome:
        """Take the lock for ``run``, or queue it behind the holder, in one conditional write each.

        A run is never queued twice, nor behind itself: a redelivered drop finds its own name as the
        holder or in the queue (``HOLDING``, ``ALREADY_QUEUED``). The failed take-over returns the
        item as it is (``ReturnValuesOnConditionCheckFailure``), so deciding costs no read, and the
        queue write is conditioned on the queue that was seen: taking the lock, or queueing, is
        two calls at most unless the lock changes in between.

        ``holder_is_dead(holder, acquired_at)`` lets a caller take over the lock of an execution
        that ended without releasing it, so a crashed run cannot block the model forever.
        """
        name = run.execution_name
        for _ in range(MAX_ACQUIRE_ATTEMPTS):
            seen = self._acquire_or_read(name)
            if seen is None:
                return LockOutcome.ACQUIRED
            if seen.holder == name:
                return LockOutcome.HOLDING
            if any(waiting.execution_name == name for waiting in seen.pending):
                return LockOutcome.ALREADY_QUEUED
            if seen.holder is None:
                continue  # released between our two looks at it
            if (
                holder_is_dead
                and holder_is_dead(seen.holder, seen.acquired_at or 0)
                and self.steal_from(seen.holder, name)
            ):
                return LockOutcome.ACQUIRED
            if self._enqueue_behind(run, seen):
                return LockOutcome.QUEUED
            # The holder or the queue changed since we looked: look again.
        raise RuntimeError(f"lock {self._id} kept changing; gave up after {MAX_ACQUIRE_ATTEMPTS} tries")

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
            item = self.read()
            if item.holder != holder:
                return None
            try:
                if item.pending:
                    successor = item.pending[0]
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
        raise RuntimeError(f"could not release {self._id} after {MAX_ACQUIRE_ATTEMPTS} tries")

    def _acquire_or_read(self, execution_name: str) -> LockItem | None:
        """Take a free lock (None), or return the lock item as the refused write found it."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET holder = :me, acquired_at = :now",
                ConditionExpression="attribute_not_exists(holder)",
                ExpressionAttributeValues={":me": {"S": execution_name}, ":now": _now()},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _is_conditional_failure(error):
                raise
            item = error.response.get("Item")
            return LockItem.from_item(item) if item else self.read()
        return None

    def _enqueue_behind(self, run: PendingRun, seen: LockItem) -> bool:
        """Queue ``run`` if the holder and the queue are still those of ``seen``."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key,
                UpdateExpression="SET pending = list_append(if_not_exists(pending, :empty), :run)",
                ConditionExpression="holder = :holder AND (attribute_not_exists(pending) OR size(pending) = :queued)",
                ExpressionAttributeValues={
                    ":run": {"L": [run.to_value()]},
                    ":empty": {"L": []},
                    ":holder": {"S": str(seen.holder)},
                    ":queued": {"N": str(len(seen.pending))},
                },
            )
        except ClientError as error:
            if _is_conditional_failure(error):
                return False
            raise
        return True

    def read(self) -> LockItem:
        """The lock item as it is now (consistent read); a lock never taken reads as free."""
        response = self._ddb.get_item(TableName=self._table, Key=self._key, ConsistentRead=True)
        item = response.get("Item")
        return LockItem.from_item(item) if item else LockItem(id=self._id)


def _now() -> dict[str, str]:
    return {"N": str(int(time.time()))}
