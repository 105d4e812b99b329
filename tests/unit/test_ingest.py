"""ingest.py, executions.py and runs.py against moto S3, DynamoDB and Step Functions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from conveyor_core.intake import ingest
from conveyor_core.intake.dataset_keys import INLINE_KEYS_MAX_BYTES, KeyListStore, load_keys
from conveyor_core.intake.drops import InvalidDropError, classify_key, execution_name, idempotency_key
from conveyor_core.intake.ingest import Drop, admit, resolve_dataset
from conveyor_core.runs.closing import close_run
from conveyor_core.shared import executions
from conveyor_core.shared.contracts import DatasetRef, PipelineInput
from conveyor_core.shared.locks import ModelLock

MODEL = "churn"
LIMIT = 5 * 1024**3


def arrival(s3: Any, bucket: str, key: str, body: bytes | None = b"1,2\n0,3\n") -> Drop:
    """Upload ``key`` (unless body is None) and describe its arrival as the ingest handler does."""
    version_id = etag = None
    size = 0
    if body is not None:
        response = s3.put_object(Bucket=bucket, Key=key, Body=body)
        version_id, etag, size = response.get("VersionId"), response["ETag"], len(body)
    classification = classify_key(key, "incoming/")
    assert classification.kind is not None
    return Drop(
        bucket=bucket,
        key=key,
        kind=classification.kind,
        drop_prefix=classification.drop_prefix,
        size=size,
        version_id=version_id,
        identity=idempotency_key(bucket, key, version_id, etag, "0055AED6DCD90281E5"),
    )


@pytest.fixture
def lock(dynamodb: Any, lock_table: str) -> ModelLock:
    return ModelLock(dynamodb, lock_table, MODEL)


class Env(NamedTuple):
    s3: Any
    bucket: str
    sfn: Any
    state_machine_arn: str
    lock: ModelLock


@pytest.fixture
def env(s3: Any, bucket: str, sfn: Any, state_machine_arn: str, lock: ModelLock) -> Env:
    return Env(s3, bucket, sfn, state_machine_arn, lock)


def admit_drop(s3: Any, sfn: Any, state_machine_arn: str, lock: ModelLock, drop: Drop) -> ingest.Admission:
    return admit(
        drop,
        resolve_dataset(s3, drop, LIMIT),
        MODEL,
        state_machine_arn,
        sfn,
        lock,
        key_lists=KeyListStore(s3, drop.bucket),
    )


@contextlib.contextmanager
def aws_calls(*clients: Any) -> Iterator[list[str]]:
    """The API operations the clients send while the block runs, in order."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    for client in clients:
        client.meta.events.register("before-call", record)
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-call", record)


def execution_names(sfn: Any, state_machine_arn: str) -> list[str]:
    return sorted(e["name"] for e in sfn.list_executions(stateMachineArn=state_machine_arn)["executions"])


# --- resolve_dataset ----------------------------------------------------------------------------


def test_single_object_resolves_to_itself_with_its_version(s3: Any, bucket: str) -> None:
    drop = arrival(s3, bucket, "incoming/churn.csv")
    dataset = resolve_dataset(s3, drop, LIMIT)
    assert dataset == DatasetRef(
        bucket=bucket,
        keys=["incoming/churn.csv"],
        uri=f"s3://{bucket}/incoming/churn.csv",
        kind="single-object",
        version_id=drop.version_id,
        identity=drop.identity,
    )
    assert dataset.version_id


def test_success_folder_resolves_to_its_direct_data_children_sorted(s3: Any, bucket: str) -> None:
    for key in [
        "incoming/d/part-0002.csv",
        "incoming/d/part-0000.csv.gz",
        "incoming/d/part-0001.csv",
        "incoming/d/notes.txt",
        "incoming/d/nested/part-0003.csv",
        "incoming/d2/part-0000.csv",
    ]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1,2\n")
    drop = arrival(s3, bucket, "incoming/d/_SUCCESS", b"")
    dataset = resolve_dataset(s3, drop, LIMIT)
    assert dataset.keys == ["incoming/d/part-0000.csv.gz", "incoming/d/part-0001.csv", "incoming/d/part-0002.csv"]
    assert dataset.uri == f"s3://{bucket}/incoming/d/"
    assert dataset.kind == "success-marker"
    assert dataset.version_id is None


class SmallPages:
    """An S3 client whose list_objects_v2 paginator returns two keys a page (S3 returns 1,000)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pages = 0

    def get_paginator(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        outer = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                for page in paginator.paginate(**kwargs, PaginationConfig={"PageSize": 2}):
                    outer.pages += 1
                    yield page

        return Paginator()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_success_folder_listed_over_several_pages_is_complete(s3: Any, bucket: str) -> None:
    keys = [f"incoming/big/part-{i:04d}.csv" for i in range(7)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1,2\n")
    drop = arrival(s3, bucket, "incoming/big/_SUCCESS", b"")
    client = SmallPages(s3)
    assert resolve_dataset(client, drop, LIMIT).keys == keys
    assert client.pages == 4


def test_manifest_resolves_to_exactly_the_listed_parts_in_manifest_order(s3: Any, bucket: str) -> None:
    for key in ["incoming/m/b.csv", "incoming/m/a.csv", "incoming/m/extra.csv"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1,2\n")
    drop = arrival(s3, bucket, "incoming/m/manifest.json", json.dumps({"parts": ["b.csv", "a.csv"]}).encode())
    dataset = resolve_dataset(s3, drop, LIMIT)
    assert dataset.keys == ["incoming/m/b.csv", "incoming/m/a.csv"]
    assert dataset.kind == "manifest"
    assert dataset.uri == f"s3://{bucket}/incoming/m/"


def test_manifest_naming_missing_parts_is_invalid(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/m/a.csv", Body=b"1,2\n")
    manifest = json.dumps({"parts": ["a.csv", "b.csv", "c.csv.gz"]}).encode()
    drop = arrival(s3, bucket, "incoming/m/manifest.json", manifest)
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, LIMIT)
    assert caught.value.reason == "manifest-parts-missing"
    assert "2 missing" in caught.value.detail
    assert "incoming/m/b.csv" in caught.value.detail
    assert "incoming/m/c.csv.gz" in caught.value.detail


def test_bad_manifest_is_invalid(s3: Any, bucket: str) -> None:
    drop = arrival(s3, bucket, "incoming/m/manifest.json", b"{oops")
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, LIMIT)
    assert caught.value.reason == "bad-manifest"


def test_marker_without_data_is_invalid(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/d/readme.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="incoming/d/sub/part-0000.csv", Body=b"1,2\n")
    drop = arrival(s3, bucket, "incoming/d/_SUCCESS", b"")
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, LIMIT)
    assert caught.value.reason == "marker-without-data"


def test_zero_byte_single_object_is_invalid(s3: Any, bucket: str) -> None:
    drop = arrival(s3, bucket, "incoming/empty.csv", b"")
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, LIMIT)
    assert caught.value.reason == "empty-object"


def test_single_object_over_the_size_limit_is_invalid(s3: Any, bucket: str) -> None:
    drop = arrival(s3, bucket, "incoming/big.csv", b"1,2\n" * 100)
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, max_object_bytes=399)
    assert caught.value.reason == "object-too-large"
    assert "400 bytes" in caught.value.detail
    assert resolve_dataset(s3, drop, max_object_bytes=400).keys == ["incoming/big.csv"]


def test_a_single_object_resolves_from_its_event_alone(s3: Any, bucket: str) -> None:
    """No call to S3: whether the object still exists is Preprocess's first check (object-missing, version-gone)."""
    drop = arrival(s3, bucket, "incoming/gone.csv")
    s3.delete_object(Bucket=bucket, Key="incoming/gone.csv")
    with aws_calls(s3) as calls:
        dataset = resolve_dataset(s3, drop, LIMIT)
    assert calls == []
    assert (dataset.keys, dataset.version_id) == (["incoming/gone.csv"], drop.version_id)


def test_single_object_overwritten_but_still_versioned_resolves_to_its_own_version(s3: Any, bucket: str) -> None:
    drop = arrival(s3, bucket, "incoming/sales Q3 (final).csv")
    s3.put_object(Bucket=bucket, Key="incoming/sales Q3 (final).csv", Body=b"1,2\n0,3\n")
    dataset = resolve_dataset(s3, drop, LIMIT)
    assert dataset.version_id == drop.version_id
    assert dataset.uri == f"s3://{bucket}/incoming/sales Q3 (final).csv"


@pytest.mark.parametrize("marker", ["_SUCCESS", "manifest.json"])
def test_folder_drop_whose_parts_add_up_over_the_limit_is_invalid(s3: Any, bucket: str, marker: str) -> None:
    for name in ("a.csv", "b.csv", "c.csv"):
        s3.put_object(Bucket=bucket, Key=f"incoming/d/{name}", Body=b"1,2\n" * 50)  # 200 bytes each
    body = json.dumps({"parts": ["a.csv", "b.csv", "c.csv"]}).encode() if marker == "manifest.json" else b""
    drop = arrival(s3, bucket, f"incoming/d/{marker}", body)
    with pytest.raises(InvalidDropError) as caught:
        resolve_dataset(s3, drop, max_object_bytes=599)
    assert caught.value.reason == "dataset-too-large"
    assert "600 bytes" in caught.value.detail
    assert len(resolve_dataset(s3, drop, max_object_bytes=600).keys) == 3


# --- executions ---------------------------------------------------------------------------------


def test_execution_arn_is_derived_from_the_state_machine_arn() -> None:
    arn = executions.execution_arn("arn:aws:states:us-east-1:123456789012:stateMachine:retrain", "run-1")
    assert arn == "arn:aws:states:us-east-1:123456789012:execution:retrain:run-1"


def test_start_returns_the_arn_moto_reports(sfn: Any, state_machine_arn: str) -> None:
    arn, started = executions.start(sfn, state_machine_arn, "run-1", "{}")
    assert started is True
    assert arn == executions.execution_arn(state_machine_arn, "run-1")
    assert sfn.describe_execution(executionArn=arn)["name"] == "run-1"


def test_is_live_for_running_stopped_and_unknown_executions(sfn: Any, state_machine_arn: str) -> None:
    arn, _ = executions.start(sfn, state_machine_arn, "run-1", "{}")
    assert executions.is_live(sfn, state_machine_arn, "run-1") is True
    sfn.stop_execution(executionArn=arn)
    assert executions.is_live(sfn, state_machine_arn, "run-1") is False
    assert executions.is_live(sfn, state_machine_arn, "never-started") is False


# --- admit and close_run ------------------------------------------------------------------------


def test_admit_starts_an_execution_with_the_deterministic_name_and_pipeline_input(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/churn.csv")
    dataset = resolve_dataset(s3, drop, LIMIT)

    admission = admit(drop, dataset, MODEL, state_machine_arn, sfn, lock, key_lists=KeyListStore(s3, bucket))

    name = execution_name(MODEL, drop.identity)
    assert admission.action == "started"
    assert admission.execution_name == name
    assert admission.dataset_keys == 1
    assert admission.execution_arn == executions.execution_arn(state_machine_arn, name)
    described = sfn.describe_execution(executionArn=admission.execution_arn)
    assert described["name"] == name
    payload = PipelineInput.model_validate_json(described["input"])
    assert payload == PipelineInput(model=MODEL, run_id=name, trigger="data-arrival", dataset=dataset)
    assert json.loads(described["input"])["dataset"]["version_id"] == drop.version_id
    assert lock.holder()[0] == name  # type: ignore[index]
    assert admission.as_output() == {
        "action": "started",
        "execution_name": name,
        "execution_arn": admission.execution_arn,
        "dataset_keys": 1,
    }


def _large_folder_drop(s3: Any, bucket: str, parts: int) -> Drop:
    # Long part names, as Spark writes them: the key list outgrows a run's input long before 10,000.
    for index in range(parts):
        s3.put_object(Bucket=bucket, Key=f"incoming/big/part-{index:05d}-{'c' * 60}.csv", Body=b"1,2\n")
    return arrival(s3, bucket, "incoming/big/_SUCCESS", b"")


def test_a_large_drop_hands_its_keys_over_through_s3_and_keeps_the_input_small(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = _large_folder_drop(s3, bucket, 1500)
    dataset = resolve_dataset(s3, drop, LIMIT)
    assert len(json.dumps(dataset.keys)) > 5 * INLINE_KEYS_MAX_BYTES

    admission = admit(drop, dataset, MODEL, state_machine_arn, sfn, lock, key_lists=KeyListStore(s3, bucket))

    described = sfn.describe_execution(executionArn=admission.execution_arn)
    assert len(described["input"].encode()) < 4 * 1024
    passed = PipelineInput.model_validate_json(described["input"]).dataset
    assert passed.keys == []
    assert passed.key_count == 1500
    assert passed.keys_uri == f"s3://{bucket}/drops/{admission.execution_name}/keys.json"
    assert load_keys(s3, passed) == dataset.keys
    assert admission.dataset_keys == 1500


def test_a_large_drop_queued_behind_a_run_keeps_the_lock_item_small(env: Env, dynamodb: Any, lock_table: str) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    queued = admit_drop(s3, sfn, state_machine_arn, lock, _large_folder_drop(s3, bucket, 1500))
    assert queued.action == "queued"
    item = dynamodb.scan(TableName=lock_table)["Items"]
    # DynamoDB refuses items over 400 KB; the inline list alone would take about 120 KB here.
    assert len(json.dumps(item).encode()) < 8 * 1024


def test_admit_passes_the_trigger_through(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/churn.csv")
    admission = admit(
        drop,
        resolve_dataset(s3, drop, LIMIT),
        MODEL,
        state_machine_arn,
        sfn,
        lock,
        key_lists=KeyListStore(s3, bucket),
        trigger="manual",
    )
    described = sfn.describe_execution(executionArn=admission.execution_arn)
    assert json.loads(described["input"])["trigger"] == "manual"


def test_a_second_drop_is_queued_while_the_lock_is_held(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    second_drop = arrival(s3, bucket, "incoming/b.csv")
    second = admit_drop(s3, sfn, state_machine_arn, lock, second_drop)

    assert (first.action, second.action) == ("started", "queued")
    assert second.execution_name == execution_name(MODEL, second_drop.identity)
    assert second.execution_arn == executions.execution_arn(state_machine_arn, second.execution_name)
    assert execution_names(sfn, state_machine_arn) == [first.execution_name]
    [pending] = lock.pending()
    assert pending.execution_name == second.execution_name
    assert PipelineInput.model_validate_json(pending.input_json).dataset.keys == ["incoming/b.csv"]


def test_close_run_starts_the_queued_execution_with_its_stored_input(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))
    stored_input = lock.pending()[0].input_json

    result = close_run(first.execution_name, lock, sfn, state_machine_arn)

    assert result == {"released": True, "next_execution": second.execution_arn, "next_started": True}
    assert execution_names(sfn, state_machine_arn) == sorted([first.execution_name, second.execution_name])
    assert sfn.describe_execution(executionArn=second.execution_arn)["input"] == stored_input
    assert lock.holder()[0] == second.execution_name  # type: ignore[index]
    assert lock.pending() == []


def test_close_run_without_a_queue_releases_the_lock(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    assert close_run(first.execution_name, lock, sfn, state_machine_arn) == {"released": True, "next_execution": None}
    assert lock.holder() is None


def test_close_run_by_a_run_that_does_not_hold_the_lock_starts_nothing(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))
    assert close_run(second.execution_name, lock, sfn, state_machine_arn)["next_execution"] is None
    assert execution_names(sfn, state_machine_arn) == [first.execution_name]
    assert lock.holder()[0] == first.execution_name  # type: ignore[index]


def test_the_same_drop_admitted_again_after_its_run_closed_is_a_duplicate(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/a.csv")
    first = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    close_run(first.execution_name, lock, sfn, state_machine_arn)
    # moto never runs the Pass state: executions stay RUNNING until stopped. Stopping it stands in
    # for the execution having finished. moto then raises ExecutionAlreadyExists for the reused
    # name, as Step Functions does for a closed execution (or a different input).
    sfn.stop_execution(executionArn=first.execution_arn)

    again = admit_drop(s3, sfn, state_machine_arn, lock, drop)

    assert again.action == "duplicate"
    assert again.execution_name == first.execution_name
    assert again.execution_arn == first.execution_arn
    assert execution_names(sfn, state_machine_arn) == [first.execution_name]


def test_the_same_drop_admitted_again_while_its_execution_runs_is_reported_started(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/a.csv")
    first = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    close_run(first.execution_name, lock, sfn, state_machine_arn)
    # Step Functions (and moto) treat StartExecution with the same name and the same input as
    # idempotent while that execution is RUNNING: no error, the existing ARN comes back. Our code
    # therefore reports "started" although no second execution exists.
    again = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    assert again.action == "started"
    assert again.execution_arn == first.execution_arn
    assert execution_names(sfn, state_machine_arn) == [first.execution_name]


def test_the_same_name_with_a_different_input_is_a_duplicate_even_while_running(
    sfn: Any, state_machine_arn: str
) -> None:
    executions.start(sfn, state_machine_arn, "run-1", '{"a": 1}')
    arn, started = executions.start(sfn, state_machine_arn, "run-1", '{"a": 2}')
    assert started is False
    assert arn == executions.execution_arn(state_machine_arn, "run-1")


def test_a_duplicate_admission_does_not_keep_the_lock(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/a.csv")
    first = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    close_run(first.execution_name, lock, sfn, state_machine_arn)
    sfn.stop_execution(executionArn=first.execution_arn)
    assert admit_drop(s3, sfn, state_machine_arn, lock, drop).action == "duplicate"

    following = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))

    assert following.action == "started"


def test_a_dead_holder_is_taken_over_after_the_grace_period(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    sfn.stop_execution(executionArn=first.execution_arn)  # ended without releasing its lock
    monkeypatch.setattr(ingest, "LOCK_GRACE_SECONDS", -1)

    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))

    assert second.action == "started"
    assert lock.holder()[0] == second.execution_name  # type: ignore[index]


def test_a_dead_holder_is_not_taken_over_within_the_grace_period(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    sfn.stop_execution(executionArn=first.execution_arn)
    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))
    assert second.action == "queued"
    assert lock.holder()[0] == first.execution_name  # type: ignore[index]


def test_a_running_holder_is_not_taken_over_after_the_grace_period(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    monkeypatch.setattr(ingest, "LOCK_GRACE_SECONDS", -1)
    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/b.csv"))
    assert second.action == "queued"
    assert lock.holder()[0] == first.execution_name  # type: ignore[index]


def test_a_new_version_of_the_same_key_is_a_new_run(env: Env) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv", b"1,2\n"))
    close_run(first.execution_name, lock, sfn, state_machine_arn)
    second = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv", b"0,3\n"))
    assert second.action == "started"
    assert second.execution_name != first.execution_name


# --- the admitting path's AWS calls ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lock_held", "action", "calls"),
    [(False, "started", ["UpdateItem", "StartExecution"]), (True, "queued", ["UpdateItem", "UpdateItem"])],
)
def test_a_drop_is_admitted_in_two_aws_calls(
    env: Env, dynamodb: Any, lock_held: bool, action: str, calls: list[str]
) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    if lock_held:
        admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    drop = arrival(s3, bucket, "incoming/b.csv")
    with aws_calls(s3, sfn, dynamodb) as made:
        admission = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    assert admission.action == action
    assert made == calls


def test_a_redelivered_queued_drop_is_not_queued_twice(env: Env, dynamodb: Any) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    first = admit_drop(s3, sfn, state_machine_arn, lock, arrival(s3, bucket, "incoming/a.csv"))
    drop = arrival(s3, bucket, "incoming/b.csv")
    queued = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    with aws_calls(s3, sfn, dynamodb) as calls:
        again = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    assert (queued.action, again.action) == ("queued", "duplicate")
    assert calls == ["UpdateItem"]
    assert [run.execution_name for run in lock.pending()] == [queued.execution_name]
    # The queue hands over to it once, and its run starts once.
    close_run(first.execution_name, lock, sfn, state_machine_arn)
    assert execution_names(sfn, state_machine_arn) == sorted([first.execution_name, queued.execution_name])
    assert lock.pending() == []


def test_a_redelivery_while_its_run_holds_the_lock_starts_nothing(env: Env, dynamodb: Any) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/a.csv")
    first = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    with aws_calls(s3, sfn, dynamodb) as calls:
        again = admit_drop(s3, sfn, state_machine_arn, lock, drop)
    assert again.action == "duplicate"
    assert calls == ["UpdateItem", "DescribeExecution"]
    assert execution_names(sfn, state_machine_arn) == [first.execution_name]
    assert lock.holder()[0] == first.execution_name  # type: ignore[index]


def test_an_admission_that_failed_after_taking_the_lock_starts_its_run_on_retry(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, bucket, sfn, state_machine_arn, lock = env
    drop = arrival(s3, bucket, "incoming/a.csv")

    def throttled(*_: Any, **__: Any) -> Any:
        raise RuntimeError("StartExecution throttled")

    with monkeypatch.context() as patched:
        patched.setattr(executions, "start", throttled)
        with pytest.raises(RuntimeError, match="throttled"):
            admit_drop(s3, sfn, state_machine_arn, lock, drop)
    name = execution_name(MODEL, drop.identity)
    assert lock.holder()[0] == name  # type: ignore[index]
    assert execution_names(sfn, state_machine_arn) == []

    retried = admit_drop(s3, sfn, state_machine_arn, lock, drop)

    assert retried.action == "started"
    assert execution_names(sfn, state_machine_arn) == [name]
