"""The ``conveyor`` command: global options, the commands, and one-line errors with exit code 1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from conveyor_cli import local
from conveyor_cli.commands import advise, approval, drift, history, invoke, rollback, status, tail, trigger, upload
from conveyor_cli.context import Options
from conveyor_cli.errors import reported
from conveyor_cli.state import DEFAULT_STATE_FILE, STATE_FILE_ENV

app = typer.Typer(
    name="conveyor",
    help="Operate a Conveyor stack: deployed on AWS (--stack NAME) or the offline cloud (--local).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    local_target: Annotated[
        bool, typer.Option("--local", help="Target the offline cloud started by `conveyor local up`.")
    ] = False,
    stack: Annotated[str | None, typer.Option("--stack", metavar="NAME", help="Target a deployed stack.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="AWS region of --stack.")] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="AWS profile for --stack.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    state_file: Annotated[
        Path, typer.Option("--state-file", envvar=STATE_FILE_ENV, help="Where `local up` records the offline cloud.")
    ] = DEFAULT_STATE_FILE,
) -> None:
    ctx.obj = Options(
        local=local_target, stack=stack, region=region, profile=profile, json=json_output, state_file=state_file
    )


app.command("upload")(reported(upload.upload))
app.command("status")(reported(status.status))
app.command("history")(reported(history.history))
app.command("trigger")(reported(trigger.trigger))
app.command("rollback")(reported(rollback.rollback))
app.command("invoke")(reported(invoke.invoke))
app.command("tail")(reported(tail.tail))
app.command("advise")(reported(advise.advise))
app.command("drift")(reported(drift.drift))
app.command("approve")(reported(approval.approve))
app.command("reject")(reported(approval.reject))
app.add_typer(local.app, name="local")


@app.command("demo")
def demo(
    time_scale: Annotated[
        float | None, typer.Option("--time-scale", help="Real seconds per simulated second (default 0.005).")
    ] = None,
) -> None:
    """Run the five-step story on a fresh offline cloud (what `make demo` runs)."""
    # Imported here: the demo pulls in moto and XGBoost, which no other command needs.
    from conveyor_cli.demo import run_demo

    if time_scale is None:
        run_demo()
    else:
        run_demo(time_scale=time_scale)
