"""``conveyor upload PATH``: drop a dataset where the data-arrival rule sees it."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated

import typer

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError

INCOMING = "incoming/"


def dataset_key(path: Path, key: str | None) -> str:
    """The object key, refused unless it is under incoming/, the only prefix that starts runs."""
    chosen = key if key is not None else INCOMING + path.name
    normalised = posixpath.normpath(chosen) if chosen else ""
    # normpath folds "incoming/../x" to "x"; comparing with the original refuses such keys too.
    if (
        not chosen.startswith(INCOMING)
        or chosen.rstrip("/") == INCOMING.rstrip("/")
        or chosen.endswith("/")
        or normalised != chosen
    ):
        raise CliError(f"refusing key {chosen!r}: datasets go under {INCOMING} (e.g. {INCOMING}{path.name})")
    return chosen


def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The CSV (or .csv.gz) dataset: label first, no header.")],
    key: Annotated[
        str | None, typer.Option("--key", help="Object key; must be under incoming/. Default: incoming/<file name>.")
    ] = None,
) -> None:
    """Upload a dataset to the data bucket under incoming/, which starts a retrain run."""
    opts = options(ctx)
    object_key = dataset_key(path, key)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    target = opts.target()
    bucket = target.outputs.data_bucket_name
    s3 = target.client("s3")
    # The managed transfer switches to multipart for large files (a single PUT stops at 5 GB).
    s3.upload_file(str(path), bucket, object_key)
    head = s3.head_object(Bucket=bucket, Key=object_key)
    result = {
        "bucket": bucket,
        "key": object_key,
        "uri": f"s3://{bucket}/{object_key}",
        "version_id": head.get("VersionId"),
        "size": head.get("ContentLength"),
        "etag": str(head.get("ETag", "")).strip('"'),
    }
    if opts.json:
        render.emit_json(result)
        return
    out = render.console()
    out.print(render.fields(f"uploaded to {target.label}", list(result.items())))
    out.print("The data-arrival rule starts a run; follow it with `conveyor status` or `conveyor tail`.", style="dim")
