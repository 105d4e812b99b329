"""The offline cloud's clock: a time scale that shortens waits, bakes and schedules.

``scale = 0.01`` makes a 600 s bake take 6 s of wall time. The ASL stays unchanged; only the
runtime's sleeps are scaled.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale
        self._lock = threading.Lock()

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("the time scale must be positive")
        with self._lock:
            self._scale = scale

    def real_seconds(self, simulated_seconds: float) -> float:
        return max(0.0, simulated_seconds * self._scale)

    def sleep(self, simulated_seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep a scaled interval; returns False when ``stop`` was set first."""
        seconds = self.real_seconds(simulated_seconds)
        if stop is None:
            time.sleep(seconds)
            return True
        return not stop.wait(seconds)


CLOCK = Clock()
