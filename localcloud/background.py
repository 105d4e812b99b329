"""One daemon thread that a runtime component starts with the cloud and stops with it."""

from __future__ import annotations

import threading
from collections.abc import Callable


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self._name = name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, run: Callable[[], None]) -> None:
        """Start ``run`` unless it is already running; ``run`` returns once ``stopping`` is set."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.stopping.clear()
        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
