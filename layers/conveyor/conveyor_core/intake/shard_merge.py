"""Finish a drop after its Processing job: merge the shards' reports into the report one pass gives.

The files are folded in the drop's key order, which is the order one pass reads them in:

* the first file with bad data names the reason, with its own problems (one pass raises at the end
  of the first file that has any); a file whose rows have another column count than the drop's
  first file is ``ragged-row`` at its first row, as one pass would report it;
* column statistics fold with Chan's exact merge (``ColumnStats.merge``): counts, missing counts,
  minimum and maximum are equal to one pass's, mean and variance equal to within float rounding;
* labels are counted in order of first appearance, up to MAX_DISTINCT_LABELS as one pass counts
  them (equal whenever a drop has at most that many distinct labels: every classification drop);
* the row sample keeps the smallest crc32s, so it is the one pass's sample exactly;
* the split is the same rows on the same side (a row's side is its crc32's), written as one part
  per input file instead of one file.

The dataset's sha256 cannot be merged from pieces: a drop read by Processing is identified by the
sha256 of its files' sha256 digests in key order. The same data keeps the same digest on the same
path, so a scheduled run still skips unchanged data.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from conveyor_core.families import ModelFamily
from conveyor_core.intake import s3_io
from conveyor_core.intake.csv_dataset import (
    MAX_DISTINCT_LABELS,
    MIN_ROWS,
    ColumnStats,
    DatasetReport,
    InvalidDatasetError,
    check_complete,
)
from conveyor_core.intake.preprocess import check_feature_count, published, quarantined
from conveyor_core.intake.shard_report import FileReport, ShardReport
from conveyor_core.shared.contracts import (
    DEFAULT_TRAINING_VOLUME_GB,
    PipelineInput,
    PreprocessOutput,
    ProcessingPlan,
)


class ShardsIncompleteError(RuntimeError):
    """The job completed without a report for every file: not bad data, a fault the run fails on."""


def read_shards(s3_client: Any, reports_uri: str) -> list[ShardReport]:
    bucket, prefix = s3_io.split_uri(reports_uri)
    shards: list[ShardReport] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3_client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            shards.append(ShardReport.from_json(json.loads(body)))
    return shards


def _files_in_order(shards: list[ShardReport], keys: list[str]) -> list[FileReport]:
    files = sorted((report for shard in shards for report in shard.files), key=lambda report: report.index)
    reported = [report.key for report in files]
    if reported != keys:
        missing = sorted(set(keys) - set(reported))
        twice = sorted({key for key in reported if reported.count(key) > 1})
        raise ShardsIncompleteError(
            f"the Processing job reported {len(reported)} of the drop's {len(keys)} files"
            + (f"; none for {missing[:5]}" if missing else "")
            + (f"; twice for {twice[:5]}" if twice else "")
        )
    return files


def _raise_if_bad(report: FileReport, columns: int) -> None:
    """The file's first problem as one pass would report it, given the drop's column count so far.

    No columns so far means every file before this one was blank: its first row is the drop's first.
    """
    problem = report.problem if columns or report.problem_as_first is None else report.problem_as_first
    mismatch = bool(columns and report.columns and report.columns != columns)
    if problem is not None and (not mismatch or int(problem["line"]) < report.first_row_line):
        raise InvalidDatasetError(str(problem["reason"]), str(problem["detail"]), list(problem["problems"]))
    if mismatch:
        raise InvalidDatasetError(
            "ragged-row",
            f"{report.key} line {report.first_row_line}: {report.columns} columns where the first row has {columns}",
        )


def merge_reports(shards: list[ShardReport], keys: list[str]) -> tuple[DatasetReport, int]:
    """The drop's report and its count of distinct rows (up to MIN_ROWS); raises InvalidDatasetError."""
    merged = DatasetReport()
    distinct: set[str] = set()
    digest = hashlib.sha256()
    for report in _files_in_order(shards, keys):
        _raise_if_bad(report, merged.columns)
        if report.columns and not merged.columns:
            merged.columns = report.columns
            merged.column_stats = [ColumnStats() for _ in range(report.columns)]
        for total, part in zip(merged.column_stats, report.column_stats, strict=False):
            total.merge(part)
        counts = merged.label_counts
        for label, count in report.label_counts.items():
            if label in counts or len(counts) < MAX_DISTINCT_LABELS:
                counts[label] = counts.get(label, 0) + count
        merged.rows += report.rows
        merged.train_rows += report.train_rows
        merged.validation_rows += report.validation_rows
        merged.bytes_read += report.bytes_read
        for row in report.distinct:
            if len(distinct) >= MIN_ROWS:
                break
            distinct.add(row)
        digest.update(bytes.fromhex(report.sha256))
    for shard in shards:
        merged.sample.merge(shard.sample)
    merged.sha256 = digest.hexdigest()
    return merged, len(distinct)


def train_parts(shards: list[ShardReport]) -> int:
    return sum(1 for shard in shards for report in shard.files if report.train_rows)


def merge_shards(
    s3_client: Any,
    run: PipelineInput,
    plan: ProcessingPlan,
    artifact_bucket: str,
    family: ModelFamily,
    hyperparameters: dict[str, str],
    production_features: int | None,
    drift_threshold: float,
    training_instance_count: int,
) -> PreprocessOutput:
    """Accept the drop as Processing split it (statistics and baseline written) or quarantine it."""
    shards = read_shards(s3_client, plan.reports_uri)
    try:
        report, distinct_rows = merge_reports(shards, list(run.dataset.keys))
        check_complete(report, distinct_rows, family.label_task(hyperparameters))
        check_feature_count(report, production_features)
    except InvalidDatasetError as error:
        return quarantined(s3_client, run, error)
    result = published(
        s3_client,
        artifact_bucket,
        run,
        report,
        family,
        hyperparameters,
        drift_threshold,
        train_uri=plan.train_uri,
        validation_uri=plan.validation_uri,
    )
    instances = min(training_instance_count, train_parts(shards)) if family.distributed_training else 1
    return result.model_copy(
        update={
            "training_instance_count": instances,
            "training_distribution": "ShardedByS3Key" if instances > 1 else "FullyReplicated",
            "training_volume_gb": training_volume_gb(report, instances),
        }
    )


def training_volume_gb(report: DatasetReport, instances: int) -> int:
    """Room for an instance's share of the training rows and the whole validation set, with half again spare.

    The split is about as large as the drop (gzip parts inflate: ``bytes_read`` counts what was read).
    """
    share = report.bytes_read * (report.train_rows / max(report.rows, 1)) / instances
    validation = report.bytes_read * (report.validation_rows / max(report.rows, 1))
    return max(DEFAULT_TRAINING_VOLUME_GB, math.ceil(1.5 * (share + validation) / 1024**3))
