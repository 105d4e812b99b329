"""A CloudWatch dashboard body, parsed: its time range and its widgets, as the console reads them.

The body is CloudWatch's own JSON (``GetDashboard``'s ``DashboardBody``; the syntax is AWS's
"Dashboard body structure and syntax"). Only what the offline page draws is typed here:

- ``metric`` widgets: ``title``, ``region``, ``view`` (``timeSeries``, ``singleValue``, ``bar``,
  ``pie``, ``gauge``), ``stacked``, ``stat``, ``period``, ``yAxis``, ``annotations.horizontal`` and
  ``metrics``. Each line is ``[Namespace, MetricName, DimName, DimValue, ..., {options}]`` with
  CloudWatch's shorthands: ``"."`` repeats the value at the same place in the line above, ``"..."``
  repeats as much of the line above as the rest of the line leaves room for. A line's options can set
  ``label``, ``color``, ``stat``, ``period``, ``visible`` and ``yAxis``; a metric math line
  (``{"expression": ...}``) is kept but not evaluated offline.
- ``alarm`` widgets: ``title`` and ``alarms`` (alarm ARNs), with the optional ``states`` filter.
- ``text`` widgets: ``markdown``, shown as plain text.

Any other widget type (``log``, ``explorer``, ...) is kept with its title and shown as not
available offline, so the page still has every panel of the body.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PERIOD = 300
DEFAULT_STAT = "Average"
DEFAULT_START = "-PT3H"  # the console's default when a body sets no start
_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNIT_SECONDS = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
_STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


class BodyError(ValueError):
    """The dashboard body is not one the page can read."""


def duration_seconds(text: str) -> float:
    """An ISO 8601 duration (``-PT6H``, ``P1D``, ``PT15M``) in seconds; negative when it starts with ``-``."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.group(unit) for unit in _UNIT_SECONDS):
        raise BodyError(f"not an ISO 8601 duration: {text!r}")
    seconds = sum(float(match.group(unit) or 0) * size for unit, size in _UNIT_SECONDS.items())
    return -seconds if match.group("sign") == "-" else seconds


def valid_statistic(name: str) -> bool:
    """CloudWatch's statistics that the offline page computes: the five plain ones and ``pNN``."""
    return name in _STATISTICS or _PERCENTILE.match(name) is not None


@dataclass(frozen=True)
class TimeRange:
    """The body's range: ``start`` relative (a negative duration from now) or absolute, ``end`` likewise."""

    start: str = DEFAULT_START
    end: str | None = None

    def resolve(self, now: float) -> tuple[float, float]:
        """(start, end) in epoch seconds of the clock whose present is ``now``."""
        end = _moment(self.end, now) if self.end else now
        start = _moment(self.start, now)
        if start >= end:
            raise BodyError(f"the dashboard's start ({self.start}) is not before its end ({self.end or 'now'})")
        return start, end


def _moment(text: str, now: float) -> float:
    if text.lstrip("+-").startswith("P"):
        return now + duration_seconds(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BodyError(f"not a time or a duration: {text!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


@dataclass(frozen=True)
class MetricLine:
    """One line of a metric widget: a metric (namespace, name, dimensions) and how to draw it."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int
    label: str | None = None
    color: str | None = None
    visible: bool = True
    y_axis: str = "left"
    expression: str | None = None

    @property
    def key(self) -> tuple[str, str, frozenset[tuple[str, str]]]:
        """The metric's identity in CloudWatch: its full dimension set, in any order."""
        return self.namespace, self.name, frozenset(self.dimensions)


@dataclass(frozen=True)
class Annotation:
    value: float
    label: str = ""
    color: str | None = None


@dataclass(frozen=True)
class Widget:
    """What every widget has: its place in the 24-column grid, its type and title."""

    index: int
    type: str
    title: str
    x: int | None
    y: int | None
    width: int
    height: int


@dataclass(frozen=True)
class MetricWidget(Widget):
    region: str | None = None
    view: str = "timeSeries"
    stacked: bool = False
    stat: str = DEFAULT_STAT
    period: int = DEFAULT_PERIOD
    lines: tuple[MetricLine, ...] = ()
    y_label: str | None = None
    y_min: float | None = None
    y_max: float | None = None
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class AlarmWidget(Widget):
    alarms: tuple[str, ...] = ()
    states: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextWidget(Widget):
    markdown: str = ""


@dataclass(frozen=True)
class DashboardBody:
    time_range: TimeRange
    widgets: tuple[Widget, ...] = field(default_factory=tuple)


def parse_body(text: str | dict[str, Any]) -> DashboardBody:
    """The body from ``GetDashboard``'s ``DashboardBody`` (a JSON string) or that JSON already loaded."""
    try:
        body = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as error:
        raise BodyError(f"the dashboard body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise BodyError("the dashboard body is not a JSON object")
    widgets = body.get("widgets", [])
    if not isinstance(widgets, list):
        raise BodyError("the dashboard body's widgets is not a list")
    time_range = TimeRange(str(body.get("start") or DEFAULT_START), str(body["end"]) if body.get("end") else None)
    return DashboardBody(time_range, tuple(_widget(index, raw) for index, raw in enumerate(widgets)))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _widget(index: int, raw: Any) -> Widget:
    if not isinstance(raw, dict):
        raise BodyError(f"widget {index} is not a JSON object")
    props = raw.get("properties") or {}
    kind = str(raw.get("type", "metric"))
    base: dict[str, Any] = {
        "index": index,
        "type": kind,
        "title": str(props.get("title") or ""),
        "x": _int_or_none(raw.get("x")),
        "y": _int_or_none(raw.get("y")),
        "width": int(raw.get("width") or 6),
        "height": int(raw.get("height") or 6),
    }
    if kind == "metric":
        return _metric_widget(base, props)
    if kind == "alarm":
        return AlarmWidget(
            **base,
            alarms=tuple(str(arn) for arn in props.get("alarms", [])),
            states=tuple(str(state) for state in props.get("states", [])),
        )
    if kind == "text":
        return TextWidget(**base, markdown=str(props.get("markdown", "")))
    return Widget(**base)


def _metric_widget(base: dict[str, Any], props: dict[str, Any]) -> MetricWidget:
    stat = str(props.get("stat") or DEFAULT_STAT)
    period = int(props.get("period") or DEFAULT_PERIOD)
    left = ((props.get("yAxis") or {}).get("left")) or {}
    annotations = tuple(
        Annotation(float(item["value"]), str(item.get("label", "")), item.get("color"))
        for item in (props.get("annotations") or {}).get("horizontal", [])
        if isinstance(item, dict) and isinstance(item.get("value"), int | float)
    )
    return MetricWidget(
        **base,
        region=props.get("region"),
        view=str(props.get("view") or "timeSeries"),
        stacked=bool(props.get("stacked", False)),
        stat=stat,
        period=period,
        lines=tuple(parse_metric_lines(props.get("metrics", []), stat, period)),
        y_label=left.get("label"),
        y_min=left.get("min"),
        y_max=left.get("max"),
        annotations=annotations,
    )


def parse_metric_lines(rows: Any, stat: str, period: int) -> list[MetricLine]:
    """A widget's ``metrics`` array as lines, with the ``.``/``...`` shorthands expanded."""
    if not isinstance(rows, list):
        raise BodyError("a metric widget's metrics is not a list")
    lines: list[MetricLine] = []
    previous: list[str] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, list):
            raise BodyError(f"metric line {number} is not a list")
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        values = [str(item) for item in (row[:-1] if options else row)]
        if not values and "expression" in options:
            lines.append(
                MetricLine(
                    "",
                    "",
                    (),
                    str(options.get("stat", stat)),
                    int(options.get("period", period)),
                    label=options.get("label") or options.get("id"),
                    color=options.get("color"),
                    visible=bool(options.get("visible", True)),
                    expression=str(options["expression"]),
                )
            )
            continue
        values = _expand(values, previous, number)
        previous = values
        if len(values) < 2 or len(values) % 2:
            raise BodyError(f"metric line {number} is not [namespace, name, (dimension, value)...]: {row}")
        dimensions = tuple((values[i], values[i + 1]) for i in range(2, len(values), 2))
        lines.append(
            MetricLine(
                values[0],
                values[1],
                dimensions,
                str(options.get("stat", stat)),
                int(options.get("period", period)),
                label=options.get("label"),
                color=options.get("color"),
                visible=bool(options.get("visible", True)),
                y_axis=str(options.get("yAxis", "left")),
            )
        )
    return lines


def _expand(values: list[str], previous: list[str], number: int) -> list[str]:
    if "..." in values:
        at = values.index("...")
        rest = values[at + 1 :]
        if not previous:
            raise BodyError(f"metric line {number} uses '...' with no line above it")
        values = values[:at] + previous[at : max(at, len(previous) - len(rest))] + rest
    for position, value in enumerate(values):
        if value == "." and position >= len(previous):
            raise BodyError(f"metric line {number} uses '.' where the line above has nothing")
    return [previous[position] if value == "." else value for position, value in enumerate(values)]
