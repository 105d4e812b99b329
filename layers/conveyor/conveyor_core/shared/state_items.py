"""The state table (``StateTable``, key ``id``): every kind of item our code writes there.

=========================================  ======================================  ==========================
``id``                                     written by                              expires (``expiration``)
=========================================  ======================================  ==========================
``lock#<model>``                           ``shared.locks.ModelLock``              never: one per model
``alarm#<model>#<alarm>#<state time>``     ``release.rollback.claim_alarm``        after 30 days
``rollback#<model>#<bad config>``          ``release.rollback.claim``              never: one rollback away
                                                                                   from a config, ever
``restored#<model>#<restored config>``     ``release.rollback.claim``              after 30 days
``approval#<model package ARN>``           ``release.approval.await_decision``     when the wait times out
=========================================  ======================================  ==========================

Powertools' idempotency records share the table (their ``id`` starts with the function's name and
handler, ``<function>.<module>.<handler>#<hash>``); Powertools owns them, and they are not here.

Why one module for the table, rather than each item beside the code that writes it: the items share
one key space and one TTL attribute, so their key prefixes and the TTL's name and unit have to be read
side by side to stay apart and consistent (a second ``lock#`` writer, or a marker whose expiry is in
milliseconds, would be a silent bug). This module is the table's layout, as ``release.history`` is
HistoryTable's. Behaviour stays with its owners: the lock's conditional writes in ``shared.locks``, the
rollback claims in ``release.rollback``; they build keys and read and write items only through the
models here. It lives in ``shared`` because both ``shared`` and ``release`` use it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, field_validator

TTL_ATTRIBUTE = "expiration"
"""template.yaml's ``TimeToLiveSpecification.AttributeName``: epoch seconds, a number."""
MARKER_TTL_SECONDS = 30 * 24 * 3600

Item = dict[str, dict[str, Any]]


def state_key(item_id: str) -> Item:
    """The DynamoDB ``Key`` of the state item ``item_id``."""
    return {"id": {"S": item_id}}


def expires(now: dt.datetime) -> int:
    """The ``expiration`` of a marker written at ``now``: epoch seconds, ``MARKER_TTL_SECONDS`` later."""
    return int(now.timestamp()) + MARKER_TTL_SECONDS


class _StateItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    PREFIX: ClassVar[str]

    id: str

    @field_validator("id")
    @classmethod
    def _id_has_the_kinds_prefix(cls, value: str) -> str:
        if not value.startswith(cls.PREFIX) or value == cls.PREFIX:
            raise ValueError(f"{cls.__name__} id {value!r} does not start with {cls.PREFIX!r}")
        return value


def _utc_unless_stated(value: dt.datetime) -> dt.datetime:
    # AWS timestamps without an offset are UTC; an aware value keeps comparisons valid.
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _text(item: Mapping[str, Mapping[str, Any]], name: str) -> str:
    try:
        return str(item[name]["S"])
    except KeyError as missing:
        raise ValueError(f"state item {item.get('id')} has no string attribute {name!r}") from missing


def _number(item: Mapping[str, Mapping[str, Any]], name: str) -> int:
    try:
        return int(item[name]["N"])
    except KeyError as missing:
        raise ValueError(f"state item {item.get('id')} has no number attribute {name!r}") from missing


# --- the model lock ------------------------------------------------------------------------------


class PendingRun(BaseModel):
    """A run waiting for the model's lock: one element of the lock item's ``pending`` list (a map)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_name: str
    input_json: str
    queued_at: int

    def to_value(self) -> dict[str, Any]:
        return {
            "M": {
                "execution_name": {"S": self.execution_name},
                "input_json": {"S": self.input_json},
                "queued_at": {"N": str(self.queued_at)},
            }
        }

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Self:
        fields = value["M"]
        return cls(
            execution_name=_text(fields, "execution_name"),
            input_json=_text(fields, "input_json"),
            queued_at=_number(fields, "queued_at"),
        )


class LockItem(_StateItem):
    """``lock#<model>``: who runs the model's pipeline, since when, and the runs queued behind it.

    A free lock has no ``holder`` and no ``acquired_at`` (the release removes both); ``pending`` may
    be absent or empty. ``acquired_at`` is epoch seconds.
    """

    PREFIX: ClassVar[str] = "lock#"

    holder: str | None = None
    acquired_at: int | None = None
    pending: tuple[PendingRun, ...] = ()

    @classmethod
    def id_for(cls, model: str) -> str:
        return f"{cls.PREFIX}{model}"

    def to_item(self) -> Item:
        item: Item = {"id": {"S": self.id}}
        if self.holder is not None:
            item["holder"] = {"S": self.holder}
        if self.acquired_at is not None:
            item["acquired_at"] = {"N": str(self.acquired_at)}
        if self.pending:
            item["pending"] = {"L": [run.to_value() for run in self.pending]}
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        return cls(
            id=_text(item, "id"),
            holder=_text(item, "holder") if "holder" in item else None,
            # A holder always comes with acquired_at; an item written without it counts as taken at 0.
            acquired_at=_number(item, "acquired_at") if "acquired_at" in item else (0 if "holder" in item else None),
            pending=tuple(PendingRun.from_value(value) for value in item.get("pending", {}).get("L", [])),
        )


# --- the rollback markers ------------------------------------------------------------------------


class AlarmClaim(_StateItem):
    """``alarm#<model>#<alarm>#<state time>``: the execution that handles one alarm transition."""

    PREFIX: ClassVar[str] = "alarm#"

    execution: str
    expiration: int

    @classmethod
    def id_for(cls, model: str, alarm: str, alarm_time: str) -> str:
        return f"{cls.PREFIX}{model}#{alarm}#{alarm_time}"

    @classmethod
    def new(cls, model: str, alarm: str, alarm_time: str, execution: str, now: dt.datetime) -> Self:
        return cls(id=cls.id_for(model, alarm, alarm_time), execution=execution, expiration=expires(now))

    def to_item(self) -> Item:
        return {"id": {"S": self.id}, "execution": {"S": self.execution}, TTL_ATTRIBUTE: {"N": str(self.expiration)}}

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        return cls(id=_text(item, "id"), execution=_text(item, "execution"), expiration=_number(item, TTL_ATTRIBUTE))


class RollbackClaim(_StateItem):
    """``rollback#<model>#<bad config>``: the one execution that rolls the endpoint away from a config.

    ``restored_config`` is ``""`` when the claim was made without a config to restore. It never expires.
    """

    PREFIX: ClassVar[str] = "rollback#"

    execution: str
    restored_config: str
    claimed_at: dt.datetime

    _claimed_at_is_aware = field_validator("claimed_at")(_utc_unless_stated)

    @classmethod
    def id_for(cls, model: str, bad_config: str) -> str:
        return f"{cls.PREFIX}{model}#{bad_config}"

    @classmethod
    def new(cls, model: str, bad_config: str, execution: str, restored_config: str, now: dt.datetime) -> Self:
        return cls(
            id=cls.id_for(model, bad_config), execution=execution, restored_config=restored_config, claimed_at=now
        )

    def to_item(self) -> Item:
        return {
            "id": {"S": self.id},
            "execution": {"S": self.execution},
            "restored_config": {"S": self.restored_config},
            "claimed_at": {"S": self.claimed_at.isoformat()},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        return cls(
            id=_text(item, "id"),
            execution=_text(item, "execution"),
            restored_config=_text(item, "restored_config"),
            claimed_at=_text(item, "claimed_at"),
        )


class RestoreClaim(_StateItem):
    """``restored#<model>#<config>``: when a rollback last claimed ``config`` as the one to restore.

    Written before the endpoint update, so an alarm planned between the restore and its history
    record is recognised as stale.
    """

    PREFIX: ClassVar[str] = "restored#"

    execution: str
    claimed_at: dt.datetime
    expiration: int

    _claimed_at_is_aware = field_validator("claimed_at")(_utc_unless_stated)

    @classmethod
    def id_for(cls, model: str, config: str) -> str:
        return f"{cls.PREFIX}{model}#{config}"

    @classmethod
    def new(cls, model: str, config: str, execution: str, now: dt.datetime) -> Self:
        return cls(id=cls.id_for(model, config), execution=execution, claimed_at=now, expiration=expires(now))

    def to_item(self) -> Item:
        return {
            "id": {"S": self.id},
            "execution": {"S": self.execution},
            "claimed_at": {"S": self.claimed_at.isoformat()},
            TTL_ATTRIBUTE: {"N": str(self.expiration)},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        return cls(
            id=_text(item, "id"),
            execution=_text(item, "execution"),
            claimed_at=_text(item, "claimed_at"),
            expiration=_number(item, TTL_ATTRIBUTE),
        )


STATE_ITEM_TYPES: tuple[type[_StateItem], ...] = (LockItem, AlarmClaim, RollbackClaim, RestoreClaim)
"""Every kind of item our code writes to the state table."""


class ApprovalWait(_StateItem):
    """``approval#<model package ARN>``: the task token of the run waiting for a reviewer's decision.

    It expires when the run's wait would have timed out: a decision after that finds no token.
    """

    PREFIX: ClassVar[str] = "approval#"

    task_token: str
    execution: str
    expiration: int

    @classmethod
    def id_for(cls, package_arn: str) -> str:
        return f"{cls.PREFIX}{package_arn}"

    def to_item(self) -> Item:
        return {
            "id": {"S": self.id},
            "task_token": {"S": self.task_token},
            "execution": {"S": self.execution},
            TTL_ATTRIBUTE: {"N": str(self.expiration)},
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        return cls(
            id=_text(item, "id"),
            task_token=_text(item, "task_token"),
            execution=_text(item, "execution"),
            expiration=_number(item, TTL_ATTRIBUTE),
        )
