"""AWS clients that a handler declares at import and creates on first use.

Creating a boto3 client loads its service model and endpoint rules: about 60 ms for a function's
first client and 10-45 ms for each one after it (measured with Lambda's python3.13 and the
runtime's boto3; S3's model is the largest). A handler declares every client any of its paths
needs, and most invocations take one path: the ingest function's admitting path never publishes to
SNS, for instance. Declared here, a client costs nothing until a path calls it, and is then kept
for the warm invocations after.

With SnapStart (template parameter ``EnableSnapStart``) the opposite is wanted: whatever init
builds is in the snapshot, free at every restore. ``create_all`` runs as the runtime's
before-snapshot hook, so a published version's snapshot holds every declared client.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3

# What each handler's Tracer patches for X-Ray: the handlers reach AWS only through botocore. Left
# to itself, Tracer() patches every library X-Ray knows that is importable (sqlite3, http.client,
# requests...), importing them at init for nothing: 5-14 ms of every cold start (docs/performance.md).
TRACED_LIBRARIES = ("botocore",)

_declared: list[LazyClient] = []


class LazyClient:
    """Stands in for ``boto3.client(service)``: the real client is made on the first attribute read."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._client: Any = None
        self._lock = threading.Lock()

    def created(self) -> Any:
        """The real client, made now if it was not yet."""
        if self._client is None:
            with self._lock:  # a handler may fan calls out to threads (drop_reader's prefetch)
                if self._client is None:
                    self._client = boto3.client(self.service)
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.created(), name)

    def __repr__(self) -> str:
        state = "created" if self._client is not None else "not created yet"
        return f"<LazyClient {self.service}: {state}>"


def client(service: str) -> Any:
    """A client for ``service``, created when first used."""
    lazy = LazyClient(service)
    _declared.append(lazy)
    return lazy


def create_all() -> None:
    """Create every declared client now (before a SnapStart snapshot is taken)."""
    for lazy in _declared:
        lazy.created()


try:
    # Lambda's Python 3.12+ runtimes ship this library; anywhere else there is no snapshot to prepare.
    from snapshot_restore_py import register_before_snapshot
except ImportError:
    pass
else:
    register_before_snapshot(create_all)
