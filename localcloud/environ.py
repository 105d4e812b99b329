"""Per-invocation environment variables for functions that run in this process.

Lambda gives every function its own environment. In-process, ``os.environ`` is shared, and a
global lock around invocations deadlocks as soon as one invocation waits on another. So
``os.environ`` is replaced by a mapping that consults a context-local overlay first: each
invocation sees its function's variables, other threads see the process's own. The replacement
itself is one of the Lambda patches (``moto_patches/awslambda.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any

_TOMBSTONE = object()
_overlay: ContextVar[dict[str, Any] | None] = ContextVar("localcloud_environ_overlay", default=None)


class OverlayEnviron(MutableMapping[str, str]):
    def __init__(self, base: MutableMapping[str, str]) -> None:
        self._base = base

    def __getitem__(self, key: str) -> str:
        overlay = _overlay.get()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is _TOMBSTONE:
                raise KeyError(key)
            return str(value)
        return self._base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay.get()
        if overlay is not None:
            overlay[key] = value
        else:
            self._base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _overlay.get()
        if overlay is not None:
            if key not in self:
                raise KeyError(key)
            overlay[key] = _TOMBSTONE
        else:
            del self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay.get()
        if overlay is None:
            yield from self._base
            return
        seen = set()
        for key, value in overlay.items():
            seen.add(key)
            if value is not _TOMBSTONE:
                yield key
        for key in self._base:
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    # os._Environ API that some libraries call directly.
    def setdefault(self, key: str, default: str = "") -> str:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]


def installed() -> bool:
    """Whether ``os.environ`` is the overlay (``moto_patches/awslambda.py`` puts it there)."""
    return isinstance(os.environ, OverlayEnviron)


@contextlib.contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``variables`` layered over the process environment."""
    if not installed():
        raise RuntimeError(
            "os.environ is not localcloud's overlay: install the Lambda patches (localcloud.moto_patches) first"
        )
    token = _overlay.set(dict(variables))
    try:
        yield
    finally:
        _overlay.reset(token)
