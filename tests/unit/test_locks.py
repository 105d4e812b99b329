"""locks.py against moto DynamoDB: one run per model, a FIFO queue, takeover of dead holders, concurrency.

Also the state table's item kinds (state_items.py): the lock item these writes keep in shape, and the
key prefixes and TTL attribute every kind shares.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from pydantic import ValidationError

from conveyor_core.shared import state_items
from conveyor_core.shared.locks import ModelLock, PendingRun
from conveyor_core.shared.state_items import LockItem

MODEL = "churn"


def run(name: str) -> PendingRun:
    return PendingRun(execution_name=name, input_json=f'{{"run_id": "{name}"}}', queued_at=int(time.time()))


@pytest.fixture
def lock(dynamodb: Any, lock_table: str) -> ModelLock:
    return ModelLock(dynamodb, lock_table, MODEL)


def test_pending_run_round_trips_through_its_dynamodb_item() -> None:
    pending = PendingRun(execution_name="exec-1", input_json='{"a": 1}', queued_at=1_700_000_000)
    assert pending.to_value() == {
        "M": {"execution_name": {"S": "exec-1"}, "input_json": {"S": '{"a": 1}'}, "queued_at": {"N": "1700000000"}}
    }
    assert PendingRun.from_value(pending.to_value()) == pending


def test_the_lock_item_the_writes_leave_reads_back_through_its_owner(
    dynamodb: Any, lock_table: str, lock: ModelLock
) -> None:
    first, second, third = run("a"), run("b"), run("c")
    lock.acquire_or_enqueue(first)
    lock.acquire_or_enqueue(second)
    lock.acquire_or_enqueue(third)
    raw = dynamodb.get_item(TableName=lock_table, Key={"id": {"S": f"lock#{MODEL}"}})["Item"]

    item = LockItem.from_item(raw)

    assert item.id == LockItem.id_for(MODEL) == f"lock#{MODEL}"
    assert item.holder == "a"
    assert item.acquired_at == int(raw["acquired_at"]["N"])
    assert item.pending == (second, third)
    assert item.to_item() == raw
    assert lock.read() == item


def test_a_released_lock_item_reads_as_free(dynamodb: Any, lock_table: str, lock: ModelLock) -> None:
    assert lock.read() == LockItem(id=f"lock#{MODEL}")  # never taken: no item at all
    key = {"id": {"S": f"lock#{MODEL}"}}
    lock.acquire_or_enqueue(run("a"))
    lock.release("a")
    assert dynamodb.get_item(TableName=lock_table, Key=key)["Item"] == key
    assert LockItem.from_item(key) == LockItem(id=f"lock#{MODEL}")
    # After a hand-over the emptied queue stays behind as an empty list.
    lock.acquire_or_enqueue(run("b"))
    lock.acquire_or_enqueue(run("c"))
    lock.release("b")
    lock.release("c")
    raw = dynamodb.get_item(TableName=lock_table, Key=key)["Item"]
    assert raw == {**key, "pending": {"L": []}}
    item = LockItem.from_item(raw)
    assert (item.holder, item.acquired_at, item.pending) == (None, None, ())
    assert lock.holder() is None


def test_a_holder_recorded_without_acquired_at_counts_as_taken_at_zero(
    dynamodb: Any, lock_table: str, lock: ModelLock
) -> None:
    dynamodb.put_item(TableName=lock_table, Item={"id": {"S": f"lock#{MODEL}"}, "holder": {"S": "old"}})
    assert lock.holder() == ("old", 0)


# --- the state table's item kinds ----------------------------------------------------------------


def test_every_state_item_kind_has_its_own_key_prefix() -> None:
    prefixes = [kind.PREFIX for kind in state_items.STATE_ITEM_TYPES]
    assert prefixes == ["lock#", "alarm#", "rollback#", "restored#"]
    # No prefix starts another, so no id of one kind can be read as another kind's.
    assert not [(a, b) for a in prefixes for b in prefixes if a != b and b.startswith(a)]


def test_an_item_of_another_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="lock#"):
        LockItem(id="alarm#churn#5xx#t")
    with pytest.raises(ValidationError, match="lock#"):
        LockItem(id="lock#")


class _TemplateLoader(yaml.SafeLoader):
    """template.yaml with its intrinsic tags read as plain values."""


_TemplateLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
)


def test_the_markers_expire_through_the_attribute_the_state_tables_ttl_reads() -> None:
    template = yaml.load((Path(__file__).resolve().parents[2] / "template.yaml").read_text(), Loader=_TemplateLoader)
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": state_items.TTL_ATTRIBUTE, "Enabled": True}
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


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
