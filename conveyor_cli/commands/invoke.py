"""``conveyor invoke``: ask the endpoint for predictions on CSV rows."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated

import typer

from conveyor_cli import endpoint, render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError

# What spreadsheets and editors write: UTF-8, maybe with a BOM, or UTF-16 announced by its BOM.
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
EXPECTED = "--file expects CSV text in UTF-8 (or UTF-16 with a byte-order mark)"


def read_text(file: Path) -> str:
    """The file's text; UTF-16 is read when its BOM says so, anything else must be UTF-8 without NULs."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {file}: {error.strerror}") from None
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise CliError(f"{file} is not {encoding} text (byte {error.start}); {EXPECTED}") from None
    if "\x00" in text:
        raise CliError(f"{file} holds NUL bytes: binary, or UTF-16 without a byte-order mark; {EXPECTED}")
    return text


def _rows(body: str | None, file: Path | None) -> list[str]:
    if (body is None) == (file is None):
        raise CliError("pass exactly one of --body or --file")
    if file is not None:
        text = read_text(file)
    else:
        assert body is not None
        text = body
    rows = endpoint.split_rows(text)
    if not rows:
        raise CliError("no rows to send")
    return rows


def invoke(
    ctx: typer.Context,
    body: Annotated[
        str | None, typer.Option("--body", help="Feature rows, no label; rows separated by ';' or newlines.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A CSV file of feature rows, no label, no header.")
    ] = None,
) -> None:
    """Send CSV rows to the endpoint and print one prediction per row."""
    opts = options(ctx)
    rows = _rows(body, file)
    target = opts.target()
    answer = endpoint.invoke(target, rows)
    if opts.json:
        render.emit_json(answer)
        return
    out = render.console()
    out.print(f"endpoint [bold]{answer.endpoint}[/bold], variant [bold]{answer.variant or '-'}[/bold]")
    if answer.predictions is None:
        out.print("the answer is not numeric CSV; as received:", style="yellow")
        out.print(answer.raw, markup=False)
        return
    out.print(render.table("predictions", ["row", "prediction"], enumerate(answer.predictions, start=1)))
