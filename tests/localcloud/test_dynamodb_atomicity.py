"""Concurrent writes to one DynamoDB item on the offline cloud: none lost, one conditional winner.

Without the lock of ``localcloud/moto_patches/dynamodb.py`` moto interleaves concurrent requests on one item: list
appends are lost (200 kept 158 to 187 in these tests), several ``attribute_not_exists`` writes win,
and ``ReturnValues`` can describe another request's write. Each test races many threads through one boto3 client, in
process (``mock_aws``) and against moto's server in this process, as the offline cloud runs either.
"""

from __future__ import annotations

import socket
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from localcloud.moto_patches import dynamodb
from localcloud.runtime import Runtime

REGION = "us-east-1"
TABLE = "state"
APPENDS = 200
CLAIMANTS = 50
LOCKS = [f"lock#{index:02d}" for index in range(4)]
COUNTS = 100
# A queue in the claim makes moto take longer between reading the old item and storing the new one.
PENDING = {"L": [{"M": {"execution_name": {"S": f"run-{index:03d}"}}} for index in range(100)]}
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["in-process", "server"])
def client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # The offline runtime (its patches, the lock among them) is in place while it is active.
    with Runtime():
        for variable, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", REGION),
        ):
            monkeypatch.setenv(variable, value)
        # Enough pooled connections that server-mode requests really arrive together.
        config = Config(max_pool_connections=APPENDS, retries={"mode": "standard", "max_attempts": 1})
        if request.param == "in-process":
            with mock_aws():
                yield _with_table(boto3.client("dynamodb", region_name=REGION, config=config))
            return
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        url = f"http://127.0.0.1:{port}"
        try:
            yield _with_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=url, config=config))
        finally:
            # The server serves this process's backends, which outlive it: empty them as mock_aws would.
            urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
            server.stop()


def _with_table(client: Any) -> Any:
    # The shape of the stack's StateTable, which holds the model lock and its run queue.
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    return client


def _race(threads: int, call: Callable[[int], T]) -> list[T]:
    """Run ``call(index)`` on ``threads`` threads released together; results in index order."""
    start = threading.Barrier(threads)

    def one(index: int) -> T:
        start.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(threads)))


def test_the_offline_runtime_installs_the_lock() -> None:
    with Runtime():
        assert dynamodb.PATCHES.installed()


def test_concurrent_list_appends_to_one_item_all_survive(client: Any) -> None:
    def append(index: int) -> None:
        client.update_item(
            TableName=TABLE,
            Key={"id": {"S": "lock#model"}},
            UpdateExpression="SET #q = list_append(if_not_exists(#q, :empty), :one)",
            ExpressionAttributeNames={"#q": "queue"},
            ExpressionAttributeValues={":empty": {"L": []}, ":one": {"L": [{"S": f"run-{index:03d}"}]}},
        )

    _race(APPENDS, append)

    item = client.get_item(TableName=TABLE, Key={"id": {"S": "lock#model"}}, ConsistentRead=True)["Item"]
    queued = [entry["S"] for entry in item["queue"]["L"]]
    assert len(queued) == APPENDS
    assert sorted(queued) == [f"run-{index:03d}" for index in range(APPENDS)]


@pytest.fixture
def eager_thread_switching() -> Iterator[None]:
    """Switch threads every 10 µs instead of every 5 ms, so that short check-then-write windows interleave.

    moto checks a put's condition and stores the item microseconds apart: at the default interval,
    a thousand contested puts without the lock had no second winner.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("eager_thread_switching")
@pytest.mark.parametrize("write", ["PutItem", "UpdateItem"])
def test_concurrent_conditional_writes_have_exactly_one_winner(client: Any, write: str) -> None:
    # The model lock's acquire: whoever writes first holds it, everyone else is told it is taken.
    def claim(lock: str, owner: str) -> str:
        try:
            if write == "PutItem":
                client.put_item(
                    TableName=TABLE,
                    Item={"id": {"S": lock}, "holder": {"S": owner}, "pending": PENDING},
                    ConditionExpression="attribute_not_exists(holder)",
                )
            else:
                client.update_item(
                    TableName=TABLE,
                    Key={"id": {"S": lock}},
                    UpdateExpression="SET holder = :me",
                    ConditionExpression="attribute_not_exists(holder)",
                    ExpressionAttributeValues={":me": {"S": owner}},
                )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "won"

    # Every thread claims the same locks in turn, so each lock sees many simultaneous claims.
    outcomes = _race(CLAIMANTS, lambda index: {lock: claim(lock, f"run-{index:02d}") for lock in LOCKS})

    for lock in LOCKS:
        answers = Counter(outcome[lock] for outcome in outcomes)
        assert answers == {"won": 1, "ConditionalCheckFailedException": CLAIMANTS - 1}, lock
        winner = next(index for index, outcome in enumerate(outcomes) if outcome[lock] == "won")
        item = client.get_item(TableName=TABLE, Key={"id": {"S": lock}}, ConsistentRead=True)["Item"]
        assert item["holder"]["S"] == f"run-{winner:02d}"


def test_each_update_returns_its_own_new_value(client: Any) -> None:
    # UpdateItem's ReturnValues must describe that request's write: a counter hands out each value once.
    def increment(_: int) -> int:
        response = client.update_item(
            TableName=TABLE,
            Key={"id": {"S": "counter"}},
            UpdateExpression="ADD #n :one",
            ExpressionAttributeNames={"#n": "n"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["n"]["N"])

    handed_out = _race(COUNTS, increment)

    assert sorted(handed_out) == list(range(1, COUNTS + 1))
