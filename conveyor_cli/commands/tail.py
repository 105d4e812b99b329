"""``conveyor tail``: notifications as they are published, through a temporary SQS subscription."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.text import Text

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.notifications import NotificationTap
from conveyor_cli.signals import sigterm_as_interrupt
from conveyor_cli.views import Notification

# --no-follow stops once the topic has been quiet this long after a first notification.
QUIET_SECONDS = 2
NO_FOLLOW_TIMEOUT = 60.0
# SQS's longest long poll: one request per 20 s while nothing happens.
LONG_POLL_SECONDS = 20


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
) -> None:
    """Print notifications published from now on (subscribes a temporary queue; removed on exit)."""
    opts = options(ctx)
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
                for notification in _arrivals(tap, follow, limit):
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


def _arrivals(tap: NotificationTap, follow: bool, limit: float | None) -> Iterator[Notification]:
    deadline = None if limit is None else time.monotonic() + limit
    seen = False
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
