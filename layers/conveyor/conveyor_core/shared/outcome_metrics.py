"""One ``RunOutcome`` metric per notification, the dashboard's "Run outcomes" panel.

Counted where an outcome becomes a notification: ``notifications.publish`` for the functions that
publish themselves (ingest, schedule, dead letters, run watcher) and ``FormatNotification`` for the
state machines, which publish what it formats. Each is its own EMF document (``single_metric``), so
the ``Outcome`` dimension never lands on the other metrics a handler flushes.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit, single_metric

OUTCOME_METRIC = "RunOutcome"
DURATION_METRIC = "RunSeconds"


def _dimensions(outcome: str) -> dict[str, str]:
    # Powertools adds "service" to the metrics of a Metrics instance, not to a single metric.
    return {"service": os.environ.get("POWERTOOLS_SERVICE_NAME", "conveyor"), "Outcome": outcome}


def _namespace() -> str:
    # template.yaml's Globals set it for every function; a caller outside Lambda (a test) gets the same.
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Conveyor")


def count_outcome(outcome: str, duration_seconds: float | None = None) -> None:
    """Emit one outcome (and how long the run took, when known) as CloudWatch metrics."""
    emitted = [(OUTCOME_METRIC, MetricUnit.Count, 1.0)]
    if duration_seconds is not None:
        emitted.append((DURATION_METRIC, MetricUnit.Seconds, duration_seconds))
    for name, unit, value in emitted:
        with single_metric(
            name=name, unit=unit, value=value, namespace=_namespace(), default_dimensions=_dimensions(outcome)
        ):
            pass
