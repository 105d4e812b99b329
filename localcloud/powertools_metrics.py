"""Powertools' metric set, safe for the in-process Lambda runtime's concurrent invocations.

On AWS every concurrent invocation has its own process. In-process, the offline cloud runs them as
threads of one process, and Powertools keeps a function's metrics in class-level dictionaries
shared by every ``Metrics`` instance: one invocation's flush (check non-empty, serialize, clear)
could interleave with another's and raise "Must contain at least one metric", failing a handler
that would succeed on AWS. One lock around the provider's methods that read or change the set makes
each of them atomic. The in-process runtime also gives each invocation its own metric dictionaries
(``lambdas._isolate_metric_sets``); this lock is the second guard, for code that reaches the
provider outside an invocation.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_LOCK = threading.RLock()
_METHODS = (
    "add_metric",
    "add_dimension",
    "add_dimensions",
    "add_metadata",
    "serialize_metric_set",
    "clear_metrics",
    "flush_metrics",
)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    call.__conveyor_locked__ = True  # type: ignore[attr-defined]
    return call


def serialize_metric_set_access() -> None:
    """Make Powertools' EMF provider's set operations atomic, once per process."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    for name in _METHODS:
        method = getattr(AmazonCloudWatchEMFProvider, name, None)
        if method is not None and not getattr(method, "__conveyor_locked__", False):
            setattr(AmazonCloudWatchEMFProvider, name, _locked(method))
