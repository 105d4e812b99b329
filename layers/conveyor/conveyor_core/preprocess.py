"""Preprocess one drop: validate it while streaming, write the split and statistics, or quarantine it."""

from __future__ import annotations

from typing import Any

from conveyor_core import s3_io
from conveyor_core.contracts import PipelineInput, PreprocessOutput
from conveyor_core.csv_dataset import DatasetValidator, InvalidDatasetError


class DatasetTooLargeError(RuntimeError):
    """Valid data that is too big for the Lambda path; the run fails with this as its cause."""


def _total_bytes(s3_client: Any, run: PipelineInput) -> int:
    total = 0
    for key in run.dataset.keys:
        request = {"Bucket": run.dataset.bucket, "Key": key}
        if run.dataset.version_id and len(run.dataset.keys) == 1:
            request["VersionId"] = run.dataset.version_id
        try:
            total += int(s3_client.head_object(**request)["ContentLength"])
        except s3_client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
                raise InvalidDatasetError(
                    "object-missing", f"s3://{run.dataset.bucket}/{key} no longer exists"
                ) from error
            raise
    return total


def preprocess(
    s3_client: Any,
    run: PipelineInput,
    artifact_bucket: str,
    hyperparameters: dict[str, str],
    validation_fraction: float,
    max_dataset_bytes: int,
) -> PreprocessOutput:
    prefix = f"runs/{run.run_id}/data/"
    train = s3_io.S3StreamWriter(s3_client, artifact_bucket, f"{prefix}train/train.csv")
    validation = s3_io.S3StreamWriter(s3_client, artifact_bucket, f"{prefix}validation/validation.csv")
    objective = hyperparameters.get("objective", "reg:squarederror")
    validator = DatasetValidator(train, validation, objective, validation_fraction)
    try:
        size = _total_bytes(s3_client, run)
        if size > max_dataset_bytes:
            raise DatasetTooLargeError(
                f"the dataset is {size} bytes; the Lambda preprocessing limit is {max_dataset_bytes} bytes "
                "(raise MaxDatasetBytes or split the drop)"
            )
        for key in run.dataset.keys:
            version = run.dataset.version_id if len(run.dataset.keys) == 1 else None
            validator.consume(key, s3_io.iter_object_lines(s3_client, run.dataset.bucket, key, version))
        report = validator.finish()
    except InvalidDatasetError as error:
        train.abort()
        validation.abort()
        uri = s3_io.quarantine(
            s3_client,
            run.dataset.bucket,
            run.dataset.keys,
            f"quarantine/{run.run_id}/",
            {"reason": error.reason, "detail": error.detail, "problems": error.problems, "stage": "preprocess"},
            version_id=run.dataset.version_id,
        )
        return PreprocessOutput(status="quarantined", reason=error.reason, detail=error.detail, quarantine_uri=uri)
    train.close()
    validation.close()
    statistics = report.statistics()
    statistics["dataset_uri"] = run.dataset.uri
    statistics_uri = s3_io.put_json(s3_client, artifact_bucket, f"runs/{run.run_id}/statistics.json", statistics)
    return PreprocessOutput(
        status="ok",
        train_uri=f"s3://{artifact_bucket}/{prefix}train/",
        validation_uri=f"s3://{artifact_bucket}/{prefix}validation/",
        statistics_uri=statistics_uri,
        dataset_sha256=report.sha256,
        rows=report.rows,
        features=report.feature_count,
        hyperparameters=validator.derived_hyperparameters(hyperparameters),
    )
