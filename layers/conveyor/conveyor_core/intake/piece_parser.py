"""One piece of label-first numeric CSV as columns, parsed by pandas' C reader; the fast path's engine.

``csv_dataset`` hands over a piece whose bytes already passed its alphabet and shape checks and
imports this module on its first piece only, so that a handler that never parses data never pays
for numpy and pandas (about 250 ms of imports together).

pandas' float grammar is exactly XGBoost's on the fast path's alphabet: it refuses "1e", ".", "+",
"-.e5", "--1", "1..2" and every other near-number the exact path refuses, and accepts "5.", ".5",
"+1" and surrounding blanks as that path does (``tests/unit/test_piece_parser.py`` holds the list).
What it cannot say is *why* a piece is bad: it refuses the piece, and the exact path names the row.
Numbers are read to the nearest double, as ``float()`` does, so statistics match the exact path.
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Any

import numpy as np
import pandas as pd

from conveyor_core.intake.csv_dataset import ColumnStats

# The missing-value spellings XGBoost knows; pandas' longer default list ("NA", "null", ...) would
# let through text that XGBoost reads as an error.
_MISSING = ["", "nan", "NaN", "NAN"]


def read_matrix(text: bytes, rows: int, columns: int, *, plain: bool = False) -> Any | None:
    """``rows`` x ``columns`` float64 cells (missing ones NaN), or None if any cell is not a number
    or any line is not exactly ``columns`` wide.

    ``text`` holds exactly ``rows`` non-blank lines. pandas refuses a line with more fields than
    the first and pads one with fewer with NaN, so after the shape check only a matrix with a NaN
    can hide a short line: only then are the commas counted (a pass over the text that a dense
    piece, the usual one, is spared).

    ``plain``: the text holds only digits, signs, points, exponents, commas and newlines. It is
    read first without pandas' missing-value matching (about a fifth of its parse): read so, pandas
    refuses an empty cell and a short line outright, and only a piece it refuses is read again with
    the matching.
    """
    if plain:
        matrix = _read(text, na_filter=False)
        if matrix is not None and matrix.shape == (rows, columns):
            return matrix
    elif b"\t" in text:
        # The exact path strips tabs and spaces alike, and the alphabet leaves no other blank: as
        # spaces, pandas' skipinitialspace reads a blank cell as missing and " 1" as 1.
        text = text.replace(b"\t", b" ")
    matrix = _read(text, keep_default_na=False, na_values=_MISSING, skip_blank_lines=False, skipinitialspace=True)
    if matrix is None or matrix.shape != (rows, columns):
        return None
    if np.isnan(matrix).any() and text.count(b",") != (columns - 1) * rows:
        return None
    return matrix


def _read(text: bytes, **options: Any) -> Any | None:
    try:
        frame = pd.read_csv(io.BytesIO(text), header=None, dtype=np.float64, engine="c", **options)
    except (ValueError, pd.errors.ParserError):
        return None
    return frame.to_numpy()


def column_stats(matrix: Any) -> list[ColumnStats] | None:
    """Each column's summary, or None when only the exact path can tell (an inf, an overflow, a NaN label)."""
    missing_cells = np.isnan(matrix)
    if missing_cells[:, 0].any():
        return None  # a missing label: the exact path reports its row
    # An overflow (1e308 + 1e308) is detected below and sent to the exact path, not warned about.
    with np.errstate(over="ignore", invalid="ignore"):
        if not missing_cells.any():
            return _dense_stats(matrix)
        stats: list[ColumnStats] = []
        for column in range(matrix.shape[1]):
            present = matrix[~missing_cells[:, column], column]
            summary = _summary(present, matrix.shape[0] - present.size)
            if summary is None:
                return None
            stats.append(summary)
    return stats


def row_crcs(lines: list[bytes]) -> Any:
    """Each row's crc32, the hash its side of the split and its place in the sample come from.

    As int64, so that comparing with the sample's bound (up to 2**32) and taking the bucket stay
    array operations.
    """
    return np.fromiter(map(zlib.crc32, lines), dtype=np.int64, count=len(lines))


def label_counts(labels: Any) -> list[tuple[float, int]]:
    """Each distinct label (-0 folded into 0) with its count, in order of first appearance."""
    values, first, counts = np.unique(labels + 0.0, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return [(float(values[index]), int(counts[index])) for index in order]


def _dense_stats(matrix: Any) -> list[ColumnStats] | None:
    """Every column at once, for the usual piece with no missing cell."""
    minimum, maximum = matrix.min(axis=0), matrix.max(axis=0)
    if not (np.isfinite(minimum).all() and np.isfinite(maximum).all()):
        return None  # an overflowing number such as 1e999: the exact path names it
    mean = matrix.mean(axis=0)
    deviations = matrix - mean
    m2 = np.einsum("ij,ij->j", deviations, deviations)
    if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
        return None
    rows = matrix.shape[0]
    stats = []
    for column in range(matrix.shape[1]):
        summary = ColumnStats(count=rows, missing=0, minimum=float(minimum[column]), maximum=float(maximum[column]))
        if summary.minimum == summary.maximum:
            summary.mean = summary.minimum  # exact, as Welford's is for a constant column
        else:
            summary.mean, summary.m2 = float(mean[column]), float(m2[column])
        stats.append(_signed_zeros(summary, matrix[:, column]))
    return stats


def _summary(present: Any, missing: int) -> ColumnStats | None:
    stats = ColumnStats(count=int(present.size), missing=missing)
    if not present.size:
        return stats
    stats.minimum, stats.maximum = float(present.min()), float(present.max())
    if not (-math.inf < stats.minimum and stats.maximum < math.inf):
        return None
    if stats.minimum == stats.maximum:
        stats.mean = stats.minimum
        return _signed_zeros(stats, present)
    stats.mean = float(present.mean())
    deviations = present - stats.mean
    stats.m2 = float(np.dot(deviations, deviations))
    if not (math.isfinite(stats.mean) and math.isfinite(stats.m2)):
        return None
    return _signed_zeros(stats, present)


def _signed_zeros(stats: ColumnStats, values: Any) -> ColumnStats:
    """A zero minimum or maximum is the first zero in row order, its sign included, as ``min()`` keeps it.

    numpy may return either 0.0 or -0.0 among equal zeros; the exact path keeps the first one seen.
    """
    if stats.minimum == 0.0 or stats.maximum == 0.0:
        zeros = values[values == 0.0]
        first = float(zeros[0]) if zeros.size else 0.0
        if stats.minimum == 0.0:
            stats.minimum = first
        if stats.maximum == 0.0:
            stats.maximum = first
        if stats.minimum == stats.maximum:
            stats.mean = stats.minimum
    return stats
