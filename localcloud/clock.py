"""The offline cloud's clock: a time scale that shortens waits, bakes and schedules.

``scale = 0.01`` makes a 600 s bake take 6 s of wall time. The ASL stays unchanged; only the
runtime's sleeps are scaled.

The clock also keeps a simulated wall time for schedules: it runs ``1 / scale`` times faster than
real time and can be advanced by hand, so a daily schedule can be shown firing in a demo. Event
timestamps everywhere else stay real, because the handlers compare them with ``datetime.now()``.

Each offline cloud owns one clock (``Runtime.clock``); there is no process-wide clock.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale
        self._lock = threading.Lock()
        self._origin_real = time.time()
        self._origin_monotonic = time.monotonic()
        self._advanced = 0.0

    @property
    def scale(self) -> float:
        return self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("the time scale must be positive")
        with self._lock:
            # Re-anchor so that changing the scale never makes simulated time jump backwards.
            self._origin_real = self._now_locked()
            self._origin_monotonic = time.monotonic()
            self._advanced = 0.0
            self._scale = scale

    def _now_locked(self) -> float:
        return self._origin_real + (time.monotonic() - self._origin_monotonic) / self._scale + self._advanced

    def now(self) -> float:
        """Simulated epoch seconds: what the offline cloud's schedules read."""
        with self._lock:
            return self._now_locked()

    def advance(self, simulated_seconds: float) -> None:
        """Jump simulated time forward, as if that much time had passed."""
        if simulated_seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._advanced += simulated_seconds

    def real_seconds(self, simulated_seconds: float) -> float:
        return max(0.0, simulated_seconds * self._scale)

    def sleep(self, simulated_seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep a scaled interval; returns False when ``stop`` was set first."""
        seconds = self.real_seconds(simulated_seconds)
        if stop is None:
            time.sleep(seconds)
            return True
        return not stop.wait(seconds)
