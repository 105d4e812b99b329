"""Make moto's DynamoDB apply each request atomically, as DynamoDB applies each write to an item.

moto reads an item, checks the condition, applies the update expression to the stored item in place
and builds the answer in separate steps, with no lock. Concurrent writers then interleave: two
``UpdateItem`` list appends both start from the old list and one append is lost (200 threads kept
158 to 196), two ``attribute_not_exists`` puts can both pass their condition, and ``ReturnValues`` can
describe someone else's write. On AWS a write to an item is serialized and its condition is checked
atomically with it, and Conveyor's model lock and run queue rely on both: offline, simultaneous
drops lost queued runs and stalled the queue.

One process-wide re-entrant lock fixes that, held:

* around every DynamoDB API request moto handles (``DynamoHandler.call_action``), in-process
  (``mock_aws``) and in server mode (``ThreadedMotoServer`` serves from this process's backends).
  The handler is the level that matters: ``UpdateItem``'s handler reads the old item for
  ``ReturnValues`` in a call of its own before the update, and serializes the live item after it;
* around the backend's item operations too, for moto's own callers that skip the handler.

It serializes more than DynamoDB does (every table, not one item); moto answers in well under a
millisecond, so nothing offline waits noticeably. Re-entrant because a request nests backend calls
(``ExecuteTransaction`` runs ``ExecuteStatement``s; a stream's Lambda trigger would run inside a
write on the same thread).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

LOCK = threading.RLock()

# The backend methods that read or write items, the PartiQL ones included.
_BACKEND_ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_installed: list[bool] = []


def _serialized(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return original(*args, **kwargs)

    call.__localcloud_serialized__ = True  # type: ignore[attr-defined]
    return call


def install() -> None:
    """Wrap moto's DynamoDB request handler and backend item operations in :data:`LOCK`, once."""
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    DynamoHandler.call_action = _serialized(DynamoHandler.call_action)  # type: ignore[method-assign]
    for name in _BACKEND_ITEM_OPERATIONS:
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
    _installed.append(True)


def installed() -> bool:
    """Whether the lock is in place (moto's classes carry the wrappers)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    methods = [DynamoHandler.call_action, *(getattr(DynamoDBBackend, name) for name in _BACKEND_ITEM_OPERATIONS)]
    return all(getattr(method, "__localcloud_serialized__", False) for method in methods)
