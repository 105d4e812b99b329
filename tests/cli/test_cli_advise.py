"""`conveyor advise` measures a real model here and recommends a Neo target and instance type."""

from __future__ import annotations

import argparse
import importlib.util
import json
import tarfile
import warnings
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]


def pytorch_model_tar(directory: Path) -> Path:
    """A model.tar.gz exactly as the pytorch family's train.py writes one (random weights)."""
    spec = importlib.util.spec_from_file_location(
        "conveyor_train_script", REPO / "layers/conveyor/conveyor_core/families/pytorch_script/train.py"
    )
    assert spec is not None
    assert spec.loader is not None
    train: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    torch.manual_seed(0)
    net = train.TabularNet(torch.zeros(30), torch.ones(30), 64, 1, "sigmoid")
    model_dir = directory / "model"
    with warnings.catch_warnings():  # torch.jit.trace is deprecated in recent torch; Neo still takes it
        warnings.simplefilter("ignore", DeprecationWarning)
        train.save(net, 30, argparse.Namespace(model_dir=str(model_dir), objective="binary:logistic"))
    archive = directory / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                packed.add(path, arcname=str(path.relative_to(model_dir)))
    return archive


def test_advise_measures_the_model_and_picks_the_cheapest_instance_that_meets_the_objective(
    bare_cli: Any, tmp_path: Path
) -> None:
    archive = pytorch_model_tar(tmp_path)

    result = bare_cli("--json", "advise", "--model-tar", str(archive), "--family", "pytorch", "--p99-us", "1000000")

    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(m["processor"], m["batch"]) for m in found["measurements"]] == [("cpu", 1), ("cpu", 64), ("cpu", 1024)]
    assert all(0 < m["p50_us"] <= m["p99_us"] for m in found["measurements"])
    advice = found["recommendation"]
    assert (advice["instance_type"], advice["neo_target"]) == ("ml.c5.large", "ml_c5")
    assert "not measured here: gpu" in advice["reason"]
    assert "uncompiled TorchScript; runs on the CPU" in found["loaded"]


def test_an_objective_nothing_meets_is_said_plainly(bare_cli: Any, tmp_path: Path) -> None:
    archive = pytorch_model_tar(tmp_path)

    result = bare_cli("advise", "--model-tar", str(archive), "--family", "pytorch", "--p99-us", "1", "--batch", "1024")

    assert result.exit_code == 0, result.output
    assert "recommendation: no measured processor meets p99 <= 1 us at batch 1024" in " ".join(result.stdout.split())


def test_a_batch_size_that_was_not_measured_is_refused(bare_cli: Any, tmp_path: Path) -> None:
    result = bare_cli("advise", "--model-tar", str(tmp_path / "none.tar.gz"), "--family", "pytorch", "--batch", "7")
    assert result.exit_code == 1
    assert "--batch must be one of 1, 64, 1024" in result.stderr
