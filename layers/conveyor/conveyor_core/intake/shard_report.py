"""What one Processing instance reports about its shard of a drop, as JSON the merge reads back.

A shard is reported file by file, because the merge must fold files in the drop's key order to
give what one pass gives: the first file with bad data names the reason, the column count is the
first file's, labels are counted in order of first appearance. The row sample is the shard's as a
whole: it keeps the smallest crc32s, whatever the order.

Only the standard library and ``csv_dataset`` are imported: this runs inside the Processing image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from conveyor_core.intake.csv_dataset import ColumnStats, DatasetValidator, InvalidDatasetError, RowSample

REPORT_VERSION = 1


@dataclass
class FileReport:
    """One input file, validated on its own (``continues_dataset`` unless it is the drop's first)."""

    key: str
    index: int  # its place in the drop's key order
    bytes_read: int = 0
    sha256: str = ""
    rows: int = 0
    train_rows: int = 0
    validation_rows: int = 0
    columns: int = 0
    first_row_line: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    column_stats: list[ColumnStats] = field(default_factory=list)
    distinct: list[str] = field(default_factory=list)  # hex digests of its first distinct rows
    problem: dict[str, Any] | None = None  # reason, detail, problems, line
    # A later file's problem had it been the drop's first (every file before it blank): its first
    # row is then a header or too short, which a file that continues the drop does not check.
    problem_as_first: dict[str, Any] | None = None

    @classmethod
    def of(cls, key: str, index: int, validator: DatasetValidator, error: InvalidDatasetError | None) -> FileReport:
        report = validator.seal()
        return cls(
            key=key,
            index=index,
            bytes_read=report.bytes_read,
            sha256=report.sha256,
            rows=report.rows,
            train_rows=report.train_rows,
            validation_rows=report.validation_rows,
            columns=report.columns,
            first_row_line=validator.first_row_line,
            label_counts=dict(report.label_counts),
            column_stats=list(report.column_stats),
            distinct=sorted(digest.hex() for digest in validator.distinct_digests),
            problem=problem_of(validator, error),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "index": self.index,
            "bytes": self.bytes_read,
            "sha256": self.sha256,
            "rows": self.rows,
            "train_rows": self.train_rows,
            "validation_rows": self.validation_rows,
            "columns": self.columns,
            "first_row_line": self.first_row_line,
            # A list keeps the order of first appearance through any JSON reader.
            "label_counts": [[label, count] for label, count in self.label_counts.items()],
            "column_stats": [_stats_json(stats) for stats in self.column_stats],
            "distinct": self.distinct,
            "problem": self.problem,
            "problem_as_first": self.problem_as_first,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> FileReport:
        return cls(
            key=str(document["key"]),
            index=int(document["index"]),
            bytes_read=int(document["bytes"]),
            sha256=str(document["sha256"]),
            rows=int(document["rows"]),
            train_rows=int(document["train_rows"]),
            validation_rows=int(document["validation_rows"]),
            columns=int(document["columns"]),
            first_row_line=int(document["first_row_line"]),
            label_counts={str(label): int(count) for label, count in document["label_counts"]},
            column_stats=[_stats_of(item) for item in document["column_stats"]],
            distinct=[str(digest) for digest in document["distinct"]],
            problem=document.get("problem"),
            problem_as_first=document.get("problem_as_first"),
        )


def problem_of(validator: DatasetValidator, error: InvalidDatasetError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "reason": error.reason,
        "detail": error.detail,
        "problems": error.problems,
        # 0 for a problem raised while reading (bad gzip, an overlong line): it came first.
        "line": validator.first_problem_line if error.problems else 0,
    }


@dataclass
class ShardReport:
    host: str
    files: list[FileReport]
    sample: RowSample

    def as_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "host": self.host,
            "files": [report.as_json() for report in self.files],
            # Rows passed validation, so they are UTF-8 text.
            "sample": [[crc, line.decode()] for crc, line in self.sample.entries()],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> ShardReport:
        if document.get("version") != REPORT_VERSION:
            raise ValueError(f"shard report version {document.get('version')!r}; this merge reads {REPORT_VERSION}")
        sample = RowSample()
        entries = [(int(crc), str(line).encode()) for crc, line in document["sample"]]
        if entries:
            sample.offer([crc for crc, _ in entries], [line for _, line in entries])
        return cls(
            host=str(document["host"]),
            files=[FileReport.from_json(item) for item in document["files"]],
            sample=sample,
        )


def _stats_json(stats: ColumnStats) -> list[float | int | None]:
    # JSON has no infinity: an empty column's min and max are written as null.
    finite = stats.count > 0
    return [
        stats.count,
        stats.missing,
        stats.minimum if finite else None,
        stats.maximum if finite else None,
        stats.mean,
        stats.m2,
    ]


def _stats_of(item: list[Any]) -> ColumnStats:
    count, missing, minimum, maximum, mean, m2 = item
    return ColumnStats(
        count=int(count),
        missing=int(missing),
        minimum=math.inf if minimum is None else float(minimum),
        maximum=-math.inf if maximum is None else float(maximum),
        mean=float(mean),
        m2=float(m2),
    )
