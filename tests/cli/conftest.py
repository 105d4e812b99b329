"""Fixtures for the CLI tests: one offline cloud in server mode per module, reached as ``--local`` would.

The cloud runs in this process (``OfflineCloud(server_port=...)``) and the CLI runs in-process too,
through ``CliRunner``; the CLI only ever sees the state file and the loopback endpoint, exactly as in
a second shell next to ``conveyor local up``.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conveyor_cli import state
from conveyor_cli.local import state_of
from conveyor_cli.main import app
from localcloud.cloud import OfflineCloud
from tests.conftest import TIME_SCALE

Invoke = Callable[..., Any]

# `conveyor` in a process of its own, as a terminal starts it. A shell without job control starts a
# background job (CI's runner, `make test &`) with SIGINT ignored, and Python then keeps it ignored,
# so the tests' Ctrl-C would never arrive: the launcher puts Python's own Ctrl-C handler back first.
CONVEYOR_COMMAND = [
    sys.executable,
    "-c",
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('conveyor_cli', run_name='__main__', alter_sys=True)",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def hermetic_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Fake credentials and no config files: nothing here may reach, or read, a real account."""
    home = tmp_path_factory.mktemp("aws-home")
    variables = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        # Wide enough that rich tables never fold the values the tests look for.
        "COLUMNS": "250",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "CONVEYOR_STATE_FILE"):
            patch.delenv(name, raising=False)
        yield variables


@pytest.fixture(scope="module")
def cloud(hermetic_aws: dict[str, str]) -> Iterator[OfflineCloud]:
    # Moto's server logs every request; the tests read the CLI's output, not the server's.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = OfflineCloud(server_port=_free_port(), time_scale=TIME_SCALE, use_sam_build=False)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture(scope="module")
def state_file(cloud: OfflineCloud, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state file `conveyor local up` would write for this cloud (built by the same function)."""
    path = tmp_path_factory.mktemp("conveyor") / "local.json"
    state.save(path, state_of(cloud))
    return path


@pytest.fixture(scope="module")
def cli(state_file: Path) -> Invoke:
    """Run ``conveyor ARGS`` in-process; CONVEYOR_STATE_FILE points ``--local`` at the module's cloud."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, list(args), env={"CONVEYOR_STATE_FILE": str(state_file), **(env or {})})

    return invoke


@pytest.fixture
def bare_cli(hermetic_aws: dict[str, str], tmp_path: Path) -> Invoke:
    """Run ``conveyor ARGS`` with no offline cloud at all; the state file defaults to one in tmp_path."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, list(args), env={"CONVEYOR_STATE_FILE": str(tmp_path / "local.json"), **(env or {})})

    return invoke
