"""piece_parser: pandas' reader accepts exactly the cells the exact path accepts, on the fast path's alphabet.

The fast path may refuse more than the exact path (the piece then goes line by line), never less:
a cell pandas reads as a number must be one XGBoost's grammar reads as that same number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conveyor_core.intake import csv_dataset, piece_parser

# Every near-number the alphabet "0123456789+-.eE naNA" lets through, good and bad.
CELLS = [
    "1", "-1", "+1", "1.", "5.", ".5", "+.5", "-.5", "1.e5", "1E5", "2.5E-3", "1e0001", "00012", "0e0", "-0",
    "-0.0", "0.", "1e", "e5", "e", "E", ".", "+", "-", "1e+", "1e-", "1e5.5", "-.e5", ".e1", "1.5e", "1..2",
    "--1", "+-1", "-+1", "1-2", "1+2", "1e5e5", "1.0e", "1 2", "- 1", "+ 1", "1e 5", " 1", "1 ", " .5 ",
    "1e400", "-1e400", "nan", "NaN", "NAN", "-nan", "nAn", "na", "NA", "N", "a", "", " ", "  ",
]  # fmt: skip


def _exact(cell: str) -> float | str | None:
    """What the exact path makes of a feature cell: a number, None (missing), or "refused"."""
    stripped = cell.strip()
    if stripped in ("", "nan", "NaN", "NAN"):
        return None
    value = csv_dataset._parse_number(stripped)
    return "refused" if value is None or not math.isfinite(value) else value


@pytest.mark.parametrize("cell", CELLS)
def test_a_cell_pandas_reads_is_one_the_exact_path_reads_the_same(cell: str) -> None:
    parsed = csv_dataset._parse_piece(f"1,{cell},2\n1,3,4\n".encode(), 3)
    exact = _exact(cell)
    if parsed is None:
        return  # the exact path decides; refusing more is allowed
    assert exact != "refused", f"{cell!r} passed the fast path, the exact path refuses it"
    feature = parsed.stats[1]
    if exact is None:
        assert feature.missing == 1
    else:
        assert feature.missing == 0
        assert exact in (feature.minimum, feature.maximum)


def test_the_usual_cells_do_take_the_fast_path() -> None:
    """Refusing everything would pass the test above: the common spellings must be read here."""
    for cell in ["1", "-1", "+1", "5.", ".5", "1.e5", "2.5E-3", "-0", "", "nan", "NaN", "NAN", " 1", "1 ", " "]:
        assert csv_dataset._parse_piece(f"1,{cell},2\n1,3,4\n".encode(), 3) is not None, cell


@pytest.mark.parametrize(
    "piece",
    [
        b"1,2\n1,2,3,4\n",  # one short row and one long: the comma count alone agrees
        b"1,2,3\n1,2\n",  # pandas pads a short row with missing cells
        b"1,,3\n1,2,3\n1,2\n",  # ... which a piece with a missing cell of its own must not hide
        b"1,2,3,4\n1,2\n",  # the first row sets pandas' width
        b"nan,2,3\n1,2,3\n",  # a missing label
        b",2,3\n1,2,3\n",
        b"1,1e999,3\n1,2,3\n",  # an overflow: the exact path names it
    ],
)
def test_pieces_the_exact_path_must_judge_are_refused(piece: bytes) -> None:
    assert csv_dataset._parse_piece(piece, 3) is None


def test_label_counts_keep_first_appearance_order_and_fold_negative_zero() -> None:
    labels = np.array([2.0, 0.0, -0.0, 2.0, 1.0, 0.0])
    assert piece_parser.label_counts(labels) == [(2.0, 2), (0.0, 3), (1.0, 1)]
    assert math.copysign(1.0, piece_parser.label_counts(np.array([-0.0]))[0][0]) == 1.0


@pytest.mark.parametrize("column", [[0.0, -0.0, 1.0], [-0.0, 0.0, 1.0], [-1.0, -0.0, 0.0], [-1.0, 0.0, -0.0]])
def test_a_zero_minimum_or_maximum_is_the_first_zero_with_its_sign(column: list[float]) -> None:
    running = csv_dataset.ColumnStats()
    for value in column:
        running.add(value)
    matrix = np.column_stack([np.zeros(len(column)), np.array(column)])
    stats = piece_parser.column_stats(matrix)
    assert stats is not None
    assert (repr(stats[1].minimum), repr(stats[1].maximum)) == (repr(running.minimum), repr(running.maximum))


def test_missing_cells_are_counted_apart_from_the_statistics() -> None:
    matrix = np.array([[1.0, 2.0, math.nan], [0.0, math.nan, math.nan], [1.0, 4.0, 5.0]])
    stats = piece_parser.column_stats(matrix)
    assert stats is not None
    assert [(column.count, column.missing) for column in stats] == [(3, 0), (2, 1), (1, 2)]
    assert (stats[1].minimum, stats[1].maximum, stats[1].mean, stats[1].m2) == (2.0, 4.0, 3.0, 2.0)
    assert (stats[2].mean, stats[2].m2) == (5.0, 0.0)
