"""Distributed XGBoost offline: one container per host, each on its shard, meeting at a Rabit tracker.

What SageMaker's built-in XGBoost does with InstanceCount > 1 and a ShardedByS3Key train channel:
every host trains the same trees from histograms summed across hosts, and the first host saves the
model. The model must be as good as one trained on one host with every row, and a failing host must
fail the job naming it, without leaving the others waiting forever.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from localcloud.sagemaker_engine.inference import read_tar_members
from localcloud.sagemaker_engine.xgboost_engine import ENGINE

HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "20", "eval_metric": "auc", "max_depth": "3"}
TIMEOUT = 120.0


def _write(path: Path, rows: npt.NDArray[np.float64]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join(f"{v:.10g}" for v in row) for row in rows) + "\n")


@pytest.fixture(scope="module")
def data() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    features, labels = load_breast_cancer(return_X_y=True)
    table = np.column_stack([labels, features]).astype(np.float64)
    rng = np.random.default_rng(0)
    rng.shuffle(table)
    return table[:450], table[450:]


def _cluster_channels(tmp_path: Path, train: npt.NDArray[np.float64], validation: npt.NDArray[np.float64], hosts: int):  # type: ignore[no-untyped-def]
    channels = {}
    for index in range(hosts):
        host = f"algo-{index + 1}"
        _write(tmp_path / host / "train" / "part.csv", train[index::hosts])
        _write(tmp_path / host / "validation" / "part.csv", validation)
        channels[host] = {"train": tmp_path / host / "train", "validation": tmp_path / host / "validation"}
    return channels


def test_two_hosts_train_one_model_as_good_as_one_host_with_every_row(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    train, validation = data
    channels = _cluster_channels(tmp_path / "data", train, validation, 2)
    dirs = {host: tmp_path / "jobs" / host for host in channels}

    outcome = ENGINE.train_cluster(dirs, HYPERPARAMETERS, channels, TIMEOUT, {})

    assert outcome.status == "Completed", outcome.failure_reason
    assert "[algo-1]" in outcome.log
    assert "[algo-2]" in outcome.log
    assert not (dirs["algo-2"] / "model" / "xgboost-model").exists(), "only the first host saves the model"
    booster = xgboost.Booster()
    booster.load_model(bytearray(read_tar_members(outcome.model_tar_gz or b"")["xgboost-model"]))
    distributed_auc = roc_auc_score(validation[:, 0], booster.predict(xgboost.DMatrix(validation[:, 1:])))

    single = ENGINE.train(
        tmp_path / "single",
        HYPERPARAMETERS,
        _cluster_channels(tmp_path / "one", train, validation, 1)["algo-1"],
        TIMEOUT,
        {},
    )
    assert single.status == "Completed"
    single_booster = xgboost.Booster()
    single_booster.load_model(bytearray(read_tar_members(single.model_tar_gz or b"")["xgboost-model"]))
    single_auc = roc_auc_score(validation[:, 0], single_booster.predict(xgboost.DMatrix(validation[:, 1:])))
    assert distributed_auc > 0.95
    assert abs(distributed_auc - single_auc) < 0.02
    # The validation metric is the job's, computed over every host's evaluation.
    [metric] = [m for m in outcome.final_metrics if m["MetricName"] == "validation:auc"]
    assert abs(metric["Value"] - distributed_auc) < 1e-6


def test_a_failing_host_fails_the_job_naming_it_and_stops_the_others(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    train, validation = data
    channels = _cluster_channels(tmp_path / "data", train, validation, 3)
    (channels["algo-3"]["train"] / "part.csv").write_text("1,abc,2\n")
    dirs = {host: tmp_path / "jobs" / host for host in channels}

    outcome = ENGINE.train_cluster(dirs, HYPERPARAMETERS, channels, TIMEOUT, {})

    assert outcome.status == "Failed"
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("algo-3: ClientError:")
    assert outcome.seconds < 60, "the hosts waiting for algo-3 were stopped"
