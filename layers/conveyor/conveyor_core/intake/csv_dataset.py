"""Streaming validation, train/validation split and statistics for label-first numeric CSV.

The contract is the one SageMaker's built-in XGBoost reads (``text/csv``), and every model family
here trains on it: no header, the label in the first column, numeric features after it. What the
label must look like (classes or any number) is the family's ``LabelTask``. The whole dataset
passes through once, one line at a time, so memory stays constant whatever the file size.

What is bad data here follows XGBoost itself: an empty field or ``nan`` in a *feature* is a
missing value, which XGBoost handles, so it is legal. A missing/non-numeric/NaN/inf label, an inf
feature, text in a feature, a ragged row, a single class for a classification objective, fewer
than MIN_ROWS distinct rows, or no rows at all is not.

XGBoost's CSV reader (dmlc-core) ends lines at ``\n`` or ``\r`` and skips a UTF-8 byte-order mark,
so CRLF files and a BOM at the start of a file are valid; the split is written with plain ``\n``
and no BOM either way.

Speed: ``consume_blocks`` takes blocks of whole lines and checks them in pieces of about a MiB
with a few C-level calls each: bytes.translate/split/count here, then pandas' C reader and numpy
for the numbers and statistics (``piece_parser``), crc32 through map for the split. That fast path
accepts only a subset of valid data and commits nothing unless the whole piece passes; any other
piece goes line by line through the exact path that ``consume`` uses, so rows, split, statistics,
reason codes and messages never depend on which path ran.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the Processing job imports this module where pydantic (which families need) is not
    from conveyor_core.families.base import LabelTask

MAX_REPORTED_PROBLEMS = 5
MAX_DISTINCT_LABELS = 1000
MIN_ROWS = 10
MAX_LINE_BYTES = 1024 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

# Python's float() also takes "1_000", " 1 " and "infinity"; XGBoost's CSV reader does not.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MISSING = frozenset({"", "nan", "NaN", "NAN"})
_SPLIT_BUCKETS = 10_000
# The fast path's alphabet. Without "_", "i", "f" or any non-ASCII byte, a stripped cell that pandas'
# float reader accepts is exactly one the grammar above accepts: pandas stands in for the regex.
_PLAIN_BYTES = b"0123456789+-.eE,\n"
_OTHER_FAST_BYTES = b"naNA \t\r"
# The fast path parses a block in pieces this big: pandas' per-call cost is then under a tenth of
# the parse, and a piece's matrix (about its size again) stays small (1 MiB was fastest of 256 KiB,
# 1, 4 and 8 MiB on a 100 MB file).
_PIECE_BYTES = 1024 * 1024
# Rows kept for the monitoring baseline's distributions (conveyor_core.monitoring.baseline): with 2,048
# baseline rows and 1,000 captured ones, the sampling noise of a feature's distribution distance stays
# well under Model Monitor's default drift threshold of 0.1.
SAMPLE_ROWS = 2048
_CRC_SPACE = 2**32


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

    def merge(self, other: ColumnStats) -> None:
        """Fold in another piece's summary (Chan et al.'s parallel form of Welford's update)."""
        self.missing += other.missing
        if not other.count:
            return
        count = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * (other.count / count)
        self.m2 += other.m2 + delta * delta * (self.count * other.count / count)
        self.count = count
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

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


class RowSample:
    """At most ``size`` rows: those whose crc32 is smallest, a uniform sample whatever the order or the pieces.

    Identical rows share a crc32, so a duplicated row is in or out as a whole; the sample is for
    distributions, where that matters as little as in the split.
    """

    def __init__(self, size: int = SAMPLE_ROWS) -> None:
        self.size = size
        self._rows: list[tuple[int, bytes]] = []
        self._bound = _CRC_SPACE  # once full, only a row hashing below the largest kept one gets in

    @property
    def bound(self) -> int:
        """Only a row whose crc32 is below this can get in."""
        return self._bound

    def offer(self, crcs: list[int], lines: list[bytes]) -> None:
        """Consider rows (each ending in its newline) whose crc32s are ``crcs``."""
        self.keep([*compress(zip(crcs, lines, strict=True), map(operator.lt, crcs, repeat(self._bound)))])

    def keep(self, below: list[tuple[int, bytes]]) -> None:
        """Take in rows, as (crc32, row), whose crc32 is below ``bound``."""
        if not below:
            return
        # The kept rows are sorted, so this sort is one merge with the few new ones: far cheaper than
        # heapq.nsmallest, whose result (sorted(...)[:size]) it equals.
        merged = self._rows + below
        merged.sort()
        del merged[self.size :]
        self._rows = merged
        if len(self._rows) == self.size:
            self._bound = self._rows[-1][0]

    def merge(self, other: RowSample) -> None:
        """Fold in another sample (a shard's): the result is the sample one pass over both would keep."""
        if other._rows:
            crcs, lines = zip(*other._rows, strict=True)
            self.offer(list(crcs), list(lines))

    def entries(self) -> list[tuple[int, bytes]]:
        """(crc32, row with its newline) of each sampled row, smallest crc32 first."""
        return list(self._rows)

    def lines(self) -> list[bytes]:
        """The sampled rows without their newline."""
        return [line[:-1] for _crc, line in self._rows]

    def __eq__(self, other: object) -> bool:
        # Reports compare equal whichever path (fast or exact) read the rows: so must their samples.
        return isinstance(other, RowSample) and (self.size, self._rows) == (other.size, other._rows)

    __hash__ = None  # type: ignore[assignment]


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
    # A uniform sample of the rows as written to the split (label first), for the monitoring baseline.
    sample: RowSample = field(default_factory=RowSample)

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


def _looks_numeric_or_missing(text: str) -> bool:
    return text.strip().lower() in _MISSING or _parse_number(text.strip()) is not None


def _parse_number(text: str) -> float | None:
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower() in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
        return math.inf
    return None


@dataclass
class _Parsed:
    """A piece whose every row passed the fast path, ready to commit."""

    line_count: int  # the piece's lines, blank ones included: the line numbers it takes
    lines: list[bytes]  # the rows as written to the split, each ending in its newline
    labels: list[tuple[float, int]]  # each distinct label and its count, in order of first appearance
    stats: list[ColumnStats]  # label column first


@dataclass
class _Lines:
    count: int  # the piece's lines, blank ones included
    rows: bytes  # its non-blank lines (CR before LF dropped), joined
    lines: list[bytes]  # the same, one by one, each ending in its newline
    plain: bool  # only _PLAIN_BYTES: no blank, CR, tab or "nan" anywhere


def _fast_lines(data: bytes) -> _Lines | None:
    """The piece's lines, or None if it needs the exact path. Only the fast path's alphabet passes;
    the row shapes are ``piece_parser.read_matrix``'s to check.
    """
    other = data.translate(None, _PLAIN_BYTES)  # usually empty: then none of the checks below apply
    if other.translate(None, _OTHER_FAST_BYTES):
        return None
    if b"\r" in other:
        if data.count(b"\r") != data.count(b"\r\n"):
            return None  # a CR inside a line, or several ending one: rare, left to the exact path
        data = data.replace(b"\r\n", b"\n")
    if not data.endswith(b"\n"):
        data += b"\n"  # the file's last line: written to the split with a newline like the others
    # Only "\n" ends a line here: the alphabet holds none of splitlines' other separators.
    lines = data.splitlines(keepends=True)
    if len(data) >= MAX_LINE_BYTES and max(map(len, lines)) >= MAX_LINE_BYTES:
        return None  # a line too long, or nearly: the exact path decides
    line_count = len(lines)
    # A blank line is an element of its own: looking for it in the list is far cheaper than
    # searching the bytes for "\n\n", whose first byte is everywhere.
    if b"\n" in lines:
        lines = [line for line in lines if line != b"\n"]
        data = b"".join(lines)
    return _Lines(line_count, data, lines, not other)


def _pieces(block: bytes, start: int, size: int) -> Iterator[bytes]:
    """``block[start:]`` in pieces of whole lines, each about ``size`` bytes (or one longer line).

    A rest of at most a quarter more than ``size`` is one piece: a block is a read of ``size`` plus
    the line it cut, and a piece of that line alone would cost a pandas call of its own.
    """
    while start < len(block):
        if len(block) - start <= size + size // 4:
            yield block[start:]
            return
        end = block.rfind(b"\n", start, start + size) + 1
        if end <= start:
            end = block.find(b"\n", start + size) + 1 or len(block)
        yield block[start:end]
        start = end


def _parse_piece(data: bytes, columns: int) -> _Parsed | None:
    """Parse a piece whose every row is valid, or return None (nothing is decided for it)."""
    fast = _fast_lines(data)
    if fast is None:
        return None
    if not fast.lines:
        return _Parsed(fast.count, [], [], [ColumnStats() for _ in range(columns)])
    # Imported here, once: the handlers that never parse a piece never load numpy and pandas.
    from conveyor_core.intake import piece_parser

    matrix = piece_parser.read_matrix(fast.rows, len(fast.lines), columns, plain=fast.plain)
    if matrix is None:
        return None
    stats = piece_parser.column_stats(matrix)
    if stats is None:
        return None
    return _Parsed(fast.count, fast.lines, piece_parser.label_counts(matrix[:, 0]), stats)


def check_complete(report: DatasetReport, distinct_rows: int, task: LabelTask) -> None:
    """The checks only the whole drop can answer (a single pass's end, or the merge of its shards)."""
    if report.rows == 0:
        raise InvalidDatasetError("empty-dataset", "the dataset has no data rows")
    if report.rows < MIN_ROWS:
        raise InvalidDatasetError(
            "too-few-rows", f"{report.rows} rows; at least {MIN_ROWS} are needed to train and validate"
        )
    if distinct_rows < MIN_ROWS:
        raise InvalidDatasetError(
            "duplicate-rows",
            f"only {distinct_rows} distinct rows among {report.rows}; at least {MIN_ROWS} distinct rows "
            "are needed (identical rows add no information and always land on the same side of the split)",
        )
    if report.validation_rows == 0 or report.train_rows == 0:
        raise InvalidDatasetError(
            "split-empty",
            f"the split left {report.train_rows} training and {report.validation_rows} validation rows",
        )
    if task.is_classification:
        _check_classes(report.label_counts, task)


def _check_classes(labels: dict[str, int], task: LabelTask) -> None:
    if len(labels) < 2:
        raise InvalidDatasetError(
            "single-class",
            f"{task.described_as} needs at least two classes, the labels are {sorted(labels)}",
        )
    numeric = sorted(float(label) for label in labels)
    if not all(value.is_integer() and value >= 0 for value in numeric):
        raise InvalidDatasetError("bad-class-labels", f"classification labels must be 0, 1, 2, ...; got {numeric[:10]}")
    if task.kind == "binary" and numeric[-1] > 1:
        raise InvalidDatasetError("bad-class-labels", f"binary labels must be 0 or 1; got {numeric[:10]}")


class DatasetValidator:
    """Feed it the lines of one or more files, then ``finish()``; it writes the split as it goes."""

    def __init__(
        self,
        train: Sink,
        validation: Sink,
        task: LabelTask | None,
        validation_fraction: float,
        *,
        continues_dataset: bool = False,
    ) -> None:
        """``continues_dataset``: these lines follow other files of the drop (a Processing shard's
        file that is not the drop's first), so the first row is neither a header nor the row that
        sets the column count for the drop; the merge compares each file's count with the first's.
        ``task`` may be None only where ``finish`` is never called (a shard: the merge checks classes).
        """
        self._train = train
        self._validation = validation
        self._task = task
        self._threshold = int(validation_fraction * _SPLIT_BUCKETS)
        self._hash = hashlib.sha256()
        self._problems: list[str] = []
        self._problem_reason: str | None = None
        # Digests of the first MIN_ROWS distinct rows: enough to tell "too few distinct rows" apart.
        self._distinct: set[bytes] = set()
        self._continues = continues_dataset
        self._line = 0
        self._first_row_line = 0
        self._first_problem_line = 0
        self.report = DatasetReport()

    def consume(self, source_name: str, lines: Iterable[bytes]) -> None:
        for number, raw in enumerate(lines, start=1):
            self._hash.update(raw)
            self.report.bytes_read += len(raw)
            self._consume_line(source_name, number, raw)
            if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                break
        self._raise_if_problems()

    def consume_blocks(self, source_name: str, blocks: Iterable[bytes]) -> None:
        """Like ``consume``, for blocks of whole lines (``s3_io.iter_object_blocks``); same results."""
        number = 0  # the last line numbered so far
        for block in blocks:
            self._hash.update(block)
            self.report.bytes_read += len(block)
            number, start = self._consume_opening_lines(source_name, number, block)
            for piece in _pieces(block, start, _PIECE_BYTES):
                if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                    break
                parsed = _parse_piece(piece, self.report.columns)
                if parsed is None:
                    number = self._consume_lines(source_name, number, piece)
                else:
                    self._commit(parsed)
                    number += parsed.line_count
            if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                break
        self._raise_if_problems()

    def seal(self) -> DatasetReport:
        """The report of everything consumed so far, with its sha256; no whole-drop check."""
        self.report.sha256 = self._hash.hexdigest()
        return self.report

    def finish(self) -> DatasetReport:
        self.seal()
        if self._task is None:
            raise TypeError("finish() needs the family's LabelTask; a shard's validator has none")
        check_complete(self.report, len(self._distinct), self._task)
        return self.report

    @property
    def distinct_digests(self) -> set[bytes]:
        """Digests of the first MIN_ROWS distinct rows (a shard's report merges them with the others')."""
        return self._distinct

    @property
    def first_row_line(self) -> int:
        """The line whose row set the column count (0 before one did)."""
        return self._first_row_line

    @property
    def first_problem_line(self) -> int:
        """The line of the first problem found (0 when none, or when it came with no line)."""
        return self._first_problem_line

    def _problem(self, reason: str, message: str) -> None:
        if self._problem_reason is None:
            self._first_problem_line = self._line
        self._problem_reason = self._problem_reason or reason
        self._problems.append(message)

    def _raise_if_problems(self) -> None:
        if self._problems:
            assert self._problem_reason is not None
            raise InvalidDatasetError(self._problem_reason, self._problems[0], self._problems)

    def _consume_opening_lines(self, source: str, number: int, block: bytes) -> tuple[int, int]:
        """The exact path over a block's lines while no piece can take the fast path; returns the last
        line number and where the fast path may start.

        A file's first line may carry a BOM, and until a row sets the column count there is no
        shape to check a piece against.
        """
        start = 0
        while start < len(block) and (number == 0 or self.report.columns == 0):
            end = block.find(b"\n", start) + 1 or len(block)
            number += 1
            self._consume_line(source, number, block[start:end])
            start = end
            if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                break
        return number, start

    def _consume_lines(self, source: str, number: int, piece: bytes) -> int:
        """The exact path over a piece's lines, numbered from ``number + 1``; returns the last number."""
        *complete, last = piece.split(b"\n")
        for line in complete:
            number += 1
            self._consume_line(source, number, line + b"\n")
            if len(self._problems) >= MAX_REPORTED_PROBLEMS:
                return number
        if last:
            number += 1
            self._consume_line(source, number, last)
        return number

    def _commit(self, parsed: _Parsed) -> None:
        report = self.report
        for stats, summary in zip(report.column_stats, parsed.stats, strict=True):
            stats.merge(summary)
        self._count_labels(parsed.labels)
        report.rows += len(parsed.lines)
        if len(self._distinct) < MIN_ROWS:
            self._remember_distinct(parsed.lines)
        self._write_split(parsed.lines)

    def _count_labels(self, labels: list[tuple[float, int]]) -> None:
        counts = self.report.label_counts
        # Labels come in order of first appearance, so those beyond MAX_DISTINCT_LABELS are left out
        # exactly as row-by-row counting leaves them out.
        for label, count in labels:
            key = format(label, "g")
            if key in counts or len(counts) < MAX_DISTINCT_LABELS:
                counts[key] = counts.get(key, 0) + count

    def _remember_distinct(self, lines: list[bytes]) -> None:
        for line in lines:
            self._distinct.add(hashlib.blake2b(line, digest_size=16).digest())
            if len(self._distinct) >= MIN_ROWS:
                return

    def _write_split(self, lines: list[bytes]) -> None:
        """A parsed piece's rows to their side of the split, and to the sample (``_consume_line``'s rules)."""
        from conveyor_core.intake import piece_parser  # loaded already: only parsed pieces come here

        crcs = piece_parser.row_crcs(lines)
        sample = self.report.sample
        sample.keep([(int(crcs[index]), lines[index]) for index in (crcs < sample.bound).nonzero()[0].tolist()])
        to_validation: list[bool] = (crcs % _SPLIT_BUCKETS < self._threshold).tolist()
        validation = [*compress(lines, to_validation)]
        train = [*compress(lines, map(operator.not_, to_validation))]
        self.report.validation_rows += len(validation)
        self.report.train_rows += len(train)
        for sink, rows in ((self._validation, validation), (self._train, train)):
            if rows:
                sink.write(b"".join(rows))

    def _consume_line(self, source: str, number: int, raw: bytes) -> None:
        self._line = number
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
            if len(fields) < 2 and not self._continues:
                self._problem(
                    "too-few-columns", f"{where}: {len(fields)} column; need a label and at least one feature"
                )
                return
            report.columns = len(fields)
            report.column_stats = [ColumnStats() for _ in fields]
            self._first_row_line = number
        elif len(fields) != report.columns:
            self._problem("ragged-row", f"{where}: {len(fields)} columns where the first row has {report.columns}")
            return
        label = _parse_number(fields[0].strip())
        if label is None or not math.isfinite(label):
            if fields[0].strip() == "":
                self._problem("missing-label", f"{where}: the label (first column) is empty")
            elif (
                label is None and report.rows == 0 and not self._continues and not _looks_numeric_or_missing(fields[0])
            ):
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
        crc = zlib.crc32(line)
        report.sample.offer([crc], [line])
        if crc % _SPLIT_BUCKETS < self._threshold:
            report.validation_rows += 1
            self._validation.write(line)
        else:
            report.train_rows += 1
            self._train.write(line)
