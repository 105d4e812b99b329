"""CloudWatch alarm evaluation on the offline cloud, and the "Alarm State Change" events it emits.

moto stores alarms and datapoints but never evaluates one against the other. The evaluator here
does, on the runtime's clock: every tick it computes each metric alarm's statistic over its last
``EvaluationPeriods`` periods (each ``Period`` long in simulated time, so ``Period * scale`` real
seconds), applies ``DatapointsToAlarm``, the comparison and ``TreatMissingData``, and on a change
of state updates the alarm and puts CloudWatch's own event on the default bus, where the
template's rules (the alarm rollback) pick it up.

One deliberate difference from CloudWatch: a state set by hand (``SetAlarmState``) holds until the
metrics change the evaluated state. CloudWatch would re-evaluate at the next period; holding lets
a test or a user force an alarm without also having to fake traffic.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from localcloud.alarm_actions import AlarmActions
from localcloud.background import BackgroundLoop
from localcloud.clock import Clock

LOG = logging.getLogger("localcloud.alarms")
TICK_SIMULATED_SECONDS = 10.0

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
_COMPARISON_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def statistic(values: list[float], name: str) -> float:
    """CloudWatch's statistic of one period's raw values: Sum, Average, ..., or a percentile ``pNN``."""
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    if name == "SampleCount":
        return float(len(values))
    if name.startswith("p"):
        rank = float(name[1:]) / 100.0
        ordered = sorted(values)
        # Nearest-rank percentile, the definition CloudWatch documents for pNN.
        # Rounded first: 0.999 * 1000 is 999.0000000000001 in floating point, which ceil makes 1000.
        index = max(0, math.ceil(round(rank * len(ordered), 9)) - 1)
        return ordered[index]
    raise ValueError(f"statistic {name} is not supported offline")


def _utc(timestamp: dt.datetime) -> dt.datetime:
    return timestamp.replace(tzinfo=dt.UTC) if timestamp.tzinfo is None else timestamp


def _matches(alarm: Any, datum: Any) -> bool:
    if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
        return False
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    return wanted == {(d.name, d.value) for d in datum.dimensions}


def period_values(alarm: Any, data: Iterable[Any], now: dt.datetime, period_seconds: float) -> list[list[float]]:
    """Raw values of each of the alarm's evaluation periods, newest first."""
    periods: list[list[float]] = [[] for _ in range(int(alarm.evaluation_periods))]
    for datum in data:
        if not _matches(alarm, datum) or not hasattr(datum, "value"):
            continue
        age = (now - _utc(datum.timestamp)).total_seconds()
        if age < 0:
            age = 0.0
        index = int(age // period_seconds)
        if index < len(periods):
            periods[index].append(float(datum.value))
    return periods


def evaluate(alarm: Any, periods: list[list[float]]) -> tuple[str, str, list[float]]:
    """The alarm's state from its periods' values: (state, reason, the statistics that decided it)."""
    stat = alarm.extended_statistic or alarm.statistic
    compare = _COMPARISONS[alarm.comparison_operator]
    required = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
    treat = alarm.treat_missing_data or "missing"
    stats = [statistic(values, stat) for values in periods if values]
    missing = len(periods) - len(stats)
    if not stats:
        if treat == "breaching":
            return "ALARM", "no datapoints; missing data is treated as breaching", stats
        if treat == "notBreaching":
            return "OK", "no datapoints; missing data is treated as not breaching", stats
        if treat == "ignore":
            return alarm.state_value, "no datapoints; missing data is ignored", stats
        return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints were received", stats
    breaching = sum(compare(value, alarm.threshold) for value in stats)
    if treat == "breaching":
        breaching += missing
    state = "ALARM" if breaching >= required else "OK"
    shown = ", ".join(f"{value:g}" for value in stats)
    word = _COMPARISON_WORDS[alarm.comparison_operator]
    reason = (
        f"Threshold Crossed: {breaching} out of the last {len(periods)} datapoints [{shown}] "
        f"{'were' if state == 'ALARM' else 'were not'} {word} the threshold ({alarm.threshold:g}) "
        f"(minimum {required} datapoint(s) for OK -> ALARM transition)."
    )
    return state, reason, stats


def event_timestamp(when: dt.datetime) -> str:
    """CloudWatch's timestamp format in alarm events: 2019-10-02T17:04:40.985+0000."""
    when = _utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def state_change_event(
    alarm_name: str,
    region: str,
    account_id: str,
    state: str,
    previous: str,
    reason: str,
    when: dt.datetime,
    alarm: Any | None = None,
) -> dict[str, Any]:
    """A PutEvents entry shaped like CloudWatch's "Alarm State Change" (events/cloudwatch_alarm_state_change.json)."""
    timestamp = event_timestamp(when)
    configuration: dict[str, Any] = {"metrics": []}
    if alarm is not None:
        configuration = {
            "description": alarm.description or "",
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": alarm.namespace,
                            "name": alarm.metric_name,
                            "dimensions": {d.name: d.value for d in alarm.dimensions},
                        },
                        "period": int(alarm.period),
                        "stat": alarm.extended_statistic or alarm.statistic,
                    },
                    "returnData": True,
                }
            ],
        }
    detail = {
        "alarmName": alarm_name,
        "state": {"value": state, "reason": reason, "timestamp": timestamp},
        "previousState": {"value": previous, "reason": "", "timestamp": timestamp},
        "configuration": configuration,
    }
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Resources": [f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name}"],
        "Detail": json.dumps(detail),
        "EventBusName": "default",
    }


def publish(account_id: str, region: str, entry: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    events_backends[account_id][region].put_events([entry])


class AlarmEvaluator:
    """Evaluates every metric alarm of every account and region moto holds, on a background thread.

    One per offline cloud (``Runtime.alarms``), reading periods on that cloud's clock.
    """

    def __init__(self, clock: Clock, actions: AlarmActions | None = None) -> None:
        self._clock = clock
        self.actions = actions or AlarmActions()
        self._evaluated: dict[str, str] = {}
        self._loop = BackgroundLoop("alarm-evaluator")
        self._lock = threading.Lock()
        self.transitions: list[tuple[str, str, str]] = []

    def start(self) -> None:
        self._loop.start(self._run)

    def stop(self) -> None:
        self._loop.stop()
        with self._lock:
            self._evaluated.clear()
            self.transitions.clear()

    def _run(self) -> None:
        while self._clock.sleep(TICK_SIMULATED_SECONDS, self._loop.stopping):
            try:
                self.evaluate_all()
            except Exception:  # a bad alarm must not stop the others from being evaluated
                LOG.exception("alarm evaluation failed")

    def evaluate_all(self, now: dt.datetime | None = None) -> list[tuple[str, str, str]]:
        """Evaluate every alarm once; returns the transitions made, as (alarm, old, new)."""
        from moto.cloudwatch.models import cloudwatch_backends

        moment = now or dt.datetime.now(dt.UTC)
        made: list[tuple[str, str, str]] = []
        for account_id, regions in list(cloudwatch_backends.items()):
            for region, backend in list(regions.items()):
                data = backend.get_all_metrics()
                for alarm in list(backend.alarms.values()):
                    if not alarm.metric_name or alarm.metric_data_queries:
                        continue  # composite and metric-math alarms are not evaluated offline
                    change = self._evaluate_one(account_id, region, alarm, data, moment)
                    if change is not None:
                        made.append(change)
        return made

    def _evaluate_one(
        self, account_id: str, region: str, alarm: Any, data: list[Any], now: dt.datetime
    ) -> tuple[str, str, str] | None:
        period_seconds = max(float(alarm.period) * self._clock.scale, 1e-3)
        state, reason, stats = evaluate(alarm, period_values(alarm, data, now, period_seconds))
        with self._lock:
            previous_evaluation = self._evaluated.get(alarm.alarm_arn)
            if previous_evaluation is None:
                # First sight only acts on breaching data, so a state set by hand before it survives.
                previous_evaluation = alarm.state_value if state == "ALARM" else state
            self._evaluated[alarm.alarm_arn] = state
        if state in (previous_evaluation, alarm.state_value):
            return None
        old = alarm.state_value
        alarm.update_state(reason, json.dumps({"recentDatapoints": stats, "threshold": alarm.threshold}), state)
        publish(account_id, region, state_change_event(alarm.name, region, account_id, state, old, reason, now, alarm))
        self.actions.run(alarm, account_id, region, old, now)
        LOG.info("alarm %s: %s -> %s (%s)", alarm.name, old, state, reason)
        with self._lock:
            self.transitions.append((alarm.name, old, state))
        return alarm.name, old, state
