"""prefetch.ordered_map: calls on a few threads, consumed in order, never far ahead, in the caller's context."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from conveyor_core.shared import prefetch

WINDOW = 8


def test_ordered_map_keeps_the_order_of_its_items_whatever_order_calls_finish_in() -> None:
    def slow_for_small(value: int) -> int:
        time.sleep(0.002 * (10 - value % 10))
        return value * value

    results = [future.result() for future in prefetch.ordered_map(slow_for_small, range(40), WINDOW)]

    assert results == [value * value for value in range(40)]


def test_ordered_map_never_runs_more_than_its_window_ahead() -> None:
    running = 0
    most = 0
    guard = threading.Lock()

    def tracked(value: int) -> int:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.005)
        with guard:
            running -= 1
        return value

    consumed = 0
    for future in prefetch.ordered_map(tracked, range(50), WINDOW):
        future.result()
        consumed += 1

    assert consumed == 50
    assert 1 < most <= WINDOW


def test_ordered_map_stops_submitting_when_the_consumer_stops() -> None:
    calls: list[int] = []
    guard = threading.Lock()

    def recorded(value: int) -> int:
        with guard:
            calls.append(value)
        return value

    futures = prefetch.ordered_map(recorded, range(1000), WINDOW)
    assert next(futures).result() == 0
    futures.close()  # what a raise in the consumer's loop does

    assert len(calls) <= WINDOW + 1


def test_ordered_map_raises_a_call_s_error_at_that_item() -> None:
    def fails_at_three(value: int) -> int:
        if value == 3:
            raise ValueError("three")
        return value

    seen: list[int] = []

    def consume() -> None:
        for future in prefetch.ordered_map(fails_at_three, range(10), WINDOW):
            seen.append(future.result())

    with pytest.raises(ValueError, match="three"):
        consume()

    assert seen == [0, 1, 2]


def test_calls_run_in_the_consumer_s_context() -> None:
    """The offline runtime keeps each invocation's environment in a context variable: threads must see it."""
    invocation: contextvars.ContextVar[str] = contextvars.ContextVar("invocation", default="none")
    invocation.set("ingest-42")

    seen = [future.result() for future in prefetch.ordered_map(lambda _item: invocation.get(), range(20), 4)]

    assert seen == ["ingest-42"] * 20
