"""The local SageMaker engine on real data: breast cancer (binary) and wine (3 classes).

Training runs the container in a subprocess exactly as the offline cloud will; compilation builds
real shared libraries with gcc; hosting compares compiled and XGBoost predictions row by row.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xgboost
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.metrics import roc_auc_score

from localcloud.sagemaker_engine import compilation
from localcloud.sagemaker_engine.compilation import CompilationOutcome, compile_model
from localcloud.sagemaker_engine.inference import (
    CompiledModel,
    format_csv_predictions,
    load_model,
    parse_csv_payload,
)
from localcloud.sagemaker_engine.training import TrainingOutcome, run_training

TIMEOUT = 120.0
METRIC_LINE = re.compile(r"^\[(\d+)\]\ttrain-auc:\d\.\d{5}\tvalidation-auc:(\d\.\d{5})$", re.MULTILINE)


@dataclass(frozen=True)
class Split:
    train_csv: Path
    validation_csv: Path
    validation_features: npt.NDArray[np.float32]
    validation_labels: npt.NDArray[np.float64]


def _write_label_first_csv(path: Path, features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> None:
    """Headerless, label first; missing features written both ways the contract allows ("" and "nan")."""
    lines = []
    for index, (row, label) in enumerate(zip(features, labels, strict=True)):
        missing = "" if index % 2 else "nan"
        fields = [missing if np.isnan(value) else repr(float(value)) for value in row]
        lines.append(",".join([str(int(label)), *fields]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _split(directory: Path, features: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], seed: int) -> Split:
    rng = np.random.default_rng(seed)
    features = features.copy()
    features[rng.random(features.shape) < 0.03] = np.nan  # real gaps for the missing-value paths
    order = rng.permutation(len(labels))
    cut = int(len(labels) * 0.7)
    train, validation = order[:cut], order[cut:]
    directory.mkdir(parents=True, exist_ok=True)
    _write_label_first_csv(directory / "train.csv", features[train], labels[train])
    _write_label_first_csv(directory / "validation.csv", features[validation], labels[validation])
    return Split(
        train_csv=directory / "train.csv",
        validation_csv=directory / "validation.csv",
        validation_features=features[validation].astype(np.float32),
        validation_labels=labels[validation].astype(np.float64),
    )


def _train(job_dir: Path, split: Split, hyperparameters: dict[str, str], timeout: float = TIMEOUT) -> TrainingOutcome:
    channels = {"train": split.train_csv, "validation": split.validation_csv}
    return run_training(job_dir, hyperparameters, channels, timeout)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _untar(archive_bytes: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


# --- shared, expensive fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> Split:
    features, labels = load_breast_cancer(return_X_y=True)
    return _split(tmp_path_factory.mktemp("cancer"), features, labels, seed=7)


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Split:
    features, labels = load_wine(return_X_y=True)
    return _split(tmp_path_factory.mktemp("wine"), features, labels, seed=11)


@pytest.fixture(scope="module")
def binary_job(cancer: Split, tmp_path_factory: pytest.TempPathFactory) -> TrainingOutcome:
    hyperparameters = {
        "objective": "binary:logistic",
        "num_round": "30",
        "max_depth": "3",
        "eta": "0.3",
        "subsample": "0.9",
        "eval_metric": "auc",
        "seed": "42",
    }
    return _train(tmp_path_factory.mktemp("binary-job"), cancer, hyperparameters)


@pytest.fixture(scope="module")
def multiclass_job(wine: Split, tmp_path_factory: pytest.TempPathFactory) -> TrainingOutcome:
    hyperparameters = {"objective": "multi:softprob", "num_class": "3", "num_round": "20", "max_depth": "3"}
    return _train(tmp_path_factory.mktemp("multiclass-job"), wine, hyperparameters)


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder for every loaded model, as an endpoint host would have: libraries must not collide.
    return tmp_path_factory.mktemp("host")


@pytest.fixture(scope="module")
def binary_compiled(binary_job: TrainingOutcome, tmp_path_factory: pytest.TempPathFactory) -> CompilationOutcome:
    assert binary_job.model_tar_gz is not None
    return compile_model(binary_job.model_tar_gz, "XGBOOST", "ml_c5", tmp_path_factory.mktemp("neo-binary"))


@pytest.fixture(scope="module")
def multiclass_compiled(
    multiclass_job: TrainingOutcome, tmp_path_factory: pytest.TempPathFactory
) -> CompilationOutcome:
    assert multiclass_job.model_tar_gz is not None
    return compile_model(multiclass_job.model_tar_gz, "XGBOOST", "ml_c5", tmp_path_factory.mktemp("neo-multi"))


# --- training ----------------------------------------------------------------------------------


def test_binary_training_completes_with_model_and_metrics(binary_job: TrainingOutcome, cancer: Split) -> None:
    assert binary_job.status == "Completed", binary_job.log
    assert binary_job.failure_reason is None
    assert binary_job.model_tar_gz is not None
    model_bytes = _untar(binary_job.model_tar_gz)["xgboost-model"]
    metrics = {metric["MetricName"]: metric["Value"] for metric in binary_job.final_metrics}
    assert set(metrics) == {"train:auc", "validation:auc"}
    assert metrics["validation:auc"] > 0.9

    # The reported metric is the model's real quality: recompute it from the artefact itself.
    booster = xgboost.Booster()
    booster.load_model(bytearray(model_bytes))
    predictions = booster.inplace_predict(cancer.validation_features, missing=np.nan)
    assert roc_auc_score(cancer.validation_labels, predictions) == pytest.approx(metrics["validation:auc"], abs=1e-4)


def test_binary_training_logs_metric_lines_sagemaker_can_parse(binary_job: TrainingOutcome) -> None:
    lines = METRIC_LINE.findall(binary_job.log)
    assert [int(round_) for round_, _ in lines] == list(range(30))
    metrics = {metric["MetricName"]: metric["Value"] for metric in binary_job.final_metrics}
    assert float(lines[-1][1]) == pytest.approx(metrics["validation:auc"], abs=1e-5)


def test_model_is_saved_as_json_that_treelite_can_read(binary_job: TrainingOutcome) -> None:
    assert binary_job.model_tar_gz is not None
    model_bytes = _untar(binary_job.model_tar_gz)["xgboost-model"]
    document = json.loads(model_bytes)
    assert document["learner"]["objective"]["name"] == "binary:logistic"
    assert int(document["learner"]["learner_model_param"]["num_feature"]) == 30


def test_multiclass_training_reports_mlogloss(multiclass_job: TrainingOutcome) -> None:
    assert multiclass_job.status == "Completed", multiclass_job.log
    names = {metric["MetricName"] for metric in multiclass_job.final_metrics}
    assert names == {"train:mlogloss", "validation:mlogloss"}


def test_unknown_objective_fails_with_xgboost_reason(cancer: Split, tmp_path: Path) -> None:
    outcome = _train(tmp_path / "job", cancer, {"objective": "foo", "num_round": "5"})
    assert outcome.status == "Failed"
    assert outcome.model_tar_gz is None
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("ClientError: Unknown objective function: `foo`")
    assert "\n" not in outcome.failure_reason
    assert len(outcome.failure_reason) <= 1000
    assert (tmp_path / "job" / "output" / "failure").read_text() == outcome.failure_reason


def test_missing_num_round_fails(cancer: Split, tmp_path: Path) -> None:
    outcome = _train(tmp_path / "job", cancer, {"objective": "binary:logistic", "max_depth": "3"})
    assert outcome.status == "Failed"
    assert outcome.failure_reason == "ClientError: Hyperparameter num_round is required"


def test_non_numeric_csv_fails_naming_the_line(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("1,0.5,2.0\n0,0.1,abc\n1,0.7,2.5\n", encoding="utf-8")
    outcome = run_training(tmp_path / "job", {"num_round": "5"}, {"train": data}, TIMEOUT)
    assert outcome.status == "Failed"
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("ClientError: unable to parse text/csv")
    assert "line 2, column 3: 'abc' is not a number" in outcome.failure_reason


def test_runtime_limit_stops_the_job(cancer: Split, tmp_path: Path) -> None:
    hyperparameters = {"objective": "binary:logistic", "num_round": "1000000", "max_depth": "8"}
    outcome = _train(tmp_path / "job", cancer, hyperparameters, timeout=1.5)
    assert outcome.status == "Failed"
    assert outcome.secondary_status == "MaxRuntimeExceeded"
    assert outcome.failure_reason is not None
    assert outcome.failure_reason.startswith("MaxRuntimeExceeded")
    assert outcome.model_tar_gz is None
    assert outcome.seconds < 30


# --- compilation -------------------------------------------------------------------------------


def test_compile_for_cpu_target_packages_library_manifest_and_model(
    binary_compiled: CompilationOutcome, binary_job: TrainingOutcome
) -> None:
    assert binary_compiled.status == "COMPLETED", binary_compiled.failure_reason
    assert binary_compiled.artifact_tar_gz is not None
    files = _untar(binary_compiled.artifact_tar_gz)
    assert set(files) == {"model.so", "compiled.json", "xgboost-model"}
    assert files["model.so"].startswith(b"\x7fELF")
    assert binary_job.model_tar_gz is not None
    assert files["xgboost-model"] == _untar(binary_job.model_tar_gz)["xgboost-model"]
    manifest = json.loads(files["compiled.json"])
    assert manifest["compiler"] == "tl2cgen"
    assert manifest["framework"] == "XGBOOST"
    assert manifest["target_device"] == "ml_c5"
    assert manifest["num_features"] == 30
    assert manifest["num_class"] == 1
    assert manifest["objective"] == "binary:logistic"
    assert "ml_c5" in binary_compiled.status_message
    assert "GPU" not in binary_compiled.status_message
    assert manifest["entry_point"] == "conveyor_predict_rows"
    assert manifest["optimisation"] == "-O1"


def test_compile_records_the_measured_routing_threshold(binary_compiled: CompilationOutcome) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    manifest = json.loads(_untar(binary_compiled.artifact_tar_gz)["compiled.json"])
    threshold, timings = manifest["xgboost_from_rows"], manifest["routing_timings_us"]
    assert [int(batch) for batch in timings] == list(compilation.ROUTING_BATCHES)
    assert all(len(pair) == 2 and min(pair) > 0 for pair in timings.values())
    # XGBoost was faster from the threshold on, at every size timed, and not just below it.
    faster = [int(batch) for batch, (library_us, xgboost_us) in timings.items() if xgboost_us < library_us]
    if threshold is None:
        assert compilation.ROUTING_BATCHES[-1] not in faster
    else:
        assert [batch for batch in faster if batch >= threshold] == [
            batch for batch in compilation.ROUTING_BATCHES if batch >= threshold
        ]
        assert threshold == 1 or threshold // 2 not in faster


def test_compile_for_gpu_target_says_no_gpu_code(binary_job: TrainingOutcome, tmp_path: Path) -> None:
    assert binary_job.model_tar_gz is not None
    outcome = compile_model(binary_job.model_tar_gz, "XGBOOST", "ml_g4dn", tmp_path)
    assert outcome.status == "COMPLETED", outcome.failure_reason
    assert "no GPU code was generated offline for target ml_g4dn" in outcome.status_message
    assert outcome.artifact_tar_gz is not None
    assert json.loads(_untar(outcome.artifact_tar_gz)["compiled.json"])["target_device"] == "ml_g4dn"


def test_compiled_binary_predictions_match_xgboost(
    binary_compiled: CompilationOutcome, binary_job: TrainingOutcome, cancer: Split, host_dir: Path
) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    assert binary_job.model_tar_gz is not None
    compiled = load_model(binary_compiled.artifact_tar_gz, host_dir)
    plain = load_model(binary_job.model_tar_gz, host_dir)
    assert (compiled.kind, plain.kind) == ("compiled", "xgboost")

    compiled_predictions = compiled.predict(cancer.validation_features)
    plain_predictions = plain.predict(cancer.validation_features)
    assert compiled_predictions.shape == plain_predictions.shape == (len(cancer.validation_labels),)
    assert np.isnan(cancer.validation_features).any()  # the missing-value branches were exercised
    np.testing.assert_allclose(compiled_predictions, plain_predictions, rtol=0, atol=1e-5)
    assert ((compiled_predictions > 0) & (compiled_predictions < 1)).all()  # probabilities, not margins


def test_compiled_multiclass_probabilities_match_xgboost(
    multiclass_compiled: CompilationOutcome, multiclass_job: TrainingOutcome, wine: Split, host_dir: Path
) -> None:
    assert multiclass_compiled.status == "COMPLETED", multiclass_compiled.failure_reason
    assert multiclass_compiled.artifact_tar_gz is not None
    assert multiclass_job.model_tar_gz is not None
    compiled = load_model(multiclass_compiled.artifact_tar_gz, host_dir)
    plain = load_model(multiclass_job.model_tar_gz, host_dir)

    compiled_predictions = compiled.predict(wine.validation_features)
    plain_predictions = plain.predict(wine.validation_features)
    assert compiled_predictions.shape == plain_predictions.shape == (len(wine.validation_labels), 3)
    np.testing.assert_allclose(compiled_predictions, plain_predictions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(compiled_predictions.sum(axis=1), 1.0, atol=1e-5)
    accuracy = (compiled_predictions.argmax(axis=1) == wine.validation_labels).mean()
    assert accuracy > 0.85


def test_compiled_multi_softmax_predicts_class_index(wine: Split, tmp_path: Path) -> None:
    table = np.genfromtxt(wine.train_csv, delimiter=",", dtype=np.float32)
    booster = xgboost.train(
        {"objective": "multi:softmax", "num_class": 3, "max_depth": 2},
        xgboost.DMatrix(table[:, 1:], label=table[:, 0], missing=np.nan),
        num_boost_round=10,
    )
    model_tar_gz = _tar({"xgboost-model": bytes(booster.save_raw(raw_format="json"))})
    outcome = compile_model(model_tar_gz, "XGBOOST", "ml_m5", tmp_path / "neo")
    assert outcome.status == "COMPLETED", outcome.failure_reason
    assert outcome.artifact_tar_gz is not None
    compiled = load_model(outcome.artifact_tar_gz, tmp_path / "host").predict(wine.validation_features)
    plain = load_model(model_tar_gz, tmp_path / "host").predict(wine.validation_features)
    assert set(np.unique(compiled)) <= {0.0, 1.0, 2.0}
    np.testing.assert_array_equal(compiled, plain)


def test_compile_rejects_other_frameworks(binary_job: TrainingOutcome, tmp_path: Path) -> None:
    assert binary_job.model_tar_gz is not None
    outcome = compile_model(binary_job.model_tar_gz, "PYTORCH", "ml_c5", tmp_path)
    assert outcome.status == "FAILED"
    assert outcome.artifact_tar_gz is None
    assert outcome.failure_reason is not None
    assert "the offline compiler handles XGBOOST only; got PYTORCH" in outcome.failure_reason


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"xgboost-model": b"this is not a model"}, "xgboost-model is not a loadable XGBoost model"),
        ({"model.pth": b"\x80\x04"}, "holds no xgboost-model; found ['model.pth']"),
    ],
)
def test_compile_fails_on_unusable_models(files: dict[str, bytes], expected: str, tmp_path: Path) -> None:
    outcome = compile_model(_tar(files), "XGBOOST", "ml_c5", tmp_path)
    assert outcome.status == "FAILED"
    assert outcome.artifact_tar_gz is None
    assert outcome.failure_reason is not None
    assert expected in outcome.failure_reason


def test_compile_fails_on_linear_models(cancer: Split, tmp_path: Path) -> None:
    table = np.genfromtxt(cancer.train_csv, delimiter=",", dtype=np.float32)
    booster = xgboost.train(
        {"booster": "gblinear", "objective": "binary:logistic"},
        xgboost.DMatrix(table[:, 1:], label=table[:, 0], missing=np.nan),
        num_boost_round=3,
    )
    outcome = compile_model(_tar({"xgboost-model": bytes(booster.save_raw())}), "XGBOOST", "ml_c5", tmp_path)
    assert outcome.status == "FAILED"
    assert (
        outcome.failure_reason
        == "ClientError: the offline compiler compiles tree models; this one uses booster gblinear"
    )


def test_compile_fails_when_the_library_disagrees_with_xgboost(
    binary_job: TrainingOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force a wrong post-processing step (class index for a binary model): the probe must catch it.
    real_manifest = compilation._manifest

    def wrong_manifest(target_device: str, objective: str, translation_units: int) -> dict[str, Any]:
        return {**real_manifest(target_device, objective, translation_units), "postprocess": "argmax"}

    monkeypatch.setattr(compilation, "_manifest", wrong_manifest)
    assert binary_job.model_tar_gz is not None
    outcome = compile_model(binary_job.model_tar_gz, "XGBOOST", "ml_c5", tmp_path)
    assert outcome.status == "FAILED"
    assert outcome.artifact_tar_gz is None
    assert outcome.failure_reason is not None
    assert "does not reproduce XGBoost's predictions for objective binary:logistic" in outcome.failure_reason


def test_compile_fails_on_bytes_that_are_not_a_tarball(tmp_path: Path) -> None:
    outcome = compile_model(b"\x1f\x8b garbage", "XGBOOST", "ml_c5", tmp_path)
    assert outcome.status == "FAILED"
    assert outcome.failure_reason is not None
    assert "not a readable tar.gz" in outcome.failure_reason


# --- hosting -----------------------------------------------------------------------------------


def test_unloadable_library_falls_back_to_the_bundled_xgboost_model(
    binary_compiled: CompilationOutcome, cancer: Split, tmp_path: Path
) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    files = _untar(binary_compiled.artifact_tar_gz)
    files["model.so"] = b"not an ELF library"
    model = load_model(_tar(files), tmp_path)
    assert model.kind == "xgboost"
    assert model.note is not None
    assert "compiled library unusable" in model.note
    assert model.predict(cancer.validation_features[:3]).shape == (3,)


def _with_manifest(artefact: bytes, **changes: Any) -> dict[str, bytes]:
    files = _untar(artefact)
    files["compiled.json"] = json.dumps({**json.loads(files["compiled.json"]), **changes}).encode()
    return files


def test_large_batches_are_routed_to_the_bundled_xgboost_model(
    binary_compiled: CompilationOutcome, binary_job: TrainingOutcome, cancer: Split, tmp_path: Path
) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    assert binary_job.model_tar_gz is not None
    model = load_model(_tar(_with_manifest(binary_compiled.artifact_tar_gz, xgboost_from_rows=8)), tmp_path)
    plain = load_model(binary_job.model_tar_gz, tmp_path)
    assert isinstance(model, CompiledModel)
    assert model.kind == "compiled"
    assert model.note is not None
    assert "batches of 8+ rows go to the bundled XGBoost model" in model.note
    assert [model.serving_path(rows) for rows in (1, 7, 8, 500)] == ["compiled", "compiled", "xgboost", "xgboost"]
    for rows in (cancer.validation_features[:7], cancer.validation_features):
        np.testing.assert_allclose(model.predict(rows), plain.predict(rows), rtol=0, atol=1e-5)
    # The library itself still answers every size when asked directly.
    np.testing.assert_allclose(
        model.library_predict(cancer.validation_features), plain.predict(cancer.validation_features), atol=1e-5
    )


def test_no_routing_without_a_threshold_or_a_bundled_model(binary_compiled: CompilationOutcome, tmp_path: Path) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    never = load_model(_tar(_with_manifest(binary_compiled.artifact_tar_gz, xgboost_from_rows=None)), tmp_path)
    files = _with_manifest(binary_compiled.artifact_tar_gz, xgboost_from_rows=1)
    del files["xgboost-model"]
    unbundled = load_model(_tar(files), tmp_path)
    for model in (never, unbundled):
        assert isinstance(model, CompiledModel)
        assert model.note is None
        assert model.serving_path(10_000) == "compiled"


def test_library_without_the_entry_point_falls_back_to_xgboost(
    binary_compiled: CompilationOutcome, cancer: Split, tmp_path: Path
) -> None:
    # An artefact compiled before the entry point existed, say: served, by the bundled model.
    assert binary_compiled.artifact_tar_gz is not None
    files = _with_manifest(binary_compiled.artifact_tar_gz, entry_point="no_such_function")
    model = load_model(_tar(files), tmp_path)
    assert model.kind == "xgboost"
    assert model.note is not None
    assert "no no_such_function entry point" in model.note
    assert model.predict(cancer.validation_features[:2]).shape == (2,)


def test_compiled_library_serves_concurrent_requests_without_a_lock(
    binary_compiled: CompilationOutcome, cancer: Split, host_dir: Path
) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    model = load_model(binary_compiled.artifact_tar_gz, host_dir)
    rows = cancer.validation_features
    expected = [model.predict(rows[index : index + 1]) for index in range(len(rows))]
    indices = list(range(len(rows))) * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda index: model.predict(rows[index : index + 1]), indices))
    np.testing.assert_array_equal(np.concatenate(answers), np.concatenate([expected[index] for index in indices]))


def test_predict_rejects_the_wrong_number_of_features(binary_job: TrainingOutcome, host_dir: Path) -> None:
    assert binary_job.model_tar_gz is not None
    model = load_model(binary_job.model_tar_gz, host_dir)
    with pytest.raises(ValueError, match="rows have 29 features; the model expects 30"):
        model.predict(np.zeros((2, 29), dtype=np.float32))


def test_csv_request_round_trip_through_a_compiled_endpoint(
    binary_compiled: CompilationOutcome, cancer: Split, host_dir: Path
) -> None:
    assert binary_compiled.artifact_tar_gz is not None
    model = load_model(binary_compiled.artifact_tar_gz, host_dir)
    rows = cancer.validation_features[:5]
    body = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in rows).encode()
    parsed = parse_csv_payload(body, model.num_features)
    np.testing.assert_array_equal(parsed, rows)
    response = format_csv_predictions(model.predict(parsed)).decode().split("\n")
    assert len(response) == 5
    np.testing.assert_allclose([float(v) for v in response], model.predict(rows), atol=1e-7)


def test_parse_csv_payload_reads_missing_values() -> None:
    rows = parse_csv_payload(b"1,2.5,3\r\n4,,nan\n-1e3, NaN ,0\n", expected_features=3)
    assert rows.dtype == np.float32
    assert rows.shape == (3, 3)
    np.testing.assert_array_equal(np.isnan(rows), [[False] * 3, [False, True, True], [False, True, False]])
    assert rows[2, 0] == -1000.0
    assert parse_csv_payload(b"0.5,1\n", expected_features=None).shape == (1, 2)


@pytest.mark.parametrize(
    ("body", "expected_features", "message"),
    [
        (b"", 3, "payload is empty"),
        (b"\n\n", 3, "payload is empty"),
        (b"1,2,3\n4,5\n", None, "line 2: 2 columns where earlier rows have 3"),
        (b"1,2,oops\n", 3, r"line 1, column 3: 'oops' is not a number"),
        (b"1,2\n", 3, "payload rows have 2 features; the model expects 3"),
        (b"0,1,2,3\n", 3, "no label column"),
        (b"1,inf,3\n", 3, "infinite value"),
        (b"\xff\xfe1,2", 2, "not UTF-8"),
    ],
)
def test_parse_csv_payload_rejects_bad_input(body: bytes, expected_features: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_csv_payload(body, expected_features)


def test_format_csv_predictions() -> None:
    assert format_csv_predictions(np.array([0.25, 0.75], dtype=np.float32)) == b"0.25\n0.75"
    probabilities = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], dtype=np.float32)
    assert format_csv_predictions(probabilities) == b"0.1,0.2,0.7\n0.5,0.25,0.25"
    with pytest.raises(ValueError, match="1-D or 2-D"):
        format_csv_predictions(np.zeros((1, 1, 1)))
