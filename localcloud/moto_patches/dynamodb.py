"""DynamoDB: moto applies each request atomically, as DynamoDB applies each write to an item.

moto reads an item, checks the condition, applies the update expression to the stored item in place
and builds the answer in separate steps, with no lock. Concurrent writers then interleave: two
``UpdateItem`` list appends both start from the old list and one append is lost (200 threads kept
158 to 196), two ``attribute_not_exists`` puts can both pass their condition, and ``ReturnValues`` can
describe someone else's write. On AWS a write to an item is serialized and its condition is checked
atomically with it, and Conveyor's model lock and run queue rely on both: offline, simultaneous
drops lost queued runs and stalled the queue.

One re-entrant lock fixes that, held:

* around every DynamoDB API request moto handles (``DynamoHandler.call_action``), in-process
  (``mock_aws``) and in server mode (``ThreadedMotoServer`` serves from this process's backends).
  The handler is the level that matters: ``UpdateItem``'s handler reads the old item for
  ``ReturnValues`` in a call of its own before the update, and serializes the live item after it;
* around the backend's item operations too, for moto's own callers that skip the handler.

The lock is process-wide on purpose, like the backends it guards (moto keeps every table of every
account in one process-wide dict), and it holds no cloud's state: it is not part of the ``Runtime``.
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

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler

from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

LOCK = threading.RLock()

# The backend methods that read or write items, the PartiQL ones included.
BACKEND_ITEM_OPERATIONS = (
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


def _serialized(wrapped: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(wrapped)
    def call(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return wrapped(*args, **kwargs)

    return call


PATCHES = PatchSet(
    "dynamodb",
    (
        Patch(DynamoHandler, "call_action", _serialized(original(DynamoHandler, "call_action"))),
        *(
            Patch(DynamoDBBackend, name, _serialized(original(DynamoDBBackend, name)))
            for name in BACKEND_ITEM_OPERATIONS
        ),
    ),
)
