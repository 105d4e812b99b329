"""The SageMaker built-in XGBoost container, run locally: ``python -m ... <job_dir>``.

``<job_dir>`` plays the part of ``/opt/ml``. The contract is the real container's:

* ``input/config/hyperparameters.json`` holds string values under SageMaker's names;
* ``input/data/<channel>/`` holds headerless ``text/csv`` files, label first;
* the model goes to ``model/xgboost-model``, the reason for a failure to ``output/failure``
  (SageMaker turns that file into ``FailureReason``), and metric lines go to stdout in XGBoost's
  ``[round]<TAB>train-auc:0.98<TAB>validation-auc:0.97`` form, which is what SageMaker's metric
  regexes and CloudWatch (``#011`` is the tab) expect.

On top of that, ``output/metrics.json`` carries the final-round value of every metric so the
offline SageMaker can fill ``FinalMetricDataList`` without scraping logs.

This module runs in its own process so a bad job can neither crash nor outlive the offline cloud;
it imports xgboost only after the cheap checks so configuration errors fail fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]

MODEL_FILE_NAME = "xgboost-model"
FAILURE_REASON_MAX_CHARS = 1000
CSV_CONTENT_TYPES = frozenset({"text/csv", "csv", "text/csv;label_size=1"})

# SageMaker's own knobs: they steer the container and must not reach xgboost.train's params.
_CONTAINER_HYPERPARAMETERS = frozenset(
    {"num_round", "early_stopping_rounds", "csv_weights", "_tuning_objective_metric", "save_model_on_termination"}
)
_UNSUPPORTED_HYPERPARAMETERS = {
    "_kfold": "k-fold cross-validation is not supported by the offline XGBoost container",
    "_num_cv_round": "k-fold cross-validation is not supported by the offline XGBoost container",
}
# Accepted so the caller can reject them by name ("infinite value") rather than as text.
_INFINITIES = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
# XGBoost prefixes errors with "[12:00:00] /workspace/src/x.cc:27: " and appends a native stack.
_XGBOOST_LOCATION = re.compile(r"^\[\d{2}:\d{2}:\d{2}\] [^:]+:\d+: ")


class ClientError(Exception):
    """The job's own inputs are wrong; SageMaker prefixes such reasons with ``ClientError:``."""


@dataclass(frozen=True)
class Dataset:
    """One channel's rows: features with NaN for missing values, labels and optional weights."""

    features: FloatMatrix
    labels: FloatMatrix
    weights: FloatMatrix | None


@dataclass(frozen=True)
class TrainingPlan:
    """Hyperparameters split into what the container acts on and what goes to xgboost verbatim."""

    num_round: int
    params: dict[str, Any]
    early_stopping_rounds: int | None
    csv_weights: bool


# --- CSV -------------------------------------------------------------------------------------------


def parse_csv_matrix(text: str, source: str) -> FloatMatrix:
    """Parse headerless numeric CSV into float32 rows, NaN for an empty or ``nan`` field.

    numpy's C parser handles the common, clean case; only when it refuses (an empty field, text,
    a ragged row) does the line-by-line parser run, either to accept empty fields or to name the
    exact line and column that is wrong.
    """
    if not text.strip():
        return np.empty((0, 0), dtype=np.float32)
    matrix = _parse_csv_quickly(text)
    if matrix is None:
        matrix = _parse_csv_slowly(text, source)
    if matrix.size and np.isinf(matrix).any():
        row = int(np.argwhere(np.isinf(matrix))[0][0]) + 1
        raise ValueError(f"{source}: data row {row} holds an infinite value, which XGBoost rejects")
    return matrix


def _parse_csv_quickly(text: str) -> FloatMatrix | None:
    # numpy, like float(), reads "1_000"; XGBoost's own CSV reader does not, so neither do we.
    if "_" in text:
        return None
    try:
        matrix: FloatMatrix = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2, comments=None)
    except ValueError:
        return None
    return matrix


def _parse_csv_slowly(text: str, source: str) -> FloatMatrix:
    rows: list[list[float]] = []
    width: int | None = None
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            raise ValueError(f"{source} line {line_number}: {len(fields)} columns where earlier rows have {width}")
        rows.append([_parse_field(field, source, line_number, column) for column, field in enumerate(fields, 1)])
    if not rows:
        return np.empty((0, 0), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32)


def _parse_field(field: str, source: str, line_number: int, column: int) -> float:
    value = field.strip()
    if not value or value.lower() == "nan":
        return math.nan
    if _FLOAT.fullmatch(value) or value.lower() in _INFINITIES:
        return float(value)
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise ValueError(f"{source} line {line_number}, column {column}: {shown!r} is not a number")


def _channel_files(channel_dir: Path) -> list[Path]:
    # S3 prefixes arrive as nested folders; dotfiles are S3 console/manifest litter, not data.
    return sorted(
        path
        for path in channel_dir.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(channel_dir).parts)
    )


def load_channel(channel_dir: Path, channel: str, csv_weights: bool) -> Dataset:
    """Read every file of a channel as one label-first CSV table."""
    files = _channel_files(channel_dir)
    if not files:
        raise ClientError(f"channel {channel!r} has no files")
    blocks: list[FloatMatrix] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
            matrix = parse_csv_matrix(text, f"{channel}/{path.relative_to(channel_dir)}")
        except UnicodeDecodeError as error:
            raise ClientError(f"{channel}/{path.name} is not UTF-8 text/csv: {error}") from None
        except ValueError as error:
            raise ClientError(f"unable to parse text/csv: {error}") from None
        if matrix.size:
            blocks.append(matrix)
    if not blocks:
        raise ClientError(f"channel {channel!r} holds no rows")
    widths = {block.shape[1] for block in blocks}
    if len(widths) > 1:
        raise ClientError(f"files in channel {channel!r} disagree on the number of columns: {sorted(widths)}")
    return _split_columns(np.vstack(blocks), channel, csv_weights)


def _split_columns(table: FloatMatrix, channel: str, csv_weights: bool) -> Dataset:
    first_feature = 2 if csv_weights else 1
    if table.shape[1] <= first_feature:
        raise ClientError(f"channel {channel!r} has no feature columns after the label")
    labels = table[:, 0]
    if np.isnan(labels).any():
        row = int(np.argwhere(np.isnan(labels))[0][0]) + 1
        raise ClientError(f"channel {channel!r} data row {row} has no label (the first column must be numeric)")
    weights = table[:, 1] if csv_weights else None
    if weights is not None and np.isnan(weights).any():
        raise ClientError(f"channel {channel!r} has a missing instance weight (csv_weights=1 reads column 2)")
    return Dataset(features=np.ascontiguousarray(table[:, first_feature:]), labels=labels, weights=weights)


# --- hyperparameters ------------------------------------------------------------------------------


def _parse_value(value: str) -> int | float | str:
    text = value.strip()
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _positive_int(hyperparameters: Mapping[str, str], name: str) -> int:
    raw = hyperparameters[name].strip()
    if not _INT.fullmatch(raw) or int(raw) < 1:
        raise ClientError(f"Hyperparameter {name} must be a positive integer; got {raw!r}")
    return int(raw)


def plan_training(hyperparameters: Mapping[str, str]) -> TrainingPlan:
    """Validate SageMaker hyperparameters and translate them to xgboost.train arguments."""
    for name, why in _UNSUPPORTED_HYPERPARAMETERS.items():
        if name in hyperparameters:
            raise ClientError(f"Hyperparameter {name}: {why}")
    if "num_round" not in hyperparameters:
        raise ClientError("Hyperparameter num_round is required")
    params: dict[str, Any] = {}
    for name, value in hyperparameters.items():
        if name in _CONTAINER_HYPERPARAMETERS or name.startswith("sagemaker_"):
            continue
        if name == "eval_metric":
            params[name] = [metric.strip() for metric in value.split(",") if metric.strip()]
        else:
            params[name] = _parse_value(value)
    _add_tuning_metric(params, hyperparameters.get("_tuning_objective_metric"))
    csv_weights = hyperparameters.get("csv_weights", "0").strip()
    if csv_weights not in {"0", "1"}:
        raise ClientError(f"Hyperparameter csv_weights must be 0 or 1; got {csv_weights!r}")
    return TrainingPlan(
        num_round=_positive_int(hyperparameters, "num_round"),
        params=params,
        early_stopping_rounds=(
            _positive_int(hyperparameters, "early_stopping_rounds")
            if "early_stopping_rounds" in hyperparameters
            else None
        ),
        csv_weights=csv_weights == "1",
    )


def _add_tuning_metric(params: dict[str, Any], tuning_metric: str | None) -> None:
    # Like the real container: a tuning job's objective metric is always evaluated, asked for or not.
    if not tuning_metric:
        return
    metric = tuning_metric.split(":", 1)[-1]
    metrics: list[str] = params.setdefault("eval_metric", [])
    if metric not in metrics:
        metrics.append(metric)


# --- training -------------------------------------------------------------------------------------


def describe_xgboost_error(error: BaseException) -> str:
    """XGBoost's message without its timestamp/source prefix or native stack trace, on one line."""
    message = str(error).split("Stack trace:", 1)[0]
    lines = [_XGBOOST_LOCATION.sub("", line).strip() for line in message.splitlines()]
    return "; ".join(line for line in lines if line)


def _dmatrix(xgboost: Any, dataset: Dataset) -> Any:
    return xgboost.DMatrix(dataset.features, label=dataset.labels, weight=dataset.weights, missing=math.nan)


def train(job_dir: Path, plan: TrainingPlan) -> None:
    """Train, stream metric lines, then save the model and final metrics where SageMaker looks."""
    data_dir = job_dir / "input" / "data"
    train_set = load_channel(data_dir / "train", "train", plan.csv_weights)
    validation_dir = data_dir / "validation"
    validation_set = load_channel(validation_dir, "validation", plan.csv_weights) if validation_dir.exists() else None
    if validation_set is not None and validation_set.features.shape[1] != train_set.features.shape[1]:
        raise ClientError(
            f"validation has {validation_set.features.shape[1]} feature columns but train has "
            f"{train_set.features.shape[1]}"
        )
    if plan.early_stopping_rounds is not None and validation_set is None:
        raise ClientError("Hyperparameter early_stopping_rounds needs a validation channel")

    import xgboost

    cluster = _cluster(job_dir)
    with _collective(xgboost, cluster):
        evals = [(_dmatrix(xgboost, train_set), "train")]
        if validation_set is not None:
            evals.append((_dmatrix(xgboost, validation_set), "validation"))
        rows = train_set.features.shape[0]
        print(f"Train matrix has {rows} rows and {train_set.features.shape[1]} columns", flush=True)
        evals_result: dict[str, dict[str, list[float]]] = {}
        try:
            booster = xgboost.train(
                plan.params,
                evals[0][0],
                num_boost_round=plan.num_round,
                evals=evals,
                evals_result=evals_result,
                early_stopping_rounds=plan.early_stopping_rounds,
                verbose_eval=True,  # XGBoost's EvaluationMonitor prints the exact lines SageMaker parses.
            )
        except xgboost.core.XGBoostError as error:
            raise ClientError(describe_xgboost_error(error)) from None
    if cluster is not None and cluster.current_host != cluster.hosts[0]:
        return  # every host holds the same trees; the first one saves them, as SageMaker's container does
    model_dir = job_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    # JSON (not the UBJ a suffix-less name would get) so treelite, and people, can read it as is.
    (model_dir / MODEL_FILE_NAME).write_bytes(bytes(booster.save_raw(raw_format="json")))
    _write_json(job_dir / "output" / "metrics.json", final_metrics(evals_result))


@dataclass(frozen=True)
class Cluster:
    """The job's hosts, from ``input/config/resourceconfig.json``, and where their tracker listens."""

    current_host: str
    hosts: list[str]
    tracker_uri: str
    tracker_port: int


def _cluster(job_dir: Path) -> Cluster | None:
    """The cluster this container is one host of, or None for a single-instance job."""
    path = job_dir / "input" / "config" / "resourceconfig.json"
    if not path.exists():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    hosts = sorted(str(host) for host in config.get("hosts", []))
    if len(hosts) < 2:
        return None
    try:
        uri, port = os.environ["DMLC_TRACKER_URI"], int(os.environ["DMLC_TRACKER_PORT"])
    except (KeyError, ValueError):
        raise RuntimeError(f"{len(hosts)} hosts but no tracker address (DMLC_TRACKER_URI, DMLC_TRACKER_PORT)") from None
    return Cluster(str(config["current_host"]), hosts, uri, port)


def _collective(xgboost: Any, cluster: Cluster | None) -> Any:
    """XGBoost's collective for a distributed job (histograms summed across hosts); nothing for one host."""
    if cluster is None:
        return contextlib.nullcontext()
    return xgboost.collective.CommunicatorContext(
        dmlc_tracker_uri=cluster.tracker_uri,
        dmlc_tracker_port=cluster.tracker_port,
        dmlc_task_id=cluster.current_host,
    )


def final_metrics(evals_result: Mapping[str, Mapping[str, list[float]]]) -> list[dict[str, Any]]:
    """Last-round values named like SageMaker's ``validation:auc``; NaN is dropped as SageMaker's regex would."""
    metrics: list[dict[str, Any]] = []
    for eval_name, by_metric in evals_result.items():
        for metric_name, history in by_metric.items():
            if history and math.isfinite(float(history[-1])):
                metrics.append({"MetricName": f"{eval_name}:{metric_name}", "Value": float(history[-1])})
    return metrics


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


# --- entry point ----------------------------------------------------------------------------------


def _check_content_types(job_dir: Path) -> None:
    config_path = job_dir / "input" / "config" / "inputdataconfig.json"
    if not config_path.exists():
        return
    config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    for channel, settings in config.items():
        content_type = str(settings.get("ContentType", "text/csv")).replace(" ", "").lower()
        if content_type not in CSV_CONTENT_TYPES:
            raise ClientError(
                f"channel {channel!r} has ContentType {settings.get('ContentType')!r}; "
                "the offline XGBoost container reads text/csv only"
            )


def run(job_dir: Path) -> None:
    """The whole job; raises ClientError for bad inputs, anything else for container faults."""
    hyperparameters_path = job_dir / "input" / "config" / "hyperparameters.json"
    hyperparameters: dict[str, str] = (
        json.loads(hyperparameters_path.read_text(encoding="utf-8")) if hyperparameters_path.exists() else {}
    )
    _check_content_types(job_dir)
    plan = plan_training({name: str(value) for name, value in hyperparameters.items()})
    print(f"Hyperparameters: {json.dumps(hyperparameters, sort_keys=True)}", flush=True)
    train(job_dir, plan)


def failure_reason(error: BaseException) -> str:
    """One line, at most 1000 characters, prefixed the way SageMaker's built-in algorithms do."""
    kind = "ClientError" if isinstance(error, ClientError) else "AlgorithmError"
    detail = " ".join(str(error).split()) or type(error).__name__
    if kind == "AlgorithmError":
        detail = f"{type(error).__name__}: {detail}"
    return f"{kind}: {detail}"[:FAILURE_REASON_MAX_CHARS]


def main(argv: Iterable[str]) -> int:
    args = list(argv)
    if len(args) != 1:
        print("usage: python -m localcloud.sagemaker_engine.xgboost_container <job_dir>", file=sys.stderr)
        return 2
    job_dir = Path(args[0])
    try:
        run(job_dir)
    except Exception as error:  # every failure must become output/failure, like the real container
        reason = failure_reason(error)
        print(reason, file=sys.stderr, flush=True)
        failure_path = job_dir / "output" / "failure"
        failure_path.parent.mkdir(parents=True, exist_ok=True)
        failure_path.write_text(reason, encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
