"""locks.py against moto DynamoDB: one run per model, a FIFO queue, takeover of dead holders, concurrency."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from conveyor_core.shared.locks import ModelLock, PendingRun

MODEL = "churn"


def run(name: str) -> PendingRun:
    return PendingRun(execution_name=name, input_json=f'{{"run_id": "{name}"}}', queued_at=int(time.time()))


@pytest.fixture
def lock(dynamodb: Any, lock_table: str) -> ModelLock:
    return ModelLock(dynamodb, lock_table, MODEL)


def test_pending_run_round_trips_through_its_dynamodb_item() -> None:
    pending = PendingRun("exec-1", '{"a": 1}', 1_700_000_000)
    assert PendingRun.from_item(pending.as_item()) == pending


def test_a_free_lock_is_acquired(lock: ModelLock) -> None:
    before = int(time.time())
    assert lock.acquire_or_enqueue(run("a")) is True
    holder = lock.holder()
    assert holder is not None
    assert holder[0] == "a"
    assert before <= holder[1] <= int(time.time())
    assert lock.pending() == []


def test_lock_item_is_keyed_by_model(dynamodb: Any, lock_table: str, lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    item = dynamodb.get_item(TableName=lock_table, Key={"id": {"S": f"lock#{MODEL}"}})["Item"]
    assert item["holder"] == {"S": "a"}


def test_locks_of_different_models_are_independent(dynamodb: Any, lock_table: str, lock: ModelLock) -> None:
    other = ModelLock(dynamodb, lock_table, "fraud")
    assert lock.acquire_or_enqueue(run("a")) is True
    assert other.acquire_or_enqueue(run("b")) is True
    assert other.holder() is not None
    assert lock.pending() == []


def test_a_second_run_is_queued_behind_the_holder(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    second = run("b")
    assert lock.acquire_or_enqueue(second) is False
    assert lock.holder() is not None
    assert lock.holder()[0] == "a"  # type: ignore[index]
    assert lock.pending() == [second]


def test_release_without_queue_frees_the_lock(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    assert lock.release("a") is None
    assert lock.holder() is None
    assert lock.acquire_or_enqueue(run("b")) is True


def test_release_hands_the_lock_to_queued_runs_in_fifo_order(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    queued = [run(name) for name in ("b", "c", "d")]
    for pending in queued:
        assert lock.acquire_or_enqueue(pending) is False
    assert lock.pending() == queued

    assert lock.release("a") == queued[0]
    assert lock.holder()[0] == "b"  # type: ignore[index]
    assert lock.pending() == queued[1:]
    assert lock.release("b") == queued[1]
    assert lock.release("c") == queued[2]
    assert lock.holder()[0] == "d"  # type: ignore[index]
    assert lock.pending() == []
    assert lock.release("d") is None
    assert lock.holder() is None


def test_release_by_a_non_holder_changes_nothing(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    lock.acquire_or_enqueue(run("b"))
    assert lock.release("b") is None
    assert lock.release("someone-else") is None
    assert lock.holder()[0] == "a"  # type: ignore[index]
    assert [p.execution_name for p in lock.pending()] == ["b"]


def test_release_of_a_lock_never_taken_does_nothing(lock: ModelLock) -> None:
    assert lock.release("a") is None
    assert lock.holder() is None


def test_holder_is_dead_lets_a_run_take_over_the_lock(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("crashed"))
    lock.acquire_or_enqueue(run("waiting"))
    seen: list[tuple[str, int]] = []

    def holder_is_dead(holder: str, acquired_at: int) -> bool:
        seen.append((holder, acquired_at))
        return True

    assert lock.acquire_or_enqueue(run("new"), holder_is_dead) is True
    assert lock.holder()[0] == "new"  # type: ignore[index]
    assert len(seen) == 1
    assert seen[0][0] == "crashed"
    assert abs(seen[0][1] - time.time()) < 5
    # The queue survives the takeover and is served when the new holder releases.
    assert [p.execution_name for p in lock.pending()] == ["waiting"]
    assert lock.release("crashed") is None
    assert lock.release("new").execution_name == "waiting"  # type: ignore[union-attr]


def test_a_live_holder_is_not_taken_over(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("alive"))
    assert lock.acquire_or_enqueue(run("new"), lambda holder, acquired_at: False) is False
    assert lock.holder()[0] == "alive"  # type: ignore[index]
    assert [p.execution_name for p in lock.pending()] == ["new"]


def test_steal_from_fails_when_the_holder_changed(lock: ModelLock) -> None:
    lock.acquire_or_enqueue(run("a"))
    assert lock.steal_from("not-the-holder", "b") is False
    assert lock.holder()[0] == "a"  # type: ignore[index]
    assert lock.steal_from("a", "b") is True
    assert lock.holder()[0] == "b"  # type: ignore[index]


class InterleavingClient:
    """A DynamoDB client that runs ``before`` once, just before the first update matching ``marker``."""

    def __init__(self, client: Any, marker: str, before: Any) -> None:
        self._client = client
        self._marker = marker
        self._before = before
        self.fired = False

    def update_item(self, **kwargs: Any) -> Any:
        if not self.fired and self._marker in kwargs["UpdateExpression"]:
            self.fired = True
            self._before()
        return self._client.update_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_release_hands_over_to_a_run_queued_between_read_and_write(dynamodb: Any, lock_table: str) -> None:
    ModelLock(dynamodb, lock_table, MODEL).acquire_or_enqueue(run("a"))
    late = run("late")

    def enqueue_late() -> None:
        assert ModelLock(dynamodb, lock_table, MODEL).acquire_or_enqueue(late) is False

    client = InterleavingClient(dynamodb, "REMOVE holder", enqueue_late)
    assert ModelLock(client, lock_table, MODEL).release("a") == late
    assert client.fired
    assert ModelLock(dynamodb, lock_table, MODEL).holder()[0] == "late"  # type: ignore[index]


def test_acquire_retries_when_the_holder_releases_between_its_writes(dynamodb: Any, lock_table: str) -> None:
    ModelLock(dynamodb, lock_table, MODEL).acquire_or_enqueue(run("a"))

    def release_a() -> None:
        assert ModelLock(dynamodb, lock_table, MODEL).release("a") is None

    client = InterleavingClient(dynamodb, "list_append", release_a)
    assert ModelLock(client, lock_table, MODEL).acquire_or_enqueue(run("b")) is True
    assert client.fired
    assert ModelLock(dynamodb, lock_table, MODEL).holder()[0] == "b"  # type: ignore[index]
    assert ModelLock(dynamodb, lock_table, MODEL).pending() == []


@pytest.fixture
def atomic_moto_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make each moto DynamoDB item operation atomic, as every real DynamoDB request is.

    moto evaluates a ConditionExpression and then applies the update in plain Python with no lock,
    so under thread contention two conditional writes can both pass (observed: 2-6 "holders" in
    ~70 % of runs under load). Real DynamoDB serialises writes to one item. Serialising each moto
    request keeps what the lock algorithm must survive (threads interleaving *between* requests)
    while removing moto's own race.
    """
    from moto.dynamodb.models import DynamoDBBackend

    guard = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with guard:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


@pytest.mark.usefixtures("atomic_moto_items")
def test_concurrent_acquires_make_exactly_one_holder_and_queue_the_rest(lock_table: str) -> None:
    names = [f"run-{i}" for i in range(10)]
    barrier = threading.Barrier(len(names))
    results: dict[str, bool] = {}
    errors: list[BaseException] = []

    def contend(name: str) -> None:
        try:
            # boto3's default session is not thread-safe: one session and client per thread.
            client = boto3.session.Session().client("dynamodb", region_name="us-east-1")
            contender = ModelLock(client, lock_table, MODEL)
            barrier.wait(timeout=10)
            results[name] = contender.acquire_or_enqueue(run(name))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=contend, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    holders = [name for name, acquired in results.items() if acquired]
    assert len(holders) == 1
    lock = ModelLock(boto3.client("dynamodb", region_name="us-east-1"), lock_table, MODEL)
    assert lock.holder()[0] == holders[0]  # type: ignore[index]
    queued = [p.execution_name for p in lock.pending()]
    assert len(queued) == 9
    assert sorted([*holders, *queued]) == sorted(names)
