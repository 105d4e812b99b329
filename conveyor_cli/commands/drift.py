"""``conveyor drift``: per-feature data drift of the production model, from the drift monitor's last report."""

from __future__ import annotations

import json
from typing import Any

import typer

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError
from conveyor_core.monitoring.monitor import latest_report_key


def latest_report(target: Any) -> dict[str, Any]:
    bucket = target.outputs.artifact_bucket_name
    if not bucket:
        raise CliError("this stack has no ArtifactBucketName output: it predates drift monitoring")
    s3 = target.client("s3")
    key = latest_report_key(target.outputs.endpoint_name)
    try:
        report: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise CliError(
            "the drift monitor has not reported yet: it runs every hour once a model serves with data capture on"
        ) from None
    return report


def _number(value: Any, digits: str = ".4g") -> str | None:
    return None if value is None else format(float(value), digits)


def drift(ctx: typer.Context) -> None:
    """Show how far each feature of the production model's traffic is from its training baseline."""
    opts = options(ctx)
    report = latest_report(opts.target())
    if opts.json:
        render.emit_json(report)
        return
    out = render.console()
    if report.get("status") != "ok":
        out.print(f"drift monitoring failed for run {report.get('model_run')}: {report.get('reason')}")
        return
    out.print(
        render.fields(
            "drift monitor",
            [
                ("checked at", render.when(report["at"])),
                ("model run", report["model_run"]),
                ("window from", render.when(report["window_start"])),
                ("captured rows", f"{report['rows']} (judged from {report['min_rows']})"),
                ("threshold", str(report["threshold"])),
                ("drifting", ", ".join(report["drifting_features"]) or "none"),
                ("skipped", ", ".join(f"{k} {v}" for k, v in report["skipped"].items() if v) or "nothing"),
            ],
        )
    )
    if not report["judged"]:
        out.print(f"too few captured rows to judge drift ({report['rows']} of {report['min_rows']})")
        return
    out.print(
        render.table(
            "features, most drifted first",
            ["feature", "distance", "drifts", "baseline mean", "mean", "completeness"],
            [
                (
                    f["name"],
                    _number(f["distance"], ".3f"),
                    "yes" if f["drifting"] else "no",
                    _number(f["baseline_mean"]),
                    _number(f["mean"]),
                    _number(f["completeness"], ".3f"),
                )
                for f in sorted(report["features"], key=lambda f: -float(f["distance"]))
            ],
        )
    )
