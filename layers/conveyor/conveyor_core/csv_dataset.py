"""Streaming validation, train/validation split and statistics for built-in-XGBoost CSV.

The contract (SageMaker's built-in XGBoost, ``text/csv``): no header, the label in the first
column, numeric features after it. The whole dataset passes through once, one line at a time,
so memory stays constant whatever the file size.

What is bad data here follows XGBoost itself: an empty field or ``nan`` in a *feature* is a
missing value, which XGBoost handles, so it is legal. A missing/non-numeric/NaN/inf label, an inf
feature, text in a feature, a ragged row, a single class for a classification objective, fewer
than MIN_ROWS distinct rows, or no rows at all is not.

XGBoost's CSV reader (dmlc-core) ends lines at ``\n`` or ``\r`` and skips a UTF-8 byte-order mark,
so CRLF files and a BOM at the start of a file are valid; the split is written with plain ``\n``
and no BOM either way.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

CLASSIFICATION_PREFIXES = ("binary:", "multi:")
MAX_REPORTED_PROBLEMS = 5
MAX_DISTINCT_LABELS = 1000
MIN_ROWS = 10
MAX_LINE_BYTES = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

# Python's float() also takes "1_000", " 1 " and "infinity"; XGBoost's CSV reader does not.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MISSING = frozenset({"", "nan", "NaN", "NAN"})
_SPLIT_BUCKETS = 10_000


class InvalidDatasetError(ValueError):
    """The dataset breaks the contract; ``reason`` is machine-readable, ``problems`` show examples."""

    def __init__(self, reason: str, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.problems = problems or []


class Sink(Protocol):
    def write(self, data: bytes) -> Any: ...


@dataclass
class ColumnStats:
    """Running count/missing/min/max/mean/variance (Welford), mergeable into a baseline document."""

    count: int = 0
    missing: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def as_dict(self) -> dict[str, float | int | None]:
        has_values = self.count > 0
        return {
            "count": self.count,
            "missing": self.missing,
            "min": self.minimum if has_values else None,
            "max": self.maximum if has_values else None,
            "mean": self.mean if has_values else None,
            "stddev": math.sqrt(self.m2 / self.count) if has_values else None,
        }


@dataclass
class DatasetReport:
    rows: int = 0
    train_rows: int = 0
    validation_rows: int = 0
    columns: int = 0
    bytes_read: int = 0
    sha256: str = ""
    label_counts: dict[str, int] = field(default_factory=dict)
    column_stats: list[ColumnStats] = field(default_factory=list)

    @property
    def feature_count(self) -> int:
        return max(self.columns - 1, 0)

    def statistics(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "train_rows": self.train_rows,
            "validation_rows": self.validation_rows,
            "features": self.feature_count,
            "bytes": self.bytes_read,
            "sha256": self.sha256,
            "label": self.column_stats[0].as_dict() if self.column_stats else {},
            "label_counts": self.label_counts,
            "features_stats": [stats.as_dict() for stats in self.column_stats[1:]],
        }


def is_classification(objective: str) -> bool:
    return objective.startswith(CLASSIFICATION_PREFIXES)


def _looks_numeric_or_missing(text: str) -> bool:
    return text.strip().lower() in _MISSING or _parse_number(text.strip()) is not None


def _parse_number(text: str) -> float | None:
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower() in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
        return math.inf
    return None


class DatasetValidator:
    """Feed it the lines of one or more files, then ``finish()``; it writes the split as it goes."""

    def __init__(self, train: Sink, validation: Sink, objective: str, validation_fraction: float) -> None:
        self._train = train
        self._validation = validation
        self._objective = objective
        self._threshold = int(validation_fraction * _SPLIT_BUCKETS)
        self._hash = hashlib.sha256()
        self._problems: list[str] = []
        self._problem_reason: str | None = None
        # Digests of the first MIN_ROWS distinct rows: enough to tell "too few distinct rows" apart.
        self._distinct: set[bytes] = set()
        self.report = DatasetReport()

    def consume(self, source_name: str, lines: Iterable[bytes]) -> None:
        for number, raw in enumerate(lines, start=1):
            self._hash.update(raw)
            self.report.bytes_read += len(raw)
            self._consume_line(source_name, number, raw)
            if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                break
        self._raise_if_problems()

    def finish(self) -> DatasetReport:
        report = self.report
        report.sha256 = self._hash.hexdigest()
        if report.rows == 0:
            raise InvalidDatasetError("empty-dataset", "the dataset has no data rows")
        if report.rows < MIN_ROWS:
            raise InvalidDatasetError(
                "too-few-rows", f"{report.rows} rows; at least {MIN_ROWS} are needed to train and validate"
            )
        if len(self._distinct) < MIN_ROWS:
            raise InvalidDatasetError(
                "duplicate-rows",
                f"only {len(self._distinct)} distinct rows among {report.rows}; at least {MIN_ROWS} distinct rows "
                "are needed (identical rows add no information and always land on the same side of the split)",
            )
        if report.validation_rows == 0 or report.train_rows == 0:
            raise InvalidDatasetError(
                "split-empty",
                f"the split left {report.train_rows} training and {report.validation_rows} validation rows",
            )
        if is_classification(self._objective):
            self._check_classes()
        return report

    def derived_hyperparameters(self, hyperparameters: dict[str, str]) -> dict[str, str]:
        """Hyperparameters that follow from the data (``num_class`` for multi-class objectives)."""
        derived = dict(hyperparameters)
        if self._objective.startswith("multi:") and "num_class" not in derived:
            # XGBoost wants labels in [0, num_class), so a missing class in between still counts.
            derived["num_class"] = str(int(max(float(label) for label in self.report.label_counts)) + 1)
        return derived

    def _check_classes(self) -> None:
        labels = self.report.label_counts
        if len(labels) < 2:
            raise InvalidDatasetError(
                "single-class",
                f"objective {self._objective} needs at least two classes, the labels are {sorted(labels)}",
            )
        numeric = sorted(float(label) for label in labels)
        if not all(value.is_integer() and value >= 0 for value in numeric):
            raise InvalidDatasetError(
                "bad-class-labels", f"classification labels must be 0, 1, 2, ...; got {numeric[:10]}"
            )
        if self._objective.startswith("binary:") and numeric[-1] > 1:
            raise InvalidDatasetError("bad-class-labels", f"binary labels must be 0 or 1; got {numeric[:10]}")

    def _problem(self, reason: str, message: str) -> None:
        self._problem_reason = self._problem_reason or reason
        self._problems.append(message)

    def _raise_if_problems(self) -> None:
        if self._problems:
            assert self._problem_reason is not None
            raise InvalidDatasetError(self._problem_reason, self._problems[0], self._problems)

    def _consume_line(self, source: str, number: int, raw: bytes) -> None:
        where = f"{source} line {number}"
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
        if len(raw) > MAX_LINE_BYTES:
            self._problem("line-too-long", f"{where}: a line of {len(raw)} bytes exceeds {MAX_LINE_BYTES}")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            self._problem("not-utf8", f"{where}: not UTF-8 ({error.reason} at byte {error.start})")
            return
        text = text.rstrip("\r\n")
        if not text.strip():
            return
        fields = text.split(",")
        report = self.report
        if report.columns == 0:
            if len(fields) < 2:
                self._problem(
                    "too-few-columns", f"{where}: {len(fields)} column; need a label and at least one feature"
                )
                return
            report.columns = len(fields)
            report.column_stats = [ColumnStats() for _ in fields]
        elif len(fields) != report.columns:
            self._problem("ragged-row", f"{where}: {len(fields)} columns where the first row has {report.columns}")
            return
        label = _parse_number(fields[0].strip())
        if label is None or not math.isfinite(label):
            if fields[0].strip() == "":
                self._problem("missing-label", f"{where}: the label (first column) is empty")
            elif label is None and report.rows == 0 and not _looks_numeric_or_missing(fields[0]):
                self._problem(
                    "header-row",
                    f"{where}: the first row looks like a header ({fields[0][:40]!r}); built-in XGBoost CSV has none",
                )
            else:
                self._problem("bad-label", f"{where}: the label {fields[0][:40]!r} is not a finite number")
            return
        values: list[float | None] = [label]
        for column, raw_cell in enumerate(fields[1:], start=2):
            cell = raw_cell.strip()
            if cell in _MISSING:
                values.append(None)
                continue
            value = _parse_number(cell)
            if value is None:
                self._problem("non-numeric-feature", f"{where}, column {column}: {cell[:40]!r} is not a number")
                return
            if not math.isfinite(value):
                self._problem("infinite-feature", f"{where}, column {column}: {cell[:40]!r} is infinite")
                return
            values.append(value)
        for stats, value in zip(report.column_stats, values, strict=True):
            if value is None:
                stats.missing += 1
            else:
                stats.add(value)
        key = format(label + 0.0, "g")  # + 0.0 folds -0 into 0: one class, not two
        if key in report.label_counts or len(report.label_counts) < MAX_DISTINCT_LABELS:
            report.label_counts[key] = report.label_counts.get(key, 0) + 1
        report.rows += 1
        line = text.encode() + b"\n"
        if len(self._distinct) < MIN_ROWS:
            self._distinct.add(hashlib.blake2b(line, digest_size=16).digest())
        if zlib.crc32(line) % _SPLIT_BUCKETS < self._threshold:
            report.validation_rows += 1
            self._validation.write(line)
        else:
            report.train_rows += 1
            self._train.write(line)
