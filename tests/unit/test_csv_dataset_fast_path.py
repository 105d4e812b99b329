"""csv_dataset.py's block fast path gives exactly what the line-by-line path gives.

Every case runs twice on the same bytes: ``consume`` over the lines ``s3_io`` cuts (the exact path,
as the Preprocess Lambda ran before blocks), and ``consume_blocks`` over the blocks ``s3_io`` cuts
from randomly sized reads, with small pieces so that every run crosses many piece boundaries.
Rows, split, bytes, hash, label counts, statistics, reason codes and messages must all agree.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake import csv_dataset, piece_parser, s3_io
from conveyor_core.intake.csv_dataset import MAX_DISTINCT_LABELS, ColumnStats, DatasetValidator, InvalidDatasetError


@dataclass
class Outcome:
    """What a validator run leaves behind, in a form two runs can be compared by."""

    error: tuple[str, str, list[str]] | None
    summary: dict[str, Any]
    stats: list[dict[str, float | int | None]]
    train: bytes
    validation: bytes


def _chunks(data: bytes, rng: random.Random) -> Iterator[bytes]:
    start = 0
    while start < len(data):
        size = rng.choice([1, 7, 100, 4096, 65_536, 300_000])
        yield data[start : start + size]
        start += size


Feed = Callable[[DatasetValidator, str, bytes], None]


def _run(files: list[tuple[str, bytes]], objective: str, fraction: float, feed: Feed) -> Outcome:
    train, validation = io.BytesIO(), io.BytesIO()
    validator = DatasetValidator(train, validation, XGBOOST.label_task({"objective": objective}), fraction)
    error = None
    try:
        for name, data in files:
            feed(validator, name, data)
        report = validator.finish()
    except InvalidDatasetError as caught:
        error = (caught.reason, caught.detail, caught.problems)
        report = validator.report
    summary = {
        "rows": report.rows,
        "train_rows": report.train_rows,
        "validation_rows": report.validation_rows,
        "columns": report.columns,
        "sha256": report.sha256,
        "label_counts": report.label_counts,
        "label_order": list(report.label_counts),
    }
    if error is None:
        summary["bytes_read"] = report.bytes_read  # an early stop reads less on the exact path
    stats = [column.as_dict() for column in report.column_stats]
    return Outcome(error, summary, stats, train.getvalue(), validation.getvalue())


def run_both(
    files: list[tuple[str, bytes]], objective: str = "binary:logistic", fraction: float = 0.2, seed: int = 0
) -> tuple[Outcome, Outcome]:
    """The exact path's outcome and the fast path's, on the same bytes read in the same pieces."""
    rng = random.Random(seed)
    reads = {name: list(_chunks(data, rng)) for name, data in files}

    def by_lines(validator: DatasetValidator, name: str, _: bytes) -> None:
        validator.consume(name, s3_io._lines(iter(reads[name]), name))

    def by_blocks(validator: DatasetValidator, name: str, _: bytes) -> None:
        validator.consume_blocks(name, s3_io._blocks(iter(reads[name]), name))

    return _run(files, objective, fraction, by_lines), _run(files, objective, fraction, by_blocks)


def _same_number(exact: float | int | None, fast: float | int | None, scale: float) -> bool:
    if exact is None or fast is None:
        return exact is fast
    return math.isclose(exact, fast, rel_tol=1e-9, abs_tol=1e-12 * scale)


def assert_same(exact: Outcome, fast: Outcome) -> None:
    assert fast.error == exact.error
    assert fast.summary == exact.summary
    assert fast.train == exact.train
    assert fast.validation == exact.validation
    assert len(fast.stats) == len(exact.stats)
    for column, (want, got) in enumerate(zip(exact.stats, fast.stats, strict=True)):
        assert (got["count"], got["missing"]) == (want["count"], want["missing"]), column
        # min and max are values read from the file: identical, down to the sign of a zero.
        assert repr(got["min"]) == repr(want["min"]), column
        assert repr(got["max"]) == repr(want["max"]), column
        scale = abs(want["min"] or 0.0) + abs(want["max"] or 0.0) + 1.0  # type: ignore[arg-type]
        assert _same_number(want["mean"], got["mean"], scale), (column, want, got)
        assert _same_number(want["stddev"], got["stddev"], scale), (column, want, got)


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_dataset, "_PIECE_BYTES", 2048)


@pytest.fixture
def fast_path_runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per piece the fast path looked at: True where it committed the piece itself."""
    runs: list[bool] = []
    original = csv_dataset._parse_piece

    def recording(data: bytes, columns: int) -> Any:
        parsed = original(data, columns)
        runs.append(parsed is not None)
        return parsed

    monkeypatch.setattr(csv_dataset, "_parse_piece", recording)
    return runs


# --- random data --------------------------------------------------------------------------------


def _number(rng: random.Random, style: str) -> str:
    value = rng.gauss(0.0, 10.0) * 10 ** rng.randint(-3, 3)
    if style == "fixed":
        return f"{value:.6f}"
    if style == "repr":
        return rng.choice([repr(value), str(rng.randint(-50, 50)), f"{value:.3e}"])
    return rng.choice(
        [
            repr(value),
            f"{value:.2f}",
            f"{value:e}",
            f"{value:.4E}",
            str(rng.randint(-9, 9)),
            f"+{abs(value):.3f}",
            f".{rng.randint(0, 999)}",
            f"-.{rng.randint(0, 999)}",
            f"{rng.randint(0, 99)}.",
            f"00{rng.randint(0, 9)}.5",
            "-0",
            "-0.0",
            "0",
            "+0",
            "1e-320",
            "-2.5e+30",
            "7E5",
        ]
    )


def _feature(rng: random.Random, style: str) -> str:
    if style in ("messy", "missing") and rng.random() < 0.15:
        return rng.choice(["", "nan", "NaN", "NAN", " ", "\t"])
    cell = _number(rng, "messy" if style == "missing" else style)
    if style == "messy" and rng.random() < 0.1:
        cell = rng.choice([" ", "\t", "  "]) + cell + rng.choice(["", " ", "\t"])
    return cell


def _label(rng: random.Random, classes: int, style: str) -> str:
    label = rng.randrange(classes)
    if style in ("fixed", "repr"):
        return str(label)
    spellings = [str(label), f"{label}.0", f"{label}e0", f" {label} "]
    if label == 0:
        spellings += ["-0", "-0.0", "+0", "0.000"]
    return rng.choice(spellings)


def random_csv(
    rng: random.Random, rows: int, features: int, *, style: str = "messy", classes: int = 2, crlf: bool = False
) -> bytes:
    newline = "\r\n" if crlf else "\n"
    lines = []
    for _ in range(rows):
        cells = [_label(rng, classes, style), *(_feature(rng, style) for _ in range(features))]
        lines.append(",".join(cells) + newline)
        if style == "messy" and rng.random() < 0.01:
            lines.append(rng.choice(["\n", "\r\n", "   \n", "\t\n"]))
    text = "".join(lines)
    if style == "messy" and rng.random() < 0.5:
        text = text.rstrip("\r\n")  # no newline after the last row
    data = text.encode()
    return csv_dataset.UTF8_BOM + data if style == "messy" and rng.random() < 0.5 else data


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("style", ["fixed", "repr", "missing", "messy"])
def test_random_valid_data_gives_the_same_result_on_both_paths(
    seed: int, style: str, fast_path_runs: list[bool]
) -> None:
    rng = random.Random(seed * 100 + len(style))
    classes = rng.choice([2, 2, 3, 5])
    objective = "binary:logistic" if classes == 2 else "multi:softprob"
    data = random_csv(rng, rng.randint(200, 1500), rng.randint(1, 12), style=style, classes=classes, crlf=seed % 3 == 0)
    exact, fast = run_both([("s.csv", data)], objective=objective, fraction=rng.choice([0.1, 0.2, 0.45]), seed=seed)
    assert exact.error is None, exact.error
    assert_same(exact, fast)
    if style != "messy":
        assert all(fast_path_runs), "tidy data must never need the exact path"
    assert any(fast_path_runs)


def test_several_sources_each_with_a_bom_give_the_same_result(fast_path_runs: list[bool]) -> None:
    rng = random.Random(5)
    files = [
        ("part-0.csv", csv_dataset.UTF8_BOM + random_csv(rng, 400, 6, style="repr")),
        ("part-1.csv", csv_dataset.UTF8_BOM + random_csv(rng, 500, 6, style="fixed", crlf=True)),
        ("part-2.csv", random_csv(rng, 300, 6, style="missing")),
    ]
    exact, fast = run_both(files)
    assert exact.error is None
    assert_same(exact, fast)
    assert all(fast_path_runs)


def test_regression_labels_beyond_the_distinct_label_cap_are_counted_the_same() -> None:
    rng = random.Random(3)
    rows = [f"{rng.gauss(0, 1000):.4f},{rng.random()}\n" for _ in range(MAX_DISTINCT_LABELS * 3)]
    rows[2000] = "123456.5,1\n"  # a label first seen after the cap is full is left out on both paths
    rows[2001] = "123456.54,2\n"  # and two spellings that round to the same key share it
    exact, fast = run_both([("r.csv", "".join(rows).encode())], objective="reg:squarederror")
    assert exact.error is None
    assert len(exact.summary["label_counts"]) == MAX_DISTINCT_LABELS
    assert_same(exact, fast)


def test_negative_zero_keeps_its_sign_in_min_and_max(fast_path_runs: list[bool]) -> None:
    rows = [f"{i % 2},{'-0' if i % 3 else '0'},{'-0' if i == 1 else -i},-0.0\n" for i in range(1, 3000)]
    exact, fast = run_both([("z.csv", "".join(rows).encode())])
    assert_same(exact, fast)
    assert repr(fast.stats[1]["max"]) == "-0.0"  # "-0" came before "0" in the second column
    assert repr(fast.stats[2]["max"]) == "-0.0"  # an integer -0, the largest value
    assert repr(fast.stats[3]["min"]) == repr(fast.stats[3]["max"]) == "-0.0"
    assert fast.summary["label_counts"] == {"1": 1500, "0": 1499}


def test_values_whose_spread_overflows_a_float_give_the_same_result() -> None:
    rows = [f"{i % 2},{'-2.5e+300' if i % 7 else '1e300'},{i}\n" for i in range(3000)]
    exact, fast = run_both([("o.csv", "".join(rows).encode())])
    assert exact.stats[1]["stddev"] == math.inf
    assert_same(exact, fast)


def test_data_shaped_like_the_benchmark_never_needs_the_exact_path(fast_path_runs: list[bool]) -> None:
    rng = random.Random(7)
    rows = [f"{rng.randint(0, 1)}," + ",".join(f"{rng.gauss(0, 1):.6f}" for _ in range(20)) + "\n" for _ in range(3000)]
    exact, fast = run_both([("b.csv", "".join(rows).encode())])
    assert_same(exact, fast)
    assert fast_path_runs
    assert all(fast_path_runs)


# --- invalid data -------------------------------------------------------------------------------

GOOD_ROWS = 6000
BAD_LINE = 4321


def _with_bad_line(bad: bytes, line: int = BAD_LINE, crlf: bool = False) -> bytes:
    rng = random.Random(11)
    data = random_csv(rng, GOOD_ROWS, 4, style="repr", crlf=crlf)
    lines = data.split(b"\n")
    lines[line - 1] = bad.rstrip(b"\n")
    return b"\n".join(lines)


@pytest.mark.parametrize(
    "bad",
    [
        b"1,abc,2,3,4",
        b"1,1_000,2,3,4",
        b"1,0x10,2,3,4",
        b"1,inf,2,3,4",
        b"1,-Infinity,2,3,4",
        b"1,1e999,2,3,4",
        b"1e999,1,2,3,4",
        b"nan,1,2,3,4",
        b"NaN,1,2,3,4",
        b",1,2,3,4",
        b"  ,1,2,3,4",
        b"1,nAn,2,3,4",
        b"1,-nan,2,3,4",
        b"1,nana,2,3,4",
        b"1,1.2.3,2,3,4",
        b"1,1e,2,3,4",
        b"1,--1,2,3,4",
        b"1,1-2,2,3,4",
        b"1,.,2,3,4",
        b"1,e5,2,3,4",
        b"1,2,3,4",
        b"1,2,3,4,5,6",
        b"1,2\r,3,4,5",
        b"1,2,3,4,5\r\r",
        b"\xef\xbb\xbf1,2,3,4,5",
        b"1,\xff\xfe,3,4,5",
        "1,\u0661,3,4,5".encode(),
        "1,\u00a02,3,4,5".encode(),
        b"yes,1,2,3,4",
        b"1,2,3,4," + b"5" * (1024 * 1024),
    ],
    ids=lambda bad: bad[:24].decode("utf-8", "replace"),
)
def test_a_bad_row_deep_inside_a_block_is_reported_as_on_the_exact_path(bad: bytes) -> None:
    exact, fast = run_both([("incoming/bad.csv", _with_bad_line(bad))])
    assert_same(exact, fast)


def test_the_bad_row_is_named_by_its_line_number_with_crlf_and_blank_lines() -> None:
    data = _with_bad_line(b"1,2,text,4,5", crlf=True)
    data = data.replace(b"\r\n", b"\r\n\r\n", 10)  # blank lines before the bad one still count
    exact, fast = run_both([("x.csv", data)])
    assert_same(exact, fast)
    assert fast.error is not None
    assert fast.error[1].startswith(f"x.csv line {BAD_LINE + 10}, column 3:")


def test_many_bad_rows_stop_at_the_same_problem_cap() -> None:
    rng = random.Random(2)
    lines = random_csv(rng, 5000, 3, style="fixed").split(b"\n")
    for number in range(1000, 5000, 300):
        lines[number] = b"1,2,x,3"
    exact, fast = run_both([("m.csv", b"\n".join(lines))])
    assert_same(exact, fast)
    assert fast.error is not None
    assert len(fast.error[2]) == csv_dataset.MAX_REPORTED_PROBLEMS


@pytest.mark.parametrize(
    ("rows", "objective", "reason"),
    [
        ([f"1,{i}.5\n" for i in range(4000)], "binary:logistic", "single-class"),
        ([f"{i % 3},{i}\n" for i in range(4000)], "binary:logistic", "bad-class-labels"),
        ([f"{i % 2},{i % 4}\n" for i in range(4000)], "binary:logistic", "duplicate-rows"),
        (["\n", "  \n", "\r\n"] * 2000, "binary:logistic", "empty-dataset"),
        (["label,f1\n"] + [f"{i % 2},{i}\n" for i in range(4000)], "binary:logistic", "header-row"),
        (["1\n"] + [f"{i % 2},{i}\n" for i in range(4000)], "binary:logistic", "too-few-columns"),
    ],
)
def test_whole_dataset_problems_are_the_same_on_both_paths(rows: list[str], objective: str, reason: str) -> None:
    exact, fast = run_both([("d.csv", "".join(rows).encode())], objective=objective)
    assert exact.error is not None
    assert exact.error[0] == reason
    assert_same(exact, fast)


def test_a_line_outgrowing_the_limit_between_reads_is_refused_the_same_way() -> None:
    data = b"".join(f"{i % 2},{i}\n".encode() for i in range(3000)) + b"1," + b"7" * (3 * 1024 * 1024)
    exact, fast = run_both([("long.csv", data)])
    assert exact.error is not None
    assert exact.error[0] == "line-too-long"
    assert_same(exact, fast)


# --- the pieces ---------------------------------------------------------------------------------


def _feature_stats(values: list[float], missing: int = 0) -> ColumnStats | None:
    """piece_parser's summary of one feature column holding ``values`` and ``missing`` empty cells."""
    column = np.array(values + [math.nan] * missing)
    stats = piece_parser.column_stats(np.column_stack([np.zeros(len(column)), column]))
    return None if stats is None else stats[1]


def test_column_stats_merged_block_by_block_match_the_running_update() -> None:
    rng = random.Random(1)
    values = [rng.gauss(1e6, 3.0) for _ in range(10_000)]
    running, merged = ColumnStats(), ColumnStats()
    for value in values:
        running.add(value)
    for start in range(0, len(values), 777):
        block = _feature_stats(values[start : start + 777], 2)
        assert block is not None
        merged.merge(block)
    assert (merged.count, merged.missing, merged.minimum, merged.maximum) == (
        running.count,
        2 * math.ceil(len(values) / 777),
        running.minimum,
        running.maximum,
    )
    assert merged.mean == pytest.approx(running.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(running.m2, rel=1e-9)


def test_a_constant_column_has_an_exact_mean_and_zero_spread() -> None:
    merged = ColumnStats()
    for _ in range(5):
        block = _feature_stats([0.1] * 1000)
        assert block is not None
        merged.merge(block)
    assert (merged.mean, merged.m2) == (0.1, 0.0)


@pytest.mark.parametrize("values", [[1.0, math.inf], [-math.inf, 2.0], [1e308, 1e308, 1.0]])
def test_column_stats_leave_infinite_or_overflowing_blocks_to_the_exact_path(values: list[float]) -> None:
    assert _feature_stats(values) is None


def test_pieces_are_whole_lines_and_cover_the_block() -> None:
    block = b"".join(f"{i},{'9' * (i % 50)}\n".encode() for i in range(500)) + b"1,2"
    pieces = list(csv_dataset._pieces(block, 3, 300))
    assert b"".join(pieces) == block[3:]
    assert all(piece.endswith(b"\n") for piece in pieces[:-1])
    # About the size asked for: a rest of a quarter more is one piece, and no piece is a sliver.
    assert max(map(len, pieces)) <= 300 + 300 // 4
    assert min(map(len, pieces)) > 300 // 4
    # A block a line longer than the size (a read of it plus the line it cut) is one piece.
    block = b"1,2\n" * 75 + b"3,4\n"
    assert list(csv_dataset._pieces(block, 0, 300)) == [block]
    assert list(csv_dataset._pieces(b"1,2\n" + b"3" * 1000 + b"\n4,5\n", 0, 100)) == [
        b"1,2\n",
        b"3" * 1000 + b"\n",
        b"4,5\n",
    ]
