"""Metric widgets' lines as datapoints: each line's statistic per period over the dashboard's range.

The time axis is the offline cloud's simulated clock (``localcloud.clock``), the one its alarms
evaluate on: a datapoint's simulated age is its real age divided by the time scale, so a widget's
``"period": 60`` is the same 60 simulated seconds (0.6 s of wall time at scale 0.01) as an alarm's
``Period: 60``, and ``-PT6H`` is the last six simulated hours. Periods are aligned to multiples of
the period on that clock, as CloudWatch aligns them to the minute; every period with data is one
datapoint, stamped with the period's start, and a period without data has none ("no data" rather
than a zero, as in CloudWatch).

The raw values come from the offline cloud's CloudWatch (``MotoMetrics``: the moto backend that
``PutMetricData`` and the runtime's own metrics fill). The statistic of a period is computed here,
with ``localcloud.alarms.statistic`` (so a p99 line and a p99 alarm agree): moto 5.2.5's
``GetMetricData`` has no percentiles (``p99`` fails with ``float() argument ... 'NoneType'``) and
ignores ``GetMetricStatistics``' ``ExtendedStatistics``, and both APIs take whole-second periods,
while a 60 s period at scale 0.01 is 0.6 real seconds.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from localcloud.alarms import statistic
from localcloud.dashboard.body import MetricLine, MetricWidget, valid_statistic

# The console's default palette, line by line.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# CloudWatch returns at most 1,440 datapoints per line to a graph; a longer range gets a longer period.
MAX_POINTS_PER_LINE = 1440

MetricKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class Window:
    """A range on the simulated clock, and how a datapoint's real timestamp maps onto it."""

    start: float
    end: float
    now: float  # simulated epoch seconds now (``Clock.now()``)
    now_real: float  # real epoch seconds at the same moment
    scale: float

    def simulated(self, real_timestamp: float) -> float:
        """Where a datapoint recorded at ``real_timestamp`` (real epoch seconds) lies on the simulated clock."""
        return self.now - (self.now_real - real_timestamp) / self.scale

    def real(self, simulated_timestamp: float) -> float:
        return self.now_real - (self.now - simulated_timestamp) * self.scale


@dataclass
class Sample:
    """One datum of the offline CloudWatch: a raw value, or ``StatisticValues`` (an aggregate)."""

    timestamp: float  # real epoch seconds
    value: float | None = None
    sum: float = 0.0
    count: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    unit: str | None = None


class MetricSource(Protocol):
    """Where the raw datapoints come from: every metric of one region, by metric identity."""

    def samples(self, region: str, since_real: float) -> Mapping[MetricKey, Sequence[Sample]]: ...


class MotoMetrics:
    """The offline cloud's CloudWatch datapoints (moto's backend of one account), read in-process.

    The alarm evaluator reads the same list (``localcloud.alarms``); so does this.
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id

    def samples(self, region: str, since_real: float) -> Mapping[MetricKey, Sequence[Sample]]:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[self.account_id][region]
        found: dict[MetricKey, list[Sample]] = {}
        for datum in backend.get_all_metrics():
            timestamp = _epoch(datum.timestamp)
            if timestamp < since_real:
                continue
            key = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            found.setdefault(key, []).append(_sample(datum, timestamp))
        return found


def _epoch(timestamp: dt.datetime) -> float:
    return (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=dt.UTC)).timestamp()


def _sample(datum: Any, timestamp: float) -> Sample:
    unit = datum.unit if datum.unit not in (None, "None") else None
    if hasattr(datum, "value"):
        return Sample(timestamp, value=float(datum.value), unit=unit)
    return Sample(
        timestamp,
        sum=float(datum.sum),
        count=float(datum.sample_count),
        minimum=float(datum.min),
        maximum=float(datum.max),
        unit=unit,
    )


@dataclass
class _Period:
    values: list[float] = field(default_factory=list)
    aggregates: list[Sample] = field(default_factory=list)

    def statistic(self, name: str) -> float | None:
        """The period's statistic; None when it cannot be told (a percentile of aggregates only)."""
        if not self.aggregates:
            return statistic(self.values, name)
        total = math.fsum(self.values) + math.fsum(a.sum for a in self.aggregates)
        count = len(self.values) + sum(a.count for a in self.aggregates)
        if name == "Sum":
            return total
        if name == "SampleCount":
            return count
        if name == "Average":
            return total / count if count else None
        if name == "Minimum":
            return min([*self.values, *(a.minimum for a in self.aggregates)])
        if name == "Maximum":
            return max([*self.values, *(a.maximum for a in self.aggregates)])
        # A percentile of StatisticValues is unknowable; CloudWatch needs raw values or distributions too.
        return statistic(self.values, name) if self.values else None


def effective_period(period: int, window: Window) -> int:
    """The line's period, lengthened (to a multiple of 60) if the range would need more than 1,440 points."""
    span = window.end - window.start
    if span / period <= MAX_POINTS_PER_LINE:
        return period
    needed = span / MAX_POINTS_PER_LINE
    return int(math.ceil(needed / 60.0) * 60)


def line_points(line: MetricLine, samples: Iterable[Sample], window: Window) -> tuple[int, list[tuple[float, float]]]:
    """(period used, [(period start on the simulated clock, statistic)...]), oldest first, periods with data only."""
    period = effective_period(line.period, window)
    first = math.ceil(window.start / period) * period  # a period that starts before the range is left out
    periods: dict[float, _Period] = {}
    for sample in samples:
        at = window.simulated(sample.timestamp)
        if at < first or at > window.end:
            continue
        bucket = periods.setdefault(math.floor(at / period) * period, _Period())
        if sample.value is not None:
            bucket.values.append(sample.value)
        else:
            bucket.aggregates.append(sample)
    points: list[tuple[float, float]] = []
    for start in sorted(periods):
        value = periods[start].statistic(line.stat)
        if value is not None:
            points.append((start, value))
    return period, points


def default_labels(lines: Sequence[MetricLine]) -> list[str]:
    """The legend's names: the metric name and the dimension values that tell the widget's lines apart."""
    labels = []
    for line in lines:
        if line.label:
            labels.append(line.label)
            continue
        if line.expression is not None:
            labels.append(line.expression)
            continue
        others = [other for other in lines if other is not line and other.expression is None]
        distinct = [
            value
            for name, value in line.dimensions
            if any(dict(other.dimensions).get(name) != value for other in others)
        ]
        labels.append(" ".join([line.name, *distinct]))
    return labels


def widget_series(
    widget: MetricWidget, by_metric: Mapping[MetricKey, Sequence[Sample]], window: Window
) -> dict[str, Any]:
    """The JSON of one metric widget: every line with its datapoints (or why it has none).

    ``by_metric``: the raw samples of the widget's region since ``lookback_real(widget, window)``.
    """
    series = []
    for number, (line, label) in enumerate(zip(widget.lines, default_labels(widget.lines), strict=True)):
        entry: dict[str, Any] = {
            "label": label,
            "color": line.color or PALETTE[number % len(PALETTE)],
            "stat": line.stat,
            "period": line.period,
            "visible": line.visible,
            "yAxis": line.y_axis,
            "metric": {
                "namespace": line.namespace,
                "name": line.name,
                "dimensions": dict(line.dimensions),
            },
            "unit": None,
            "points": [],
            "error": None,
        }
        if line.expression is not None:
            entry["metric"] = {"expression": line.expression}
            entry["error"] = "metric math is not evaluated offline"
        elif not valid_statistic(line.stat):
            entry["error"] = f"statistic {line.stat} is not computed offline"
        else:
            samples = by_metric.get(line.key, ())
            period, points = line_points(line, samples, window)
            entry["period"] = period
            entry["points"] = [[round(at, 3), value] for at, value in points]
            entry["unit"] = next((s.unit for s in samples if s.unit), None)
        series.append(entry)
    return {
        "view": widget.view,
        "stacked": widget.stacked,
        "stat": widget.stat,
        "period": widget.period,
        "yAxis": {"label": widget.y_label, "min": widget.y_min, "max": widget.y_max},
        "annotations": [{"value": a.value, "label": a.label, "color": a.color} for a in widget.annotations],
        "series": series,
        "hasData": any(entry["points"] for entry in series if entry["visible"]),
    }


def lookback_real(widget: MetricWidget, window: Window) -> float:
    """The oldest real timestamp a widget's lines can use: the range's start, less the longest period."""
    longest = max((line.period for line in widget.lines), default=0)
    return window.real(window.start) - longest * window.scale
