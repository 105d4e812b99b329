"""``conveyor local up``: the offline cloud as a server other shells (and the AWS CLI) can reach."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from conveyor_cli import render
from conveyor_cli import state as local_state
from conveyor_cli.context import options
from conveyor_cli.errors import CliError, reported
from conveyor_cli.signals import dump_threads_on_sigusr1, sigterm_as_interrupt
from conveyor_cli.target import reachable

if TYPE_CHECKING:
    from localcloud.cloud import OfflineCloud
    from localcloud.dashboard import DashboardServer

app = typer.Typer(
    help="Run the offline cloud (moto plus Conveyor's local runtime) for `--local`.", no_args_is_help=True
)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _parameters(pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CliError(f"--parameter takes NAME=VALUE, got {pair!r}")
        parsed[name] = value
    return parsed


def _text(value: Any) -> str:
    # CommaDelimitedList parameters resolve to lists; the state file keeps CloudFormation's text form.
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def state_of(cloud: OfflineCloud) -> local_state.LocalState:
    assert cloud.stack is not None
    assert cloud.endpoint_url is not None
    return local_state.LocalState(
        endpoint_url=cloud.endpoint_url,
        region=cloud.region,
        stack_name=cloud.stack_name,
        outputs={k: _text(v) for k, v in cloud.stack.outputs.items()},
        resources={k: _text(v["Ref"]) for k, v in cloud.stack.resources.items() if "Ref" in v},
        parameters={k: _text(v) for k, v in cloud.stack.parameters.items()},
    )


def _check_free(state_file: Path, port: int) -> None:
    if state_file.exists():
        try:
            previous = local_state.load(state_file)
        except CliError:
            previous = None
        if previous is not None and reachable(previous.endpoint_url):
            raise CliError(f"an offline cloud already runs at {previous.endpoint_url} (state file {state_file})")
    if not _port_free(port):
        raise CliError(f"port {port} is in use: pick another with --port")


@app.command("up")
@reported
def up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Loopback port to serve on.")] = 4566,
    time_scale: Annotated[
        float, typer.Option("--time-scale", min=0.0001, help="Simulated waits: 0.01 makes a 600 s bake take 6 s.")
    ] = 0.01,
    stack_name: Annotated[str, typer.Option("--stack-name", help="Name of the offline stack.")] = "conveyor",
    region: Annotated[str, typer.Option("--region", help="Region of the offline stack.")] = "us-east-1",
    parameter: Annotated[
        list[str] | None, typer.Option("--parameter", "-p", help="Template parameter NAME=VALUE; repeatable.")
    ] = None,
    workers: Annotated[
        bool,
        typer.Option(
            "--workers/--in-process",
            help="Run each Lambda function in its own awslambdaric worker process (like Lambda), or in this process.",
        ),
    ] = True,
    dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="Serve the stack's CloudWatch dashboard as a web page.")
    ] = True,
    dashboard_port: Annotated[
        int | None,
        typer.Option(
            "--dashboard-port", min=1, max=65535, help="Loopback port of the dashboard page [default: --port + 1]."
        ),
    ] = None,
) -> None:
    """Start the offline cloud, deploy template.yaml into it, and serve until Ctrl-C."""
    opts = options(ctx)
    state_file = opts.state_file
    _check_free(state_file, port)
    page_port = (dashboard_port or (port + 1 if port < 65535 else port - 1)) if dashboard else None
    if page_port is not None and (page_port == port or not _port_free(page_port)):
        raise CliError(f"port {page_port} is in use: pick another with --dashboard-port, or --no-dashboard")
    dump_threads_on_sigusr1()
    parameters = _parameters(parameter or [])
    # Importing localcloud pulls in moto and XGBoost: only this command pays for it.
    from localcloud.cloud import OfflineCloud

    # The server logs every request; the CLI's own output is what a user wants to see here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    out = render.console()
    cloud = OfflineCloud(
        stack_name=stack_name,
        region=region,
        parameters=parameters,
        time_scale=time_scale,
        server_port=port,
        lambda_mode="workers" if workers else "in-process",
    )
    page: DashboardServer | None = None
    try:
        with out.status(f"deploying template.yaml into the offline cloud on port {port}"):
            cloud.start()
        if page_port is not None:
            from localcloud.dashboard import serve

            page = serve(cloud, page_port)
        state = state_of(cloud)
        local_state.save(state_file, state)
        _announce(state, state_file, opts.json, page.url if page else None)
        _wait_for_interrupt()
    finally:
        # The state file goes first: from here on no other shell should try to reach this cloud.
        local_state.remove(state_file)
        if page is not None:
            page.stop()
        with out.status("stopping the offline cloud (waiting for running work)"):
            cloud.stop()
    if not opts.json:
        out.print("offline cloud stopped", style="dim")


def _announce(state: local_state.LocalState, state_file: Path, as_json: bool, dashboard_url: str | None) -> None:
    if as_json:
        render.emit_json(
            {"state_file": str(state_file), "dashboard_url": dashboard_url, **state.model_dump()}, indent=None
        )
        return
    out = render.console()
    out.print(render.fields("stack outputs", sorted(state.outputs.items())))
    out.print(
        f"\n[bold]offline cloud up[/bold] at {state.endpoint_url}  (state file {state_file})\n"
        "in another shell: [bold]conveyor --local status[/bold], [bold]conveyor --local upload data.csv[/bold]; "
        f"the AWS CLI: --endpoint-url {state.endpoint_url}\n"
        + (f"dashboard: [bold]{dashboard_url}[/bold]\n" if dashboard_url else "")
        + "Ctrl-C stops it."
    )


def _wait_for_interrupt() -> None:
    # SIGTERM (a service manager, `kill`) stops it as cleanly as Ctrl-C: the state file goes too.
    with sigterm_as_interrupt():
        try:
            # Short sleeps, not one long one: a signal the kernel hands to another thread only sets
            # a flag, which the main thread acts on when it next runs Python code (seen: Ctrl-C
            # ignored for minutes on a loaded machine with many threads).
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
