"""EventBridge Scheduler on the offline cloud: expression parsing, next firings and schedules firing on the clock.

The pure tests check ``cron``/``rate``/``at`` against AWS's documented examples; the integration tests
deploy the template and advance the simulated clock so that the retrain schedule fires its real target.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.scheduler import (
    TICK_REAL_SECONDS,
    Cron,
    ScheduleRunner,
    UnsupportedExpression,
    next_firing,
    target_payload,
)
from tests.localcloud import support

TIME_SCALE = 0.01
DAY = 86400


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def epoch(text: str) -> float:
    return utc(text).timestamp()


# --- cron ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "after", "expected"),
    [
        # AWS's examples: 10:00 UTC every day
        ("0 10 * * ? *", "2026-03-10T09:59:30", "2026-03-10T10:00:00"),
        ("0 10 * * ? *", "2026-03-10T10:00:00", "2026-03-11T10:00:00"),  # strictly after
        # 12:15 UTC every day
        ("15 12 * * ? *", "2026-03-10T12:15:01", "2026-03-11T12:15:00"),
        ("15 12 * * ? *", "2026-12-31T23:00:00", "2027-01-01T12:15:00"),
        # 18:00 Monday to Friday: Friday evening's next firing is Monday's
        ("0 18 ? * MON-FRI *", "2026-03-13T18:00:00", "2026-03-16T18:00:00"),  # Fri -> Mon
        ("0 18 ? * MON-FRI *", "2026-03-10T07:00:00", "2026-03-10T18:00:00"),  # a Tuesday
        # every 15 minutes
        ("0/15 * * * ? *", "2026-03-10T10:07:00", "2026-03-10T10:15:00"),
        ("0/15 * * * ? *", "2026-03-10T23:45:00", "2026-03-11T00:00:00"),
        # 08:00 on the first day of every month
        ("0 8 1 * ? *", "2026-01-15T00:00:00", "2026-02-01T08:00:00"),
        ("0 8 1 * ? *", "2026-12-01T08:00:00", "2027-01-01T08:00:00"),
        # 08:00 on weekdays given as numbers (AWS counts SUN=1 .. SAT=7): Saturday -> Monday
        ("0 8 ? * 2-6 *", "2026-03-14T09:00:00", "2026-03-16T08:00:00"),
        ("0 12 ? * 1 *", "2026-03-10T00:00:00", "2026-03-15T12:00:00"),  # 1 is Sunday
        # lists, month names and a year
        ("30 6,18 ? * SAT *", "2026-03-14T07:00:00", "2026-03-14T18:30:00"),
        ("0 0 1 JAN,JUN ? *", "2026-02-01T00:00:00", "2026-06-01T00:00:00"),
        ("0 9 29 FEB ? *", "2026-03-01T00:00:00", "2028-02-29T09:00:00"),  # the next leap day
        ("0 0 1 1 ? 2030", "2026-03-10T00:00:00", "2030-01-01T00:00:00"),
        # a range with a step: every second hour from 08:00 to 16:00
        ("0 8-16/2 * * ? *", "2026-03-10T12:00:00", "2026-03-10T14:00:00"),
        ("0 8-16/2 * * ? *", "2026-03-10T16:00:00", "2026-03-11T08:00:00"),
    ],
)
def test_cron_next_after(body: str, after: str, expected: str) -> None:
    assert Cron.parse(body).next_after(utc(after)) == utc(expected)


def test_cron_parses_fields_into_allowed_values() -> None:
    cron = Cron.parse("0/15 8-10 ? * MON-FRI *")

    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {8, 9, 10}
    assert cron.days_of_month is None
    assert cron.months is None
    assert cron.days_of_week == {2, 3, 4, 5, 6}
    assert cron.years is None


def test_cron_whose_years_have_passed_never_fires_again() -> None:
    assert Cron.parse("0 0 1 1 ? 2020").next_after(utc("2026-03-10T00:00:00")) is None


@pytest.mark.parametrize(
    "body",
    [
        "0 0 L * ? *",  # last day of the month
        "0 0 15W * ? *",  # nearest weekday to the 15th
        "0 0 ? * 6#3 *",  # third Friday
        "0 0 ? * 6L *",  # last Friday
        "0 10 * * ?",  # five fields: the year is required
    ],
)
def test_unsupported_cron_expressions_are_refused(body: str) -> None:
    with pytest.raises(UnsupportedExpression):
        Cron.parse(body)
    with pytest.raises(UnsupportedExpression):
        next_firing(f"cron({body})", epoch("2026-03-10T00:00:00"), epoch("2026-03-10T00:00:00"), fired_before=False)


@pytest.mark.parametrize(
    ("body", "after", "expected"),
    [
        ("0 9 ? * MON,WED,FRI *", "2026-03-10T10:00:00", "2026-03-11T09:00:00"),  # Tue -> Wed
        ("0 9 ? * MON-WED *", "2026-03-11T10:00:00", "2026-03-16T09:00:00"),  # Wed -> Mon
        ("0 0 1 JUN-JUL ? *", "2026-06-02T00:00:00", "2026-07-01T00:00:00"),
    ],
)
def test_cron_lists_and_ranges_of_names_containing_l_or_w(body: str, after: str, expected: str) -> None:
    assert Cron.parse(body).next_after(utc(after)) == utc(expected)


# --- rate and at ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "elapsed", "expected"),
    [
        ("rate(1 day)", 0, DAY),
        ("rate(1 day)", DAY - 1, DAY),
        ("rate(1 day)", DAY, 2 * DAY),  # strictly after
        ("rate(7 days)", 3 * DAY, 7 * DAY),
        ("rate(1 hour)", 5400, 7200),
        ("rate(12 hours)", 0, 43200),
        ("rate(1 minute)", 59.5, 60),
        ("rate(5 minutes)", 601, 900),
    ],
)
def test_rate_fires_on_multiples_of_its_interval_from_creation(
    expression: str, elapsed: float, expected: float
) -> None:
    created = epoch("2026-03-10T08:30:00")

    assert next_firing(expression, created + elapsed, created, fired_before=False) == created + expected


def test_at_fires_once_at_its_time() -> None:
    created = epoch("2026-03-10T00:00:00")
    expression = "at(2026-04-01T12:30:00)"

    assert next_firing(expression, created, created, fired_before=False) == epoch("2026-04-01T12:30:00")
    assert next_firing(expression, epoch("2026-04-01T12:30:00"), created, fired_before=True) is None


def test_cron_next_firing_is_in_epoch_seconds() -> None:
    after = epoch("2026-03-10T09:00:00")

    assert next_firing("cron(0 10 * * ? *)", after, after, fired_before=False) == epoch("2026-03-10T10:00:00")


@pytest.mark.parametrize(
    "expression", ["rate(1 week)", "rate(0.5 hours)", "every day", "at(2026-04-01)", "cron()", "rate(1day)"]
)
def test_other_expressions_are_refused(expression: str) -> None:
    now = epoch("2026-03-10T00:00:00")

    with pytest.raises(UnsupportedExpression):
        next_firing(expression, now, now, fired_before=False)


def test_target_payload_fills_in_schedulers_context_attributes() -> None:
    target = {
        "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "Input": '{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", '
        '"id": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}',
    }

    payload = json.loads(target_payload("arn:schedule", target, epoch("2026-03-10T10:00:00"), attempt=2))

    assert payload["arn"] == "arn:schedule"
    assert payload["at"] == "2026-03-10T10:00:00Z"
    assert payload["id"].startswith("local-")
    assert payload["attempt"] == "2"


# --- schedules firing on the offline cloud -------------------------------------------------------


wait_until = partial(support.wait_until, timeout=10.0)


def let_the_runner_tick(ticks: int = 5) -> None:
    time.sleep(TICK_REAL_SECONDS * ticks)


@pytest.fixture
def start_cloud() -> Iterator[Callable[[str], OfflineCloud]]:
    started: list[OfflineCloud] = []

    def start(retrain_schedule: str) -> OfflineCloud:
        cloud = OfflineCloud(
            parameters={"RetrainSchedule": retrain_schedule}, time_scale=TIME_SCALE, use_sam_build=False
        ).start()
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.stop()


def retrain_schedule(cloud: OfflineCloud) -> dict[str, object]:
    assert cloud.stack is not None
    name = cloud.stack.resources["RetrainScheduleRule"]["Ref"]
    schedule: dict[str, object] = cloud.client("scheduler").get_schedule(Name=name)
    return schedule


def runner(cloud: OfflineCloud) -> ScheduleRunner:
    assert cloud.runtime is not None
    return cloud.runtime.scheduler


# The stack's own frequent schedules: the drop sweeper's rate(1 minute) and the drift monitor's
# rate(1 hour) fire all along, whatever a test does with the schedule it watches.
_BACKGROUND_SCHEDULES = ("DropSweepSchedule", "DriftMonitorSchedule")


def firings(cloud: OfflineCloud) -> list[tuple[str, float]]:
    """What the runner fired, leaving out the stack's background schedules."""
    return [(arn, due) for arn, due in runner(cloud).firings if not any(name in arn for name in _BACKGROUND_SCHEDULES)]


def tracked_due(cloud: OfflineCloud, schedule_arn: str) -> float:
    """When the runner means to fire the schedule next (waiting until it has seen the schedule)."""
    wait_until(lambda: runner(cloud).next_due(schedule_arn) is not None, what="the runner tracking the schedule")
    due = runner(cloud).next_due(schedule_arn)
    assert due is not None
    return due


def skipped_notifications(cloud: OfflineCloud, at_least: int = 1) -> list[dict[str, object]]:
    """The retrain.skipped notifications, once ``at_least`` arrived and no delivery is still running."""

    def found() -> list[dict[str, object]]:
        return [n.body for n in cloud.notifications() if n.event == "retrain.skipped"]

    wait_until(lambda: len(found()) >= at_least, what=f"{at_least} retrain.skipped notification(s)")
    cloud.deliveries.wait_idle(timeout=10)
    return found()


def scheduler_time(epoch_seconds: float) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_daily_schedule_fires_its_lambda_target_when_the_clock_advances_a_day(
    start_cloud: Callable[[str], OfflineCloud],
) -> None:
    cloud = start_cloud("rate(1 day)")
    schedule = retrain_schedule(cloud)
    arn = str(schedule["Arn"])
    due = tracked_due(cloud, arn)
    assert due - cloud.clock.now() > DAY - 3600, "a day away, not due yet"
    let_the_runner_tick()
    assert firings(cloud) == []

    cloud.clock.advance(DAY)
    wait_until(lambda: len(firings(cloud)) >= 1, what="the schedule firing")
    let_the_runner_tick()

    assert firings(cloud) == [(arn, due)]
    [skipped] = skipped_notifications(cloud)
    assert skipped["reason"] == "no complete dataset under the incoming prefix"
    assert skipped["details"] == {"scheduled_time": scheduler_time(due)}
    assert runner(cloud).next_due(arn) == pytest.approx(due + DAY)
    assert cloud.executions() == [], "nothing to retrain on"


def test_a_schedule_that_missed_several_windows_fires_once(start_cloud: Callable[[str], OfflineCloud]) -> None:
    cloud = start_cloud("rate(1 day)")
    arn = str(retrain_schedule(cloud)["Arn"])
    tracked_due(cloud, arn)

    cloud.clock.advance(3 * DAY + 60)
    wait_until(lambda: len(firings(cloud)) >= 1, what="the schedule firing")
    let_the_runner_tick()

    assert [fired for fired, _ in firings(cloud)] == [arn]
    assert len(skipped_notifications(cloud)) == 1


def test_a_cron_schedule_fires_at_its_utc_time(start_cloud: Callable[[str], OfflineCloud]) -> None:
    cloud = start_cloud("cron(0 3 * * ? *)")
    arn = str(retrain_schedule(cloud)["Arn"])
    due = tracked_due(cloud, arn)
    assert scheduler_time(due).endswith("T03:00:00Z")

    cloud.clock.advance(due - cloud.clock.now() + 1)
    wait_until(lambda: len(firings(cloud)) >= 1, what="the schedule firing")

    assert firings(cloud) == [(arn, due)]
    [skipped] = skipped_notifications(cloud)
    assert skipped["details"] == {"scheduled_time": scheduler_time(due)}


def test_a_disabled_schedule_does_not_fire(start_cloud: Callable[[str], OfflineCloud]) -> None:
    cloud = start_cloud("disabled")
    disabled = retrain_schedule(cloud)
    assert disabled["State"] == "DISABLED"
    # An enabled schedule on the same target shows that the runner was running all along.
    target = dict(disabled["Target"])  # type: ignore[call-overload]
    control_arn = cloud.client("scheduler").create_schedule(
        Name="control-daily",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={key: target[key] for key in ("Arn", "RoleArn", "Input")},
    )["ScheduleArn"]
    tracked_due(cloud, control_arn)

    cloud.clock.advance(8 * DAY)  # past the disabled schedule's rate(7 days) too
    wait_until(lambda: len(firings(cloud)) >= 1, what="the control schedule firing")
    let_the_runner_tick()

    assert [fired for fired, _ in firings(cloud)] == [control_arn]
    assert runner(cloud).next_due(str(disabled["Arn"])) is None, "never even tracked"
    assert len(skipped_notifications(cloud)) == 1, "one notification: the control schedule's"
