"""SIGTERM handled like Ctrl-C, for the commands that hold resources until interrupted."""

from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM (`kill`, a service manager) raises KeyboardInterrupt, so cleanup runs."""
    # Signal handlers can only be set from the main thread; elsewhere SIGTERM keeps its default.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def dump_threads_on_sigusr1() -> None:
    """`kill -USR1 <pid>` prints every thread's stack to stderr: how a stuck shutdown is diagnosed."""
    if hasattr(signal, "SIGUSR1"):  # not on Windows
        faulthandler.register(signal.SIGUSR1, all_threads=True)
