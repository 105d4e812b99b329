"""DropTable bookkeeping: parts counted per folder, late events kept with their drop, claims taken once."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from conveyor_core.intake.pending_drops import STALE_CLAIM_SECONDS, DropStatus, PendingDrops
from conveyor_core.intake.sweep import DropSweeper, SweepPolicy
from conveyor_core.shared.notifications import EventType

TABLE = "conveyor-test-drops"
BUCKET = "data"
FOLDER = "incoming/sales/2026-12-05/"


@pytest.fixture
def drops(aws: None) -> PendingDrops:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "folder", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}, {"AttributeName": "folder", "KeyType": "RANGE"}],
    )
    return PendingDrops(dynamodb, TABLE, "churn")


def test_parts_are_counted_with_their_sizes_and_first_and_last_times(drops: PendingDrops) -> None:
    assert drops.record_part(BUCKET, FOLDER, 100, True, 1000, now=1001)
    assert drops.record_part(BUCKET, FOLDER, 0, True, 1005, now=1006)  # a zero-byte part is not data
    assert drops.record_part(BUCKET, FOLDER, 7, False, 1003, now=1009)  # nor is a README; its event was late
    [drop] = drops.waiting()
    assert (drop.parts, drop.data_parts, drop.bytes) == (3, 1, 107)
    assert (drop.first_seen, drop.status) == (1001, DropStatus.PENDING)
    assert drop.last_part_at == 1009, "quiet counts from the last object handled: a late event never makes it quieter"


def test_a_late_event_for_a_part_written_before_the_marker_stays_with_the_completed_drop(
    drops: PendingDrops,
) -> None:
    drops.record_part(BUCKET, FOLDER, 100, True, 1000, now=1000)
    drops.complete(BUCKET, FOLDER, 1010)
    assert not drops.record_part(BUCKET, FOLDER, 100, True, 1009, now=1012)
    assert not drops.record_part(BUCKET, FOLDER, 100, True, 1010, now=1013)
    assert drops.waiting() == []


def test_a_part_written_after_the_drop_completed_opens_the_folders_next_drop(drops: PendingDrops) -> None:
    drops.record_part(BUCKET, FOLDER, 100, True, 1000, now=1000)
    drops.complete(BUCKET, FOLDER, 1010)
    assert drops.record_part(BUCKET, FOLDER, 50, True, 1011, now=1011)
    assert drops.record_part(BUCKET, FOLDER, 50, True, 1012, now=1012)
    [drop] = drops.waiting()
    assert (drop.first_seen, drop.parts, drop.bytes, drop.completed_at) == (1011, 2, 100, None)


def test_a_quiet_claim_fails_when_a_part_landed_since_the_sweep_read_the_folder(drops: PendingDrops) -> None:
    drops.record_part(BUCKET, FOLDER, 100, True, 1000, now=1000)
    [seen] = drops.waiting()
    drops.record_part(BUCKET, FOLDER, 100, True, 1001, now=1001)
    assert not drops.claim_quiet(seen, 2000)
    [fresh] = drops.waiting()
    assert drops.claim_quiet(fresh, 2000)
    assert not drops.claim_quiet(fresh, 2000), "one claim"
    [claimed] = drops.waiting()
    assert claimed.status is DropStatus.COMPLETING
    assert not drops.claim_quiet(claimed, 2000 + STALE_CLAIM_SECONDS - 1)
    assert drops.claim_quiet(claimed, 2000 + STALE_CLAIM_SECONDS + 1), "a stale claim is taken again"


class Calls:
    def __init__(self) -> None:
        self.admitted: list[Any] = []
        self.notified: list[Any] = []
        self.quarantined: list[Any] = []


def sweeper(drops: PendingDrops, policy: SweepPolicy, calls: Calls, fail_notify: bool = False) -> DropSweeper:
    s3 = boto3.client("s3", region_name="us-east-1")

    def notify(notification: Any) -> None:
        if fail_notify:
            raise RuntimeError("SNS throttled")
        calls.notified.append(notification)

    return DropSweeper(
        pending=drops,
        policy=policy,
        model="churn",
        s3=s3,
        admit=lambda drop, dataset: calls.admitted.append((drop, dataset)),
        quarantine=lambda drop, error: calls.quarantined.append((drop, error)),
        notify=notify,
        max_object_bytes=10**9,
    )


@pytest.fixture
def folder(s3: Any) -> str:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}part-0000.csv", Body=b"1,2\n0,3\n")
    s3.put_object(Bucket=BUCKET, Key=f"{FOLDER}notes.txt", Body=b"x")
    return FOLDER


def test_a_quiet_folder_is_admitted_once_with_its_data_and_its_skipped_objects(
    drops: PendingDrops, folder: str
) -> None:
    drops.record_part(BUCKET, folder, 8, True, 1000, now=1000)
    drops.record_part(BUCKET, folder, 1, False, 1001, now=1001)
    calls = Calls()
    sweep = sweeper(drops, SweepPolicy(quiet_seconds=60, timeout_seconds=3600), calls)

    assert sweep.sweep(1060).waiting == 1, "quiet for 59 s of 60"
    assert sweep.sweep(1061).started == [folder]
    assert sweep.sweep(1200).started == []
    [(drop, dataset)] = calls.admitted
    assert dataset.keys == [f"{folder}part-0000.csv"]
    assert dataset.kind == "quiet-period"
    assert dataset.skipped == [f"{folder}notes.txt: not a .csv or .csv.gz file"]
    assert drop.identity.endswith("|quiet-period|1001|2")
    assert drops.waiting() == []


def test_the_incomplete_notice_is_sent_once_and_again_after_a_failed_publish(drops: PendingDrops, folder: str) -> None:
    drops.record_part(BUCKET, folder, 8, True, 1000, now=1000)
    calls = Calls()
    policy = SweepPolicy(quiet_seconds=0, timeout_seconds=600)
    with pytest.raises(RuntimeError):
        sweeper(drops, policy, calls, fail_notify=True).sweep(1600)
    sweep = sweeper(drops, policy, calls)
    assert sweep.sweep(1601).notified == [folder]
    assert sweep.sweep(1700).notified == []
    [notice] = calls.notified
    assert notice.event is EventType.DROP_INCOMPLETE
    assert "has waited 601 s" in notice.reason
    assert calls.admitted == [], "quiet completion is off"
    [still] = drops.waiting()
    assert still.status is DropStatus.PENDING, "the notice does not cancel the drop"
