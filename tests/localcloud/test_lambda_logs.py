"""In-process Lambda logs: a handler's Powertools logger writes to the invocation's log, whatever stdout was.

Every function's ``Logger()`` shares one process-wide stdlib logger, set up on the ``sys.stdout`` of
the moment the first handler module was imported. In a test process that can be a stream a CLI
runner swapped in for one invocation and closed after; the runtime used to flush that stream when it
re-pointed the logger, so every cold start of every function failed with "I/O operation on closed
file" (``Runtime.ImportModuleError``): an ingest that failed three times and was dead-lettered.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_lambda_powertools import Logger

from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime
from localcloud.runtime import Runtime

SERVICE = "localcloud-closed-stream"
HANDLER = f"""
from aws_lambda_powertools import Logger

logger = Logger(service="{SERVICE}")


def handler(event, context):
    logger.info("handled", extra={{"item": event["item"]}})
    return {{"item": event["item"]}}
"""


@pytest.fixture
def lambdas(tmp_path: Path) -> Iterator[LocalLambdaRuntime]:
    (tmp_path / "app.py").write_text(HANDLER)
    registry = LocalLambdaRuntime()
    registry.register(
        FunctionRuntime(
            name="closed-stream",
            arn="arn:aws:lambda:us-east-1:123456789012:function:closed-stream",
            region="us-east-1",
            account_id="123456789012",
            code_dir=tmp_path,
            handler="app.handler",
            environment={},
        )
    )
    with Runtime(lambdas=registry):
        yield registry


def test_a_handler_logger_set_up_on_a_since_closed_stdout_still_cold_starts_and_logs(
    lambdas: LocalLambdaRuntime,
) -> None:
    # Given: the service's logger was first set up while stdout was a runner's stream, now closed.
    runner_stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # what typer's CliRunner swaps in
    Logger(service=SERVICE, stream=runner_stdout)
    runner_stdout.close()

    payload, errored, log = lambdas.invoke("closed-stream", {"item": "a"})
    second, errored_again, second_log = lambdas.invoke("closed-stream", {"item": "b"})

    assert not errored, payload
    assert json.loads(payload) == {"item": "a"}
    assert '"message":"handled"' in log.replace(" ", "")
    assert '"item":"a"' in log.replace(" ", "")
    assert not errored_again, second
    assert '"item":"b"' in second_log.replace(" ", "")
