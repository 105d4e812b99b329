"""The drop sweeper's decisions: complete a quiet folder, or tell someone a folder still waits.

Runs every minute on a schedule. For each pending folder drop of the model (``pending_drops``):

* quiet for ``DropQuietSeconds`` (when that is not 0) and holding data: the sweeper claims it,
  starts its run like a marker would (``ingest.admit``: queued behind a run in progress, named
  after the folder and its last part so a second sweep cannot start it twice), then marks it
  completed;
* waiting longer than ``DropTimeoutSeconds``: one ``drop.incomplete`` notification naming the
  folder, what completes it, its parts and the objects it holds that no run would read. The drop
  is not cancelled: a marker landing later still starts its run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conveyor_core.intake import ingest
from conveyor_core.intake.drops import MANIFEST_MARKER, SUCCESS_MARKER, DropKind, InvalidDropError, skipped_objects
from conveyor_core.intake.pending_drops import DropStatus, PendingDrop, PendingDrops
from conveyor_core.shared.notifications import EventType, Notification


@dataclass(frozen=True, slots=True)
class SweepPolicy:
    quiet_seconds: int  # 0: folders complete only on a marker or manifest
    timeout_seconds: int


@dataclass
class SweepResult:
    started: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    waiting: int = 0

    def as_output(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "quarantined": self.quarantined,
            "notified": self.notified,
            "waiting": self.waiting,
        }


def what_completes(policy: SweepPolicy) -> str:
    """What a person must do (or wait for) to complete a folder, in the stack's configuration."""
    markers = f"a {SUCCESS_MARKER} marker or a {MANIFEST_MARKER} in the folder"
    if policy.quiet_seconds:
        return f"{markers}, or {policy.quiet_seconds} s with no new object in it"
    return f"{markers} (DropQuietSeconds is 0, so a quiet folder never completes by itself)"


def quiet_drop(drop: PendingDrop) -> ingest.Drop:
    """The completion of a quiet folder as a drop: named by the folder and its last part."""
    identity = "|".join([drop.bucket, drop.folder, DropKind.QUIET_PERIOD, str(drop.last_part_at), str(drop.parts)])
    return ingest.Drop(
        bucket=drop.bucket,
        key=drop.folder,
        kind=DropKind.QUIET_PERIOD,
        drop_prefix=drop.folder,
        size=drop.bytes,
        version_id=None,
        identity=identity,
    )


def incomplete_notice(model: str, drop: PendingDrop, policy: SweepPolicy, skipped: list[str], now: int) -> Notification:
    waited = now - drop.first_seen
    return Notification(
        event=EventType.DROP_INCOMPLETE,
        model=model,
        reason=(
            f"s3://{drop.bucket}/{drop.folder} has waited {waited} s with {drop.parts} object(s) "
            f"({drop.data_parts} of them non-empty data) and is not complete: it needs {what_completes(policy)}. "
            "Nothing was cancelled: the drop still runs when it completes."
        ),
        metrics={"waited_seconds": float(waited), "parts": float(drop.parts), "bytes": float(drop.bytes)},
        details={
            "folder": f"s3://{drop.bucket}/{drop.folder}",
            "waits_for": what_completes(policy),
            "first_object_at": drop.first_seen,
            "last_object_at": drop.last_part_at,
            "skipped_objects": skipped,
        },
    )


@dataclass
class DropSweeper:
    """One sweep over a model's pending drops; the clients and callbacks come from the handler."""

    pending: PendingDrops
    policy: SweepPolicy
    model: str
    s3: Any
    admit: Any  # (ingest.Drop, DatasetRef) -> Admission
    quarantine: Any  # (ingest.Drop, InvalidDropError) -> None
    notify: Any  # (Notification) -> None
    max_object_bytes: int

    def sweep(self, now: int) -> SweepResult:
        result = SweepResult()
        for drop in self.pending.waiting():
            if self._is_quiet(drop, now) and self.pending.claim_quiet(drop, now):
                self._complete_quiet(drop, now, result)
            elif drop.status is DropStatus.PENDING and drop.age(now) >= self.policy.timeout_seconds:
                self._notify_incomplete(drop, now, result)
            else:
                result.waiting += 1
        return result

    def _is_quiet(self, drop: PendingDrop, now: int) -> bool:
        if drop.status is DropStatus.COMPLETING:
            return True  # a claim whose run may not have started: claim_quiet retakes it once stale
        return (
            bool(self.policy.quiet_seconds) and drop.data_parts > 0 and drop.quiet_for(now) >= self.policy.quiet_seconds
        )

    def _complete_quiet(self, drop: PendingDrop, now: int, result: SweepResult) -> None:
        arrival = quiet_drop(drop)
        try:
            dataset = ingest.resolve_dataset(self.s3, arrival, self.max_object_bytes)
        except InvalidDropError as error:
            self.quarantine(arrival, error)
            result.quarantined.append(drop.folder)
        else:
            self.admit(arrival, dataset)
            result.started.append(drop.folder)
        self.pending.complete(drop.bucket, drop.folder, now)

    def _notify_incomplete(self, drop: PendingDrop, now: int, result: SweepResult) -> None:
        if drop.notified_at is not None or not self.pending.mark_notified(drop, now):
            result.waiting += 1
            return
        try:
            listed = ingest.list_sizes(self.s3, drop.bucket, drop.folder)
            self.notify(incomplete_notice(self.model, drop, self.policy, skipped_objects(listed, drop.folder), now))
        except Exception:
            self.pending.unmark_notified(drop)  # the next sweep tries again: at least once, not never
            raise
        result.notified.append(drop.folder)
