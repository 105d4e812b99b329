"""`conveyor local up` in its own process, as a user runs it: serves, writes the state file, cleans up on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conveyor_cli.main import app
from tests.cli.conftest import CONVEYOR_COMMAND

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def local_up(hermetic_aws: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, int]]:
    state_file = tmp_path / "state" / "local.json"
    port = _free_port()
    process = subprocess.Popen(
        [
            *CONVEYOR_COMMAND,
            "--state-file",
            str(state_file),
            "local",
            "up",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "layers" / "conveyor")])},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, state_file, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"local up exited {process.returncode}: {process.stdout.read() if process.stdout else ''}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"no state file after {timeout}s")
        time.sleep(0.2)


def _output_or_thread_dump(process: subprocess.Popen[str], timeout: float) -> str:
    """The process's output once it exits; if it does not, fail with every thread's stack (SIGUSR1)."""
    try:
        output, _ = process.communicate(timeout=timeout)
        return output
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"local up did not stop within {timeout}s of Ctrl-C; its threads:\n{output[-20000:]}")


def test_local_up_serves_until_interrupted_then_removes_its_state_file(local_up: Any) -> None:
    process, state_file, port = local_up
    _wait_for(state_file, process)
    recorded = json.loads(state_file.read_text())

    status = CliRunner().invoke(app, ["--state-file", str(state_file), "--local", "--json", "status"])
    second = CliRunner().invoke(app, ["--state-file", str(state_file), "local", "up", "--port", str(port)])
    process.send_signal(signal.SIGINT)
    output = _output_or_thread_dump(process, timeout=120)

    assert recorded["endpoint_url"] == f"http://127.0.0.1:{port}"
    assert recorded["stack_name"] == "conveyor"
    # SageMaker names carry the stack id's first UUID group: lowercase, unique per stack.
    assert re.fullmatch(r"conveyor-tabular-[0-9a-f]{8}", recorded["outputs"]["EndpointName"])
    assert recorded["resources"]["ScheduledRetrainFunction"].startswith("conveyor-ScheduledRetrainFunction")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["endpoint"] is None, "no run yet, so no endpoint"
    assert second.exit_code == 1
    assert "an offline cloud already runs at" in second.stderr
    assert process.returncode == 0, output
    assert "offline cloud up" in output
    assert not state_file.exists()
