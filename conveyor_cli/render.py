"""Output: rich tables for people, JSON for machines (``--json``), one-line errors on stderr."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

_STATUS_STYLES = {
    "SUCCEEDED": "green",
    "InService": "green",
    "RUNNING": "cyan",
    "Creating": "cyan",
    "Updating": "cyan",
    "FAILED": "red",
    "Failed": "red",
    "TIMED_OUT": "red",
    "ABORTED": "yellow",
    "RollingBack": "yellow",
    "RolledBack": "yellow",
    "AlarmRollback": "yellow",
}
SEVERITY_STYLES = {"info": "green", "warning": "yellow", "error": "bold red"}


def console() -> Console:
    # Built per use, not at import: CliRunner and pipes swap sys.stdout between invocations.
    return Console(highlight=False, soft_wrap=False)


def error_console() -> Console:
    # Progress and warnings are single lines a terminal may wrap, never broken up by rich.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, dict):
        return {str(k): jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [jsonable(v) for v in data]
    if isinstance(data, dt.datetime):
        return data.isoformat()
    return data


def emit_json(data: Any, *, indent: int | None = 2) -> None:
    # typer.echo, not rich: JSON must come out byte for byte, with no markup or wrapping.
    typer.echo(json.dumps(jsonable(data), indent=indent, default=str))


def when(value: dt.datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        # Step Functions writes "...T16:32:36.964Z"; the offline cloud "... 16:32:36.964991+00:00".
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def cell(value: Any, style: str = "") -> Text:
    """Data as plain text: values like "[Conveyor] ..." must never be read as rich markup."""
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.6g}", style=style)
    text = str(value)
    return Text(text, style=style or _STATUS_STYLES.get(text, ""))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "none") -> Table | Text:
    materialised = [list(row) for row in rows]
    if not materialised:
        return Text.assemble((f"{title}: ", "bold"), (empty, "dim"))
    grid = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in materialised:
        grid.add_row(*(v if isinstance(v, Text) else cell(v) for v in row))
    return grid


def fields(title: str, pairs: Iterable[tuple[str, Any]]) -> Table:
    grid = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, value if isinstance(value, Text) else cell(value))
    return grid
