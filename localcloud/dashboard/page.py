"""The dashboard page's data: the deployed dashboard's widgets, each with its datapoints or alarm states.

The widgets are read from the offline cloud's CloudWatch every time (``GetDashboard``), never from
a copy: the page shows what the template deployed. Alarm widgets ask ``DescribeAlarms``; metric
widgets get their lines from ``series`` (raw datapoints of the same CloudWatch, on the simulated
clock).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from localcloud.dashboard.body import (
    AlarmWidget,
    BodyError,
    DashboardBody,
    MetricWidget,
    TextWidget,
    TimeRange,
    Widget,
    duration_seconds,
    parse_body,
)
from localcloud.dashboard.series import MetricKey, MetricSource, Sample, Window, lookback_real, widget_series

# Longer than CloudWatch keeps any datapoint (455 days): a range the page refuses.
MAX_RANGE_SECONDS = 455 * 86_400
ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")


class SimulatedClock(Protocol):
    """What the page needs of ``localcloud.clock.Clock``."""

    @property
    def scale(self) -> float: ...

    def now(self) -> float: ...


class DashboardNotFound(LookupError):
    pass


def alarm_name(arn_or_name: str) -> str:
    """``arn:aws:cloudwatch:us-east-1:123456789012:alarm:Name`` -> ``Name`` (a bare name stays as it is)."""
    _, marker, name = arn_or_name.partition(":alarm:")
    return name if marker else arn_or_name


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class DashboardPage:
    """Builds the page's JSON from one dashboard of the offline cloud."""

    def __init__(
        self,
        cloudwatch: Any,
        clock: SimulatedClock,
        metrics: MetricSource,
        region: str,
        dashboard_name: str | None = None,
    ) -> None:
        self._cloudwatch = cloudwatch
        self._clock = clock
        self._metrics = metrics
        self.region = region
        self._name = dashboard_name

    @property
    def name(self) -> str:
        if self._name is None:
            found = self._cloudwatch.list_dashboards().get("DashboardEntries", [])
            if not found:
                raise DashboardNotFound("the offline cloud has no dashboard")
            self._name = str(found[0]["DashboardName"])
        return self._name

    def body(self) -> DashboardBody:
        try:
            response = self._cloudwatch.get_dashboard(DashboardName=self.name)
        except (self._cloudwatch.exceptions.ResourceNotFound, self._cloudwatch.exceptions.DashboardNotFoundError):
            raise DashboardNotFound(f"no dashboard {self.name} in the offline cloud") from None
        return parse_body(response["DashboardBody"])

    def window(self, time_range: TimeRange) -> Window:
        now, now_real = self._clock.now(), time.time()
        start, end = time_range.resolve(now)
        return Window(start, end, now, now_real, self._clock.scale)

    def build(self, range_override: str | None = None) -> dict[str, Any]:
        """The whole page: the clock, the range and every widget of the body, in the body's order."""
        body = self.body()
        time_range = _override(body.time_range, range_override)
        window = self.window(time_range)
        samples = self._samples(body.widgets, window)
        widgets = [self._widget(widget, window, samples) for widget in body.widgets]
        return {
            "dashboard": self.name,
            "region": self.region,
            "clock": {
                "name": "simulated",
                "scale": self._clock.scale,
                "now": window.now,
                "nowIso": _iso(window.now),
                "nowReal": window.now_real,
                "nowRealIso": _iso(window.now_real),
            },
            "range": {
                "start": window.start,
                "end": window.end,
                "from": time_range.start,
                "to": time_range.end or "now",
                "bodyStart": body.time_range.start,
                "realSeconds": (window.end - window.start) * window.scale,
            },
            "widgets": widgets,
        }

    def widget(self, index: int, range_override: str | None = None) -> dict[str, Any]:
        """One widget's JSON (``IndexError`` when the body has no such widget)."""
        body = self.body()
        target = body.widgets[index]
        window = self.window(_override(body.time_range, range_override))
        return self._widget(target, window, self._samples([target], window))

    def _samples(self, widgets: Sequence[Widget], window: Window) -> dict[str, Mapping[MetricKey, Sequence[Sample]]]:
        """Every metric widget's region read once, from the oldest moment any of its widgets needs."""
        since: dict[str, float] = {}
        for widget in widgets:
            if isinstance(widget, MetricWidget):
                region = widget.region or self.region
                since[region] = min(since.get(region, window.now_real), lookback_real(widget, window))
        return {region: self._metrics.samples(region, oldest) for region, oldest in since.items()}

    def _widget(
        self, widget: Widget, window: Window, samples: Mapping[str, Mapping[MetricKey, Sequence[Sample]]]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "index": widget.index,
            "type": widget.type,
            "title": widget.title,
            "x": widget.x,
            "y": widget.y,
            "width": widget.width,
            "height": widget.height,
            "error": None,
        }
        try:
            if isinstance(widget, MetricWidget):
                entry.update(widget_series(widget, samples[widget.region or self.region], window))
            elif isinstance(widget, AlarmWidget):
                entry["alarms"] = self._alarms(widget)
            elif isinstance(widget, TextWidget):
                entry["markdown"] = widget.markdown
            else:
                entry["error"] = f"{widget.type} widgets are not shown offline"
        except Exception as error:  # one widget that cannot be drawn must not blank the page
            entry["error"] = f"{type(error).__name__}: {error}"
        return entry

    def _alarms(self, widget: AlarmWidget) -> list[dict[str, Any]]:
        names = [alarm_name(arn) for arn in widget.alarms]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
            response = self._cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])
            for alarm in [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = alarm
        shown = []
        for arn, name in zip(widget.alarms, names, strict=True):
            alarm = found.get(name)
            if widget.states and (alarm is None or alarm["StateValue"] not in widget.states):
                continue
            updated = alarm.get("StateUpdatedTimestamp") if alarm else None
            shown.append(
                {
                    "name": name,
                    "arn": arn,
                    "found": alarm is not None,
                    "state": alarm["StateValue"] if alarm else None,
                    "reason": alarm.get("StateReason", "") if alarm else "no such alarm in the offline cloud",
                    "updated": updated.isoformat() if isinstance(updated, dt.datetime) else None,
                    "metric": _alarm_metric(alarm) if alarm else None,
                }
            )
        return shown


def _alarm_metric(alarm: Mapping[str, Any]) -> str | None:
    if "MetricName" not in alarm:
        return None
    stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic") or ""
    words = {
        "GreaterThanOrEqualToThreshold": ">=",
        "GreaterThanThreshold": ">",
        "LessThanThreshold": "<",
        "LessThanOrEqualToThreshold": "<=",
    }
    comparison = words.get(str(alarm.get("ComparisonOperator")), str(alarm.get("ComparisonOperator", "")))
    return (
        f"{alarm['MetricName']} {stat} {comparison} {alarm.get('Threshold', 0):g} "
        f"for {alarm.get('DatapointsToAlarm') or alarm.get('EvaluationPeriods', 1)} of "
        f"{alarm.get('EvaluationPeriods', 1)} x {alarm.get('Period', 0)} s"
    )


def _override(time_range: TimeRange, range_override: str | None) -> TimeRange:
    """``PT1H`` (the page's range picker): the last hour instead of the body's own range."""
    if not range_override:
        return time_range
    seconds = duration_seconds(range_override)
    if seconds <= 0 or seconds > MAX_RANGE_SECONDS:
        raise BodyError(f"a range is a positive duration of at most 455 days, not {range_override!r}")
    return TimeRange(f"-{range_override.lstrip('+-')}")
