"""Folder drops that have not completed yet (``DropTable``: key ``model`` + ``folder``).

Every object that lands in a folder under the incoming prefix is counted here, so no folder ever
waits in silence: the drop sweeper (``intake.sweep``) completes a folder after a quiet period, or
reports it (``drop.incomplete``) once it has waited ``DropTimeoutSeconds`` for its marker.

An item's ``status``:

* ``pending``: parts have landed, no marker yet;
* ``completing``: the sweeper claimed it after its quiet period and is starting its run (a crash
  between the claim and the run leaves it here; the next sweep finishes the job, and the run's
  name makes that idempotent);
* ``completed``: a marker, a manifest or the quiet period completed it. A part written after
  that moment (``completed_at``) opens a new pending drop in the same folder; a part written
  before it, whose event only arrives now (S3 does not order its events), belongs to the drop
  that completed and changes nothing.

Which drop a part belongs to is decided by the S3 events' own times (``time``, whole seconds), so
it holds however late an event is delivered. How long a folder has waited, and how long it has
been quiet, are counted from when its objects were handled (``first_seen``, ``last_part_at``): a
late event can only make a folder look busier, never quieter. Items expire ``EXPIRY_SECONDS``
after their last change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from conveyor_core.shared.state_items import TTL_ATTRIBUTE

EXPIRY_SECONDS = 30 * 24 * 3600
# A claim older than this whose run never started is taken again by the next sweep.
STALE_CLAIM_SECONDS = 300


class DropStatus(StrEnum):
    PENDING = "pending"
    COMPLETING = "completing"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class PendingDrop:
    folder: str
    bucket: str
    status: DropStatus
    first_seen: int
    last_part_at: int
    parts: int
    data_parts: int
    bytes: int
    notified_at: int | None
    completed_at: int | None

    def age(self, now: float) -> float:
        return now - self.first_seen

    def quiet_for(self, now: float) -> float:
        return now - self.last_part_at


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


def _drop(item: dict[str, Any]) -> PendingDrop:
    return PendingDrop(
        folder=item["folder"]["S"],
        bucket=item["bucket"]["S"],
        status=DropStatus(item["status"]["S"]),
        first_seen=_number(item, "first_seen") or 0,
        last_part_at=_number(item, "last_part_at") or 0,
        parts=_number(item, "parts") or 0,
        data_parts=_number(item, "data_parts") or 0,
        bytes=_number(item, "bytes") or 0,
        notified_at=_number(item, "notified_at"),
        completed_at=_number(item, "completed_at"),
    )


class PendingDrops:
    """The DropTable of one model; every write is one conditional DynamoDB call."""

    def __init__(self, dynamodb: Any, table: str, model: str) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._model = model

    def _key(self, folder: str) -> dict[str, dict[str, str]]:
        return {"model": {"S": self._model}, "folder": {"S": folder}}

    def _conditional_failed(self, error: Exception) -> bool:
        return isinstance(error, self._dynamodb.exceptions.ConditionalCheckFailedException)

    def record_part(
        self, bucket: str, folder: str, size: int, is_data: bool, written_at: int, now: int | None = None
    ) -> bool:
        """Count one object that landed in ``folder``; False when it belongs to a drop already completed."""
        data = 1 if is_data and size > 0 else 0
        handled = now_seconds() if now is None else now
        values = {
            ":pending": {"S": DropStatus.PENDING},
            ":bucket": {"S": bucket},
            ":at": {"N": str(handled)},
            ":one": {"N": "1"},
            ":data": {"N": str(data)},
            ":size": {"N": str(size)},
            ":expires": {"N": str(handled + EXPIRY_SECONDS)},
        }
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(folder),
                UpdateExpression=(
                    "SET #status = :pending, #bucket = :bucket, first_seen = if_not_exists(first_seen, :at), "
                    f"last_part_at = :at, {TTL_ATTRIBUTE} = :expires ADD parts :one, data_parts :data, #bytes :size"
                ),
                ConditionExpression="attribute_not_exists(folder) OR #status = :pending",
                ExpressionAttributeNames={"#status": "status", "#bucket": "bucket", "#bytes": "bytes"},
                ExpressionAttributeValues=values,
            )
            return True
        except Exception as error:
            if not self._conditional_failed(error):
                raise
        return self._reopen_after(bucket, folder, size, data, written_at, handled)

    def _reopen_after(self, bucket: str, folder: str, size: int, data: int, written_at: int, handled: int) -> bool:
        """A part written after its folder's drop completed starts the folder's next drop."""
        current = self.get(folder)
        if current is None or current.completed_at is None or written_at <= current.completed_at:
            return False
        item = {
            **self._key(folder),
            "bucket": {"S": bucket},
            "status": {"S": DropStatus.PENDING},
            "first_seen": {"N": str(handled)},
            "last_part_at": {"N": str(handled)},
            "parts": {"N": "1"},
            "data_parts": {"N": str(data)},
            "bytes": {"N": str(size)},
            TTL_ATTRIBUTE: {"N": str(handled + EXPIRY_SECONDS)},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="completed_at = :seen",
                ExpressionAttributeValues={":seen": {"N": str(current.completed_at)}},
            )
        except Exception as error:
            if not self._conditional_failed(error):
                raise
            # Another part reopened it first: count this one into that drop.
            return self.record_part(bucket, folder, size, bool(data), written_at, handled)
        return True

    def complete(self, bucket: str, folder: str, completed_at: int) -> None:
        """A marker or manifest landed (or the sweeper's run started): the folder's drop is done."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(folder),
            UpdateExpression=(
                "SET #status = :completed, #bucket = :bucket, completed_at = :at, "
                "first_seen = if_not_exists(first_seen, :at), last_part_at = if_not_exists(last_part_at, :at), "
                f"{TTL_ATTRIBUTE} = :expires"
            ),
            ExpressionAttributeNames={"#status": "status", "#bucket": "bucket"},
            ExpressionAttributeValues={
                ":completed": {"S": DropStatus.COMPLETED},
                ":bucket": {"S": bucket},
                ":at": {"N": str(completed_at)},
                ":expires": {"N": str(completed_at + EXPIRY_SECONDS)},
            },
        )

    def claim_quiet(self, drop: PendingDrop, now: int) -> bool:
        """Take a quiet folder for completion, unless a part landed since ``drop`` was read."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(drop.folder),
                UpdateExpression="SET #status = :completing, completed_at = :now",
                ConditionExpression="(#status = :pending AND last_part_at = :seen) OR "
                "(#status = :completing AND completed_at < :stale)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": DropStatus.PENDING},
                    ":completing": {"S": DropStatus.COMPLETING},
                    ":seen": {"N": str(drop.last_part_at)},
                    ":now": {"N": str(now)},
                    ":stale": {"N": str(now - STALE_CLAIM_SECONDS)},
                },
            )
        except Exception as error:
            if self._conditional_failed(error):
                return False
            raise
        return True

    def mark_notified(self, drop: PendingDrop, now: int) -> bool:
        """Record the drop.incomplete notice once per pending drop; False when already recorded."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(drop.folder),
                UpdateExpression="SET notified_at = :now",
                ConditionExpression="#status = :pending AND first_seen = :first AND attribute_not_exists(notified_at)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": DropStatus.PENDING},
                    ":first": {"N": str(drop.first_seen)},
                    ":now": {"N": str(now)},
                },
            )
        except Exception as error:
            if self._conditional_failed(error):
                return False
            raise
        return True

    def unmark_notified(self, drop: PendingDrop) -> None:
        self._dynamodb.update_item(
            TableName=self._table, Key=self._key(drop.folder), UpdateExpression="REMOVE notified_at"
        )

    def get(self, folder: str) -> PendingDrop | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=self._key(folder), ConsistentRead=True).get("Item")
        return _drop(item) if item else None

    def waiting(self) -> list[PendingDrop]:
        """Every drop of the model not yet completed, oldest first."""
        found: list[PendingDrop] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "model = :model",
            "FilterExpression": "#status <> :completed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":model": {"S": self._model}, ":completed": {"S": DropStatus.COMPLETED}},
        }
        while True:
            page = self._dynamodb.query(**request)
            found += [_drop(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda drop: drop.first_seen)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def now_seconds() -> int:
    return int(time.time())
