"""``conveyor upload PATH``: drop a dataset where the data-arrival rule sees it."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated

import typer

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError
from conveyor_core.intake import drops

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


def expectation(key: str) -> dict[str, str | None]:
    """What the data-arrival rule will do with ``key``, as the product's own drop rules decide it.

    ``outcome`` is "starts-run", "waits" or "refused" (anything newer the rules answer is passed on).
    """
    try:
        drops.validate_key(key, INCOMING)
    except drops.InvalidDropError as refused:
        return {
            "outcome": "refused",
            "reason": refused.reason,
            # repr: a refused key may hold a control character that must not reach the terminal.
            "message": f"{key!r} would be refused and quarantined ({refused.reason}: {refused.detail})",
        }
    found = drops.classify_key(key, INCOMING)
    suffixes = " or ".join(drops.DATA_SUFFIXES)
    markers = f"{drops.SUCCESS_MARKER} or {drops.MANIFEST_MARKER}"
    if found.decision is drops.KeyDecision.START:
        what = "its folder's drop" if found.kind is not drops.DropKind.SINGLE_OBJECT else "it"
        message = f"the data-arrival rule starts a run on {what}"
        if found.kind is not drops.DropKind.SINGLE_OBJECT:
            message += f" ({found.drop_prefix})"
        return {"outcome": "starts-run", "drop": found.drop_prefix, "message": message}
    if found.decision is drops.KeyDecision.PART_OF_FOLDER:
        return {
            "outcome": "waits",
            "drop": found.drop_prefix,
            "message": (
                f"part of the folder drop {found.drop_prefix}: its run starts when {markers} lands in it, or once "
                "no new object has landed for the stack's DropQuietSeconds; `conveyor status` lists it meanwhile"
            ),
        }
    if found.decision is drops.KeyDecision.NOT_DATA:
        return {
            "outcome": "waits",
            "drop": found.drop_prefix,
            "message": f"not data ({suffixes}) in the folder drop {found.drop_prefix}: no run starts for it, "
            f"and a {drops.SUCCESS_MARKER} marker does not include it",
        }
    if found.decision is drops.KeyDecision.UNSUPPORTED:
        return {
            "outcome": "refused",
            "reason": "unsupported-file-type",
            "message": f"{key} would be refused and quarantined: only a {suffixes} object, "
            f"or a folder closed by {markers}, starts a run",
        }
    return {"outcome": str(found.decision), "drop": found.drop_prefix, "message": f"{key}: {found.decision}"}


def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The CSV (or .csv.gz) dataset: label first, no header.")],
    key: Annotated[
        str | None, typer.Option("--key", help="Object key; must be under incoming/. Default: incoming/<file name>.")
    ] = None,
) -> None:
    """Upload a dataset to the data bucket under incoming/; says first whether it starts a run."""
    opts = options(ctx)
    if path.is_dir():
        raise CliError(
            f"{path} is a directory: upload one file, or each part of a folder drop with "
            f"--key {INCOMING}<folder>/<part>.csv and then an empty {drops.SUCCESS_MARKER} "
            f"(--key {INCOMING}<folder>/{drops.SUCCESS_MARKER})"
        )
    object_key = dataset_key(path, key)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    expected = expectation(object_key)
    if expected["outcome"] == "refused":
        # Uploading it would only fill the quarantine; nothing lands.
        raise CliError(f"not uploaded: {expected['message']}")
    if not opts.json:
        render.console().print(f"{object_key}: {expected['message']}", markup=False, soft_wrap=True)
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
        "expected": expected,
    }
    if opts.json:
        render.emit_json(result)
        return
    out = render.console()
    out.print(render.fields(f"uploaded to {target.label}", [(k, v) for k, v in result.items() if k != "expected"]))
    out.print("Follow it with `conveyor status` or `conveyor tail`.", style="dim")
