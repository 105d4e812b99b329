"""Quiet output: a healthy run prints no tracebacks, library warnings or interpreter noise.

Four sources used to speak on every run: tl2cgen's bundled treelite (a version warning on stderr
during each compilation), moto's ASL interpreter (an ERROR line for every Choice probe of an absent
field), Powertools (a warning from each handler that publishes no metric) and the demo's summary
table (cutting an outcome to ``deployment.rolled_…`` at 80 columns). Each is checked here; what
stays visible when something really is wrong is checked too.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost
from rich.console import Console

from conveyor_cli.demo import DemoReport, StepResult, summary_table
from localcloud.cloud import REPO_ROOT, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.runtime import Runtime
from localcloud.sagemaker_engine import compilation
from localcloud.sagemaker_engine.compilation import compile_model
from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME
from tests.conftest import TIME_SCALE

NOISE = ("Traceback", "Warning", "newer Treelite", "NoSuchJsonPathError")


def _model_tar_gz() -> bytes:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 4)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(np.float32)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(features, label=labels), 5
    )
    model = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE_NAME)
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def _noise(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(marker in line for marker in NOISE)]


# --- treelite's version warning ------------------------------------------------------------------


def test_a_compilation_writes_nothing_to_stderr(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outcome = compile_model(_model_tar_gz(), "XGBOOST", "ml_c5", tmp_path)

    assert outcome.status == "COMPLETED", outcome.failure_reason
    captured = capfd.readouterr()
    assert _noise(captured.err) == []
    assert _noise(captured.out) == []


def test_the_held_back_block_passes_on_other_stderr_output(capfd: pytest.CaptureFixture[str]) -> None:
    # Given another thread's message lands on fd 2 while a model loads
    with compilation._version_warning_held_back():
        os.write(
            2, b"[04:17:16] serializer.cc:202: The model you are loading originated from a newer Treelite version\n"
        )
        os.write(2, b"Currently running Treelite version 4.1.2\n")
        os.write(2, b"something else entirely\n")

    # Then only the version warning is held back
    assert capfd.readouterr().err == "something else entirely\n"


def test_the_held_back_block_passes_on_everything_when_the_load_fails(capfd: pytest.CaptureFixture[str]) -> None:
    def failing_load() -> None:
        with compilation._version_warning_held_back():
            os.write(2, b"The model you are loading originated from a newer Treelite version\n")
            raise RuntimeError("the load failed")

    with pytest.raises(RuntimeError):
        failing_load()

    # The warning may explain the failure, so it is shown
    assert "newer Treelite version" in capfd.readouterr().err


# --- moto's ASL interpreter ----------------------------------------------------------------------

ASL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"


def test_a_handled_json_path_probe_is_not_logged_but_a_failed_state_is(caplog: pytest.LogCaptureFixture) -> None:
    # The two lines moto's EvalComponent writes: a Choice probing an absent field (handled by the
    # rule), and a state failing with States.Runtime (a real failure).
    probe = "Exception=NoSuchJsonPathError, Details=[\"$.trigger\"] at '(StringJsonPath| {'json_path': '$.trigger'}'"
    failure = "Exception=FailureEventException, Error=States.Runtime, Details={...} at '(InputPath| ...)'"
    logger = logging.getLogger(ASL_LOGGER)

    with caplog.at_level(logging.ERROR, logger=ASL_LOGGER):
        with Runtime(time_scale=TIME_SCALE):
            logger.error("%s", probe)
            logger.error("%s", failure)
        logger.error("%s", probe)  # moto used after the cloud stopped is plain moto again

    assert [record.getMessage() for record in caplog.records] == [failure, probe]


# --- Powertools' empty-metrics warning ------------------------------------------------------------


def test_a_handler_publishing_no_metric_warns_nothing_once_the_layer_is_imported() -> None:
    # A fresh interpreter, as a Lambda sandbox is: pytest's own warning filters play no part.
    script = (
        "import conveyor_core\n"
        "from aws_lambda_powertools import Metrics\n"
        "Metrics(namespace='Conveyor', service='gate').flush_metrics()\n"
    )
    layer = str(REPO_ROOT / "layers" / "conveyor")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([layer, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "No application metrics to publish" not in result.stderr


# --- the demo's summary table ---------------------------------------------------------------------


def test_the_summary_table_at_80_columns_keeps_every_outcome_whole() -> None:
    outcomes = ["pipeline.succeeded", "model.rejected", "deployment.rolled_back", "retrain.skipped"]
    report = DemoReport(
        steps=[
            StepResult(f"{n}. a step with a long descriptive name: detail", outcome, 49, 15.2, 437, 3)
            for n, outcome in enumerate(outcomes, start=1)
        ]
    )
    console = Console(width=80, file=io.StringIO(), force_terminal=False, color_system=None)

    console.print(summary_table(report))

    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    for outcome in outcomes:
        assert outcome in text


# --- a whole pipeline run -------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_pipeline_run_through_the_offline_cloud_prints_no_noise(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    cloud = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False).start()
    try:
        cloud.upload("incoming/cancer.csv", breast_cancer_csv())
        [run] = cloud.wait_for_executions(1)
        states = cloud.states_entered(run["executionArn"])
    finally:
        cloud.stop()

    assert run["status"] == "SUCCEEDED"
    # The run passed the Choice that probes an absent $.trigger, and compiled its model.
    assert {"DatasetAccepted", "CompileModel"} <= set(states)
    captured = capfd.readouterr()
    assert _noise(captured.err) == []
    assert _noise(captured.out) == []
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
