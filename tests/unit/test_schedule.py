"""schedule.py: the newest complete drop in a versioned bucket, and whether it warrants a retrain.

moto stamps S3 objects with ``utcnow()`` but lists ``LastModified`` at 1 s resolution (it formats
``%Y-%m-%dT%H:%M:%S.000Z``), as real S3 listings do, so two uploads in one test usually share a
timestamp. Rather than sleep, the ``clock`` fixture replaces moto's S3 clock, so each test sets
exactly when every object was written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from conveyor_core.intake.drops import DropKind, idempotency_key
from conveyor_core.intake.ingest import Drop
from conveyor_core.release.history import (
    AlarmRollbackRecord,
    DeploymentRecord,
    DeploymentStatus,
    HistoryRecord,
    deployment_sort_key,
    partition,
)
from conveyor_core.runs import schedule
from conveyor_core.runs.schedule import Decision, decide, newest_complete_drop

PREFIX = "incoming/"
BODY = b"label,feature\n1,2\n0,3\n"
START = dt.datetime(2026, 11, 23, 10, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, minutes: int) -> None:
        self.now = START + dt.timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("moto.s3.models.utcnow", clock)
    return clock


def upload(s3: Any, bucket: str, key: str, body: bytes = BODY) -> dict[str, Any]:
    response: dict[str, Any] = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return response


def test_moto_lists_last_modified_at_one_second_resolution(s3: Any, bucket: str) -> None:
    # The reason for the clock fixture: without it, back-to-back uploads are indistinguishable by time.
    upload(s3, bucket, "incoming/a.csv")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    assert listed.microsecond == 0


def test_the_clock_fixture_controls_last_modified(s3: Any, bucket: str, clock: Clock) -> None:
    clock.at(minutes=7)
    upload(s3, bucket, "incoming/a.csv")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    assert listed == dt.datetime(2026, 11, 23, 10, 7, 0, tzinfo=dt.UTC)


# --- newest_complete_drop: nothing to use --------------------------------------------------------


def test_an_empty_bucket_has_no_drop(s3: Any, bucket: str) -> None:
    assert newest_complete_drop(s3, bucket, PREFIX) is None


def test_part_files_without_a_marker_are_not_a_drop(s3: Any, bucket: str, clock: Clock) -> None:
    for minute, key in enumerate(["incoming/2026-11-23/part-0000.csv", "incoming/2026-11-23/part-0001.csv.gz"]):
        clock.at(minute)
        upload(s3, bucket, key)
    assert newest_complete_drop(s3, bucket, PREFIX) is None


@pytest.mark.parametrize(
    "key",
    [
        "incoming/readme.txt",
        "incoming/data.json",
        "incoming/2026-11-23/notes.txt",
        "incoming/2026-11-23/_SUCCESS.tmp",
        "incoming/manifest.json",  # a manifest only marks a folder
        "incoming/_SUCCESS",  # likewise the success marker
    ],
)
def test_non_data_objects_are_not_a_drop(s3: Any, bucket: str, key: str) -> None:
    upload(s3, bucket, key)
    assert newest_complete_drop(s3, bucket, PREFIX) is None


@pytest.mark.parametrize(
    "key",
    [
        "incoming/tab\tname.csv",
        "incoming/escape\x1b[2J.csv",
        "incoming/2026-11-23/bad\u202edir/_SUCCESS",
        "incoming/2026-11-23//_SUCCESS",
        "incoming/../_SUCCESS",
        "incoming/" + "x" * 510 + ".csv",
    ],
)
def test_unsafe_keys_are_not_a_drop(s3: Any, bucket: str, key: str) -> None:
    upload(s3, bucket, key)
    # Stored verbatim (not normalised away), so only the key validation can reject it.
    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert newest_complete_drop(s3, bucket, PREFIX) is None


@pytest.mark.parametrize("key", ["incoming/sales Q3 (final).csv", "incoming/données de mars/_SUCCESS"])
def test_keys_with_spaces_and_accents_are_a_drop(s3: Any, bucket: str, key: str) -> None:
    if key.endswith("_SUCCESS"):
        upload(s3, bucket, key.replace("_SUCCESS", "partie 1.csv"))
    upload(s3, bucket, key)
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == key


def test_data_outside_the_incoming_prefix_is_not_a_drop(s3: Any, bucket: str) -> None:
    upload(s3, bucket, "archive/old.csv")
    upload(s3, bucket, "incoming-old/2026.csv")
    assert newest_complete_drop(s3, bucket, PREFIX) is None


# --- newest_complete_drop: choosing ------------------------------------------------------------


def test_a_single_top_level_object_is_a_drop_with_its_own_key_as_prefix(s3: Any, bucket: str) -> None:
    put = upload(s3, bucket, "incoming/churn-2026-11-23.csv")
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop == Drop(
        bucket=bucket,
        key="incoming/churn-2026-11-23.csv",
        kind=DropKind.SINGLE_OBJECT,
        drop_prefix="incoming/churn-2026-11-23.csv",
        size=len(BODY),
        version_id=put["VersionId"],
        identity=idempotency_key(bucket, "incoming/churn-2026-11-23.csv", put["VersionId"], None, None),
    )


@pytest.mark.parametrize(
    ("marker", "kind"), [("_SUCCESS", DropKind.SUCCESS_MARKER), ("manifest.json", DropKind.MANIFEST)]
)
def test_a_folder_marker_is_the_newest_drop_even_before_newer_part_files(
    s3: Any, bucket: str, clock: Clock, marker: str, kind: DropKind
) -> None:
    clock.at(0)
    upload(s3, bucket, "incoming/2026-11-23/part-0000.csv")
    clock.at(1)
    upload(s3, bucket, f"incoming/2026-11-23/{marker}", b'{"parts": ["part-0000.csv"]}')
    clock.at(2)
    upload(s3, bucket, "incoming/2026-11-24/part-0000.csv")  # a later folder, not yet complete
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == f"incoming/2026-11-23/{marker}"
    assert drop.kind is kind
    assert drop.drop_prefix == "incoming/2026-11-23/"


@pytest.mark.parametrize(
    "order",
    [
        ["incoming/a-2026-11-21.csv", "incoming/2026-11-22/_SUCCESS", "incoming/2026-11-23/manifest.json"],
        ["incoming/2026-11-23/manifest.json", "incoming/a-2026-11-21.csv", "incoming/2026-11-22/_SUCCESS"],
        ["incoming/2026-11-22/_SUCCESS", "incoming/2026-11-23/manifest.json", "incoming/a-2026-11-21.csv"],
    ],
    ids=["manifest-last", "success-last", "csv-last"],
)
def test_the_most_recently_written_drop_wins_whatever_its_kind_or_key(
    s3: Any, bucket: str, clock: Clock, order: list[str]
) -> None:
    for minute, key in enumerate(order):
        clock.at(minute)
        upload(s3, bucket, key)
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == order[-1]


def test_unsafe_and_non_data_objects_newer_than_a_drop_do_not_hide_it(s3: Any, bucket: str, clock: Clock) -> None:
    clock.at(0)
    upload(s3, bucket, "incoming/good.csv")
    for minute, key in enumerate(["incoming/bad\tname.csv", "incoming/x/part-0001.csv", "incoming/notes.txt"], 1):
        clock.at(minute)
        upload(s3, bucket, key)
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == "incoming/good.csv"


def test_drops_written_in_the_same_second_are_ordered_by_key(s3: Any, bucket: str, clock: Clock) -> None:
    clock.at(0)
    upload(s3, bucket, "incoming/b.csv")
    upload(s3, bucket, "incoming/a.csv")
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == "incoming/b.csv"


def test_a_rewritten_object_is_newer_than_a_drop_written_in_between(s3: Any, bucket: str, clock: Clock) -> None:
    clock.at(0)
    upload(s3, bucket, "incoming/a.csv")
    clock.at(1)
    upload(s3, bucket, "incoming/b.csv")
    clock.at(2)
    upload(s3, bucket, "incoming/a.csv", b"label,feature\n1,9\n")
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == "incoming/a.csv"


# --- newest_complete_drop: identity -------------------------------------------------------------


def test_drop_identity_is_the_one_ingest_computed_on_arrival(s3: Any, bucket: str) -> None:
    key = "incoming/2026-11-23/_SUCCESS"
    put = upload(s3, bucket, key, b"")
    version_id = put["VersionId"]
    assert version_id
    assert version_id != "null"
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.version_id == version_id
    assert drop.size == 0
    assert drop.identity == idempotency_key(bucket, key, version_id, put["ETag"].strip('"'), None)
    # Ingest also had the event's sequencer; in a versioned bucket it does not change the identity.
    assert drop.identity == idempotency_key(bucket, key, version_id, put["ETag"], "0055AED6DCD90281E5")
    assert drop.identity == f"{bucket}|{key}|{version_id}"


def test_drop_identity_is_that_of_the_latest_version_of_a_rewritten_key(s3: Any, bucket: str) -> None:
    key = "incoming/churn.csv"
    first = upload(s3, bucket, key)
    second = upload(s3, bucket, key, BODY)  # same bytes, same etag, new version
    assert first["VersionId"] != second["VersionId"]
    assert first["ETag"] == second["ETag"]
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.version_id == second["VersionId"]
    assert drop.identity == idempotency_key(bucket, key, second["VersionId"], None, None)
    assert drop.identity != idempotency_key(bucket, key, first["VersionId"], None, None)


def test_drop_identity_in_an_unversioned_bucket_falls_back_to_the_etag(s3: Any) -> None:
    s3.create_bucket(Bucket="conveyor-test-unversioned")
    put = upload(s3, "conveyor-test-unversioned", "incoming/churn.csv")
    drop = newest_complete_drop(s3, "conveyor-test-unversioned", PREFIX)
    assert drop is not None
    assert drop.version_id is None
    etag = put["ETag"].strip('"')
    assert drop.identity == idempotency_key("conveyor-test-unversioned", "incoming/churn.csv", None, etag, None)
    assert etag in drop.identity


def test_more_than_one_listing_page_is_searched(s3: Any, bucket: str, clock: Clock) -> None:
    # list_objects_v2 returns at most 1000 keys a page; the newest drop sorts last by key.
    clock.at(0)
    for index in range(1000):
        upload(s3, bucket, f"incoming/2026-11-23/part-{index:04d}.csv", b"1")
    clock.at(1)
    upload(s3, bucket, "incoming/2026-11-23/zz-late/_SUCCESS", b"")
    drop = newest_complete_drop(s3, bucket, PREFIX)
    assert drop is not None
    assert drop.key == "incoming/2026-11-23/zz-late/_SUCCESS"


# --- decide -------------------------------------------------------------------------------------


def make_drop(key: str = "incoming/churn.csv", identity: str = "data|incoming/churn.csv|v2") -> Drop:
    return Drop(
        bucket="data",
        key=key,
        kind=DropKind.SINGLE_OBJECT,
        drop_prefix=key,
        size=10,
        version_id="v2",
        identity=identity,
    )


def deployment(
    config: str,
    dataset_identity: str | None,
    status: DeploymentStatus = DeploymentStatus.IN_SERVICE,
    recorded_at: str = "2026-11-20T10:00:00.000Z",
) -> DeploymentRecord:
    """A deployment history record as RecordDeployment writes it (``dataset_identity`` None: an older one)."""
    return DeploymentRecord(
        pk=partition("churn"),
        sk=deployment_sort_key(recorded_at, f"run-{config}"),
        status=status,
        run_id=f"run-{config}",
        trigger="data-arrival",
        endpoint="churn-endpoint",
        endpoint_config=config,
        previous_endpoint_config="",
        model_name=f"{config}-model",
        model_package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1",
        metric_name="validation:auc",
        metric_value=0.9,
        dataset_uri="s3://data/incoming/churn.csv",
        dataset_sha256="ab" * 32,
        dataset_identity=dataset_identity,
        compiled=False,
        strategy="canary",
        recorded_at=recorded_at,
    )


def production(dataset_identity: str | None) -> DeploymentRecord:
    """The ``current`` pointer: the production model's deployment record."""
    return deployment("cfg-a", dataset_identity).as_current()


def test_no_drop_means_no_retrain() -> None:
    decision = decide(None, production("data|incoming/churn.csv|v1"))
    assert decision.retrain is False
    assert "no complete dataset" in decision.reason
    assert decide(None, None).retrain is False


def test_the_drop_production_was_trained_on_is_skipped_and_named() -> None:
    drop = make_drop()
    decision = decide(drop, production(drop.identity))
    assert decision == Decision(False, decision.reason)
    assert "s3://data/incoming/churn.csv" in decision.reason


def test_a_drop_with_a_different_identity_is_retrained_on() -> None:
    decision = decide(make_drop(identity="data|incoming/churn.csv|v2"), production("data|incoming/churn.csv|v1"))
    assert decision.retrain is True
    assert "s3://data/incoming/churn.csv" in decision.reason


def test_a_production_model_with_no_recorded_identity_is_retrained() -> None:
    assert decide(make_drop(), production(None)).retrain is True


def test_no_production_model_means_retrain() -> None:
    decision = decide(make_drop(), None)
    assert decision.retrain is True
    assert "s3://data/incoming/churn.csv" in decision.reason


def test_a_scheduled_run_skips_the_drop_ingest_already_trained_production_on(s3: Any, bucket: str) -> None:
    key = "incoming/churn.csv"
    put = upload(s3, bucket, key)
    on_arrival = idempotency_key(bucket, key, put["VersionId"], put["ETag"], "0055AED6DCD90281E5")
    assert decide(newest_complete_drop(s3, bucket, PREFIX), production(on_arrival)).retrain is False
    upload(s3, bucket, key)
    assert decide(newest_complete_drop(s3, bucket, PREFIX), production(on_arrival)).retrain is True


# --- rolled-back drops are not retrained on ---------------------------------------------------------


def alarm_rollback(bad: str, good: str) -> AlarmRollbackRecord:
    return AlarmRollbackRecord(
        pk=partition("churn"),
        sk=deployment_sort_key("2026-11-24T10:00:00.000Z", f"rollback-{bad}"),
        endpoint="churn-endpoint",
        endpoint_config=bad,
        restored_config=good,
        model_package_arn="",
        alarm="churn-5xx",
        recorded_at="2026-11-24T10:00:00.000Z",
    )


def test_rolled_back_identities_collects_drops_whose_model_was_taken_out_of_service() -> None:
    history: list[HistoryRecord] = [
        alarm_rollback("cfg-b", "cfg-a"),
        deployment("cfg-b", "bucket|incoming/b.csv|v2"),
        deployment("cfg-c", "bucket|incoming/c.csv|v3", DeploymentStatus.ROLLED_BACK),
        deployment("cfg-a", "bucket|incoming/a.csv|v1"),
    ]

    assert schedule.rolled_back_identities(history) == {"bucket|incoming/b.csv|v2", "bucket|incoming/c.csv|v3"}


def test_rolled_back_deployments_recorded_without_a_dataset_identity_name_no_drop() -> None:
    history: list[HistoryRecord] = [
        alarm_rollback("cfg-b", "cfg-a"),
        deployment("cfg-b", None),
        deployment("cfg-c", None, DeploymentStatus.ROLLED_BACK),
        deployment("cfg-a", "bucket|incoming/a.csv|v1"),
    ]

    assert schedule.rolled_back_identities(history) == set()
    assert schedule.rolled_back_identities([]) == set()


def test_the_restored_config_of_an_alarm_rollback_is_not_rolled_back() -> None:
    # cfg-a was restored by the rollback, not rolled away from: its drop may be retrained on.
    history: list[HistoryRecord] = [alarm_rollback("cfg-b", "cfg-a"), deployment("cfg-a", "bucket|incoming/a.csv|v1")]

    assert schedule.rolled_back_identities(history) == set()


def test_decide_skips_a_drop_whose_model_was_rolled_back() -> None:
    drop = Drop(
        bucket="bucket",
        key="incoming/b.csv",
        kind=DropKind.SINGLE_OBJECT,
        drop_prefix="incoming/b.csv",
        size=10,
        version_id="v2",
        identity="bucket|incoming/b.csv|v2",
    )

    decision = schedule.decide(drop, None, {"bucket|incoming/b.csv|v2"})

    assert not decision.retrain
    assert "was rolled back" in decision.reason
    assert schedule.decide(drop, None, {"bucket|incoming/other.csv|v9"}).retrain
