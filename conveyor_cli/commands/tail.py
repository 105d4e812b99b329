"""``conveyor tail``: notifications as they are published, through a temporary SQS subscription."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.text import Text

from conveyor_cli import executions, notifications, render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError
from conveyor_cli.notifications import NotificationTap
from conveyor_cli.signals import sigterm_as_interrupt
from conveyor_cli.target import Target
from conveyor_cli.views import Notification

# --no-follow stops once the topic has been quiet this long after a first notification.
QUIET_SECONDS = 2
NO_FOLLOW_TIMEOUT = 60.0
# SQS's longest long poll: one request per 20 s while nothing happens.
LONG_POLL_SECONDS = 20
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


def since_delta(text: str) -> dt.timedelta:
    """``--since``'s value: a number of seconds, or with a unit: 30s, 10m, 2h, 1d."""
    matched = _DURATION.fullmatch(text.strip().lower())
    if not matched:
        raise CliError(f"--since {text!r}: expected a duration such as 30s, 10m, 2h or 1d")
    return dt.timedelta(seconds=float(matched[1]) * _UNITS[matched[2] or "s"])


def tail(
    ctx: typer.Context,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="Keep printing until Ctrl-C; or stop once notifications have arrived and the topic is quiet.",
        ),
    ] = True,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            help=f"Stop after this many seconds. Default: none with --follow, {NO_FOLLOW_TIMEOUT:g} with --no-follow.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="First print what retrain and rollback runs that ended in the last DURATION (30s, 10m, 2h, 1d) "
            "published. Notifications a function publishes on its own (a refused upload, a skipped schedule) "
            "are only seen live.",
        ),
    ] = None,
) -> None:
    """Print notifications published from now on (subscribes a temporary queue; removed on exit)."""
    opts = options(ctx)
    window = None if since is None else since_delta(since)
    target = opts.target()
    limit = timeout if timeout is not None else (None if follow else NO_FOLLOW_TIMEOUT)
    out = render.console()
    errors = render.error_console()
    received = 0
    tap = NotificationTap(target)
    with sigterm_as_interrupt():
        try:
            with tap:
                if not opts.json:
                    errors.print(f"tailing notifications of {target.label} (Ctrl-C stops)", style="dim")
                # Read after the queue is subscribed: a run ending in between is in one list or both.
                recent = [] if window is None else published_since(target, dt.datetime.now(dt.UTC) - window)
                shown = {_identity(n) for n in recent}
                live = (n for n in _arrivals(tap, follow, limit, bool(recent)) if _identity(n) not in shown)
                for notification in [*recent, *live]:
                    received += 1
                    if opts.json:
                        render.emit_json(notification, indent=None)
                    else:
                        # Unwrapped: a notification stays greppable, and the terminal wraps it anyway.
                        out.print(_line(notification), soft_wrap=True)
        except KeyboardInterrupt:
            pass
    for leftover in tap.leftovers:
        errors.print(f"could not delete {leftover}; remove it by hand", markup=False, style="yellow")
    if received == 0 and not opts.json:
        errors.print("no notifications", style="dim")


def published_since(target: Target, start: dt.datetime) -> list[Notification]:
    """The notifications retrain and rollback runs that ended at or after ``start`` published, oldest first."""
    found: list[Notification] = []
    for machine in (target.outputs.retrain_state_machine_arn, target.outputs.rollback_state_machine_arn):
        for described in executions.ended_since(target, machine, start):
            document = executions.final_document(target, described)
            notification = notifications.from_run(document, described.get("stopDate"))
            if notification is not None:
                found.append(notification)
    return sorted(found, key=lambda n: n.published_at or "")


def _identity(notification: Notification) -> tuple[str, str | None]:
    # A run publishes one notification, so its execution and event name it in both sources.
    return (notification.event, notification.execution or notification.message_id)


def _arrivals(tap: NotificationTap, follow: bool, limit: float | None, seen: bool) -> Iterator[Notification]:
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        quiet_check = not follow and seen
        wait = QUIET_SECONDS if quiet_check else LONG_POLL_SECONDS
        if remaining is not None:
            wait = min(wait, max(1, int(remaining)))
        batch = tap.receive(wait)
        if quiet_check and not batch:
            return
        seen = seen or bool(batch)
        yield from batch


def _line(notification: Notification) -> Text:
    severity = notification.severity or "info"
    line = Text.assemble(
        (render.when(notification.published_at), "dim"),
        "  ",
        (f"{severity.upper():7}", render.SEVERITY_STYLES.get(severity, "")),
        " ",
        (notification.event, "bold"),
        "  ",
        notification.subject,
    )
    extras: list[tuple[str, Any]] = [("reason", notification.reason), ("execution", notification.execution)]
    extras += list(notification.metrics.items()) + list(notification.details.items())
    for name, value in extras:
        if value not in (None, "", {}, []):
            line.append(f"\n    {name}: ", style="dim")
            line.append(str(value))
    return line
