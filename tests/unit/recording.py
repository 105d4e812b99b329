"""A boto3 client wrapper that records which operations a test's code called."""

from __future__ import annotations

from typing import Any


class RecordingClient:
    """Delegates to a boto3 client and records which operations were called."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return call
