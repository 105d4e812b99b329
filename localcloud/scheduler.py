"""EventBridge Scheduler on the offline cloud: schedules fire on the runtime's simulated clock.

moto stores schedules but never fires them. The runner here (one per offline cloud,
``Runtime.scheduler``) reads every ENABLED schedule on each tick and fires those that are due in
simulated time (the cloud's ``clock.now()``), so ``rate(1 day)`` fires every 864 real seconds at a
time scale of 0.01, and ``cloud.clock.advance(86400)`` makes it fire now.
A firing delivers the target's ``Input`` with Scheduler's context attributes substituted, to a
Lambda function (asynchronously, with Lambda's async retries) or a state machine, as the target's
``RoleArn``: the role must trust ``scheduler.amazonaws.com`` and be allowed ``lambda:InvokeFunction``
or ``states:StartExecution`` on the target, and ``sqs:SendMessage`` on its dead-letter queue
(``eventbridge.Deliveries`` checks both; a refusal goes to the dead-letter queue unretried).

Supported expressions: ``rate(N unit)``, ``at(yyyy-mm-ddThh:mm:ss)`` and ``cron(min hour dom month
dow year)`` with ``*``, ``?``, lists, ranges, steps and month/day names, evaluated in UTC
(``ScheduleExpressionTimezone`` is not applied offline). ``L``, ``W`` and ``#`` are refused in the log.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from moto.utilities.arns import parse_arn

from localcloud.background import BackgroundLoop
from localcloud.clock import Clock
from localcloud.eventbridge import Deliveries

LOG = logging.getLogger("localcloud.scheduler")
TICK_REAL_SECONDS = 0.05

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}


class UnsupportedExpression(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """The values a cron field allows; None means any (``*`` or ``?``)."""
    if text in ("*", "?"):
        return None

    def value(token: str) -> int:
        upper = token.upper()
        if names and upper in names:
            return names[upper]
        if upper.isdigit():
            return int(upper)
        if "#" in upper or upper.endswith(("L", "W")):
            raise UnsupportedExpression(
                f"cron field {text!r} uses L, W or #, which the offline scheduler does not support"
            )
        raise UnsupportedExpression(f"cron field {text!r}: {token!r} is not a number or a name")

    allowed: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = value(step_text) if step_text else 1

        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            start, end = base.split("-", 1)
            first, last = value(start), value(end)
        else:
            first = value(base)
            last = high if step_text else first
        allowed.update(range(first, last + 1, step))
    return allowed


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days_of_month: set[int] | None
    months: set[int] | None
    days_of_week: set[int] | None
    years: set[int] | None

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise UnsupportedExpression(
                f"cron({body}) needs 6 fields: minutes hours day-of-month month day-of-week year"
            )
        return cls(
            _field(fields[0], 0, 59),
            _field(fields[1], 0, 23),
            _field(fields[2], 1, 31),
            _field(fields[3], 1, 12, _MONTHS),
            _field(fields[4], 1, 7, _DAYS),
            _field(fields[5], 1970, 2199),
        )

    def _day_matches(self, day: dt.date) -> bool:
        aws_weekday = (day.isoweekday() % 7) + 1  # AWS counts SUN=1 .. SAT=7
        return (
            (self.years is None or day.year in self.years)
            and (self.months is None or day.month in self.months)
            and (self.days_of_month is None or day.day in self.days_of_month)
            and (self.days_of_week is None or aws_weekday in self.days_of_week)
        )

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first matching minute strictly after ``moment`` (UTC), within five years."""
        start = (moment + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        day = start.date()
        for _ in range(366 * 5):
            if self._day_matches(day):
                for hour in sorted(self.hours if self.hours is not None else range(24)):
                    for minute in sorted(self.minutes if self.minutes is not None else range(60)):
                        candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                        if candidate >= start:
                            return candidate
            day += dt.timedelta(days=1)
        return None


def next_firing(expression: str, after: float, created: float, fired_before: bool) -> float | None:
    """Simulated epoch seconds of the next firing after ``after``; None when it will never fire again."""
    if match := _RATE.match(expression):
        interval = int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
        elapsed = max(0.0, after - created)
        return created + (int(elapsed // interval) + 1) * interval
    if match := _AT.match(expression):
        when = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC).timestamp()
        return None if fired_before else when
    if match := _CRON.match(expression):
        found = Cron.parse(match.group(1)).next_after(dt.datetime.fromtimestamp(after, dt.UTC))
        return found.timestamp() if found else None
    raise UnsupportedExpression(f"schedule expression {expression!r} is not rate(), at() or cron()")


def target_payload(schedule_arn: str, target: dict[str, Any], scheduled_time: float, attempt: int = 1) -> str:
    """The target's Input with Scheduler's context attributes filled in, as Scheduler delivers it."""
    payload = str(target.get("Input", "{}"))
    when = dt.datetime.fromtimestamp(scheduled_time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for attribute, value in {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": when,
        "<aws.scheduler.execution-id>": f"local-{uuid.uuid4()}",
        "<aws.scheduler.attempt-number>": str(attempt),
    }.items():
        payload = payload.replace(attribute, value)
    return payload


def deliver(deliveries: Deliveries, schedule_arn: str, target: dict[str, Any], payload: str) -> None:
    """Hand one firing to the target with the schedule's RetryPolicy and DeadLetterConfig, as Scheduler does."""
    service = parse_arn(target["Arn"]).service
    source = f"scheduler:{schedule_arn}"
    if service == "lambda":
        deliveries.submit(deliveries.deliver_to_lambda, target, payload, None, source)
    elif service == "states":
        deliveries.submit(deliveries.deliver_to_state_machine, target, payload, None, source)
    else:
        LOG.warning("schedule target %s is not a Lambda function or a state machine; not delivered", target["Arn"])


@dataclass
class _Tracked:
    created: float
    due: float | None
    expression: str
    fired: int = 0


class ScheduleRunner:
    """Fires due schedules of every account and region moto holds, on a background thread."""

    def __init__(self, clock: Clock, deliveries: Deliveries) -> None:
        self._clock = clock
        self._deliveries = deliveries
        self._tracked: dict[str, _Tracked] = {}
        self._loop = BackgroundLoop("scheduler")
        self.firings: list[tuple[str, float]] = []

    def start(self) -> None:
        self._loop.start(self._run)

    def stop(self) -> None:
        self._loop.stop()
        self._tracked.clear()
        self.firings.clear()

    def _run(self) -> None:
        while not self._loop.stopping.wait(TICK_REAL_SECONDS):
            try:
                self.tick()
            except Exception:  # one bad schedule must not stop the others
                LOG.exception("scheduler tick failed")

    def tick(self) -> list[str]:
        """Fire every schedule due by now; returns the ARNs fired."""
        from moto.scheduler.models import scheduler_backends

        now = self._clock.now()
        fired: list[str] = []
        for _, regions in list(scheduler_backends.items()):
            for _, backend in list(regions.items()):
                enabled = [
                    schedule
                    for group in list(backend.schedule_groups.values())
                    for schedule in list(group.schedules.values())
                    if schedule.state == "ENABLED"
                ]
                for schedule in enabled:
                    if self._fire_if_due(schedule, now):
                        fired.append(schedule.arn)
        return fired

    def _fire_if_due(self, schedule: Any, now: float) -> bool:
        tracked = self._tracked.get(schedule.arn)
        if tracked is None or tracked.expression != schedule.schedule_expression:
            try:
                due = next_firing(schedule.schedule_expression, now, now, fired_before=False)
            except UnsupportedExpression as error:
                LOG.error("schedule %s will not fire offline: %s", schedule.name, error)
                due = None
            tracked = self._tracked[schedule.arn] = _Tracked(now, due, schedule.schedule_expression)
        if tracked.due is None or now < tracked.due:
            return False
        scheduled = tracked.due
        # Scheduler fires once for a missed window, not once per window missed (no backfill).
        tracked.due = next_firing(schedule.schedule_expression, now, tracked.created, fired_before=True)
        tracked.fired += 1
        self.firings.append((schedule.arn, scheduled))
        LOG.info("schedule %s fired for %s", schedule.name, dt.datetime.fromtimestamp(scheduled, dt.UTC).isoformat())
        payload = target_payload(schedule.arn, schedule.target, scheduled)
        deliver(self._deliveries, schedule.arn, schedule.target, payload)
        return True

    def next_due(self, schedule_arn: str) -> float | None:
        tracked = self._tracked.get(schedule_arn)
        return tracked.due if tracked else None
