"""csv_dataset.py: streaming validation, the train/validation split and the statistics."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from conveyor_core.families import LabelTask
from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake.csv_dataset import (
    MAX_LINE_BYTES,
    MAX_REPORTED_PROBLEMS,
    MIN_ROWS,
    DatasetReport,
    DatasetValidator,
    InvalidDatasetError,
)


def label_first_lines(features: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Built-in XGBoost CSV: no header, label first; repr() round-trips every float exactly."""
    return [
        (",".join([repr(float(label)), *(repr(float(x)) for x in row)]) + "\n").encode()
        for row, label in zip(features, labels, strict=True)
    ]


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    data = load_breast_cancer()
    return data.data, data.target, label_first_lines(data.data, data.target)


def simple_rows(count: int = 40, classes: int = 2) -> list[bytes]:
    return [f"{i % classes},{i * 0.5},{i % 7}\n".encode() for i in range(count)]


def task(objective: str) -> LabelTask:
    """What built-in XGBoost learns from the label under ``objective``."""
    return XGBOOST.label_task({"objective": objective})


class Validated:
    def __init__(self, validator: DatasetValidator, report: DatasetReport, train: io.BytesIO, validation: io.BytesIO):
        self.validator = validator
        self.report = report
        self.train = train.getvalue()
        self.validation = validation.getvalue()


def validate(
    lines: Iterable[bytes], objective: str = "binary:logistic", validation_fraction: float = 0.2, source: str = "s.csv"
) -> Validated:
    train, validation = io.BytesIO(), io.BytesIO()
    validator = DatasetValidator(train, validation, task(objective), validation_fraction)
    validator.consume(source, lines)
    report = validator.finish()
    return Validated(validator, report, train, validation)


# --- a valid dataset ----------------------------------------------------------------------------


def test_breast_cancer_dataset_is_valid(breast_cancer: tuple[np.ndarray, np.ndarray, list[bytes]]) -> None:
    _, labels, lines = breast_cancer
    result = validate(lines)
    assert result.report.rows == len(labels) == 569
    assert result.report.columns == 31
    assert result.report.feature_count == 30
    assert result.report.label_counts == {"0": int((labels == 0).sum()), "1": int((labels == 1).sum())}
    assert result.report.bytes_read == sum(len(line) for line in lines)


def test_split_writes_every_row_to_exactly_one_side(breast_cancer: tuple[np.ndarray, np.ndarray, list[bytes]]) -> None:
    _, _, lines = breast_cancer
    result = validate(lines)
    train_lines = result.train.splitlines(keepends=True)
    validation_lines = result.validation.splitlines(keepends=True)
    assert len(train_lines) == result.report.train_rows
    assert len(validation_lines) == result.report.validation_rows
    assert sorted(train_lines + validation_lines) == sorted(lines)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3, 0.45])
def test_split_fraction_is_roughly_the_configured_one(
    breast_cancer: tuple[np.ndarray, np.ndarray, list[bytes]], fraction: float
) -> None:
    _, _, lines = breast_cancer
    report = validate(lines, validation_fraction=fraction).report
    assert report.train_rows + report.validation_rows == report.rows
    assert report.validation_rows / report.rows == pytest.approx(fraction, abs=0.06)


def test_split_is_deterministic_and_keeps_identical_rows_together() -> None:
    lines = simple_rows(200) + simple_rows(200)
    first = validate(lines)
    second = validate(lines)
    assert first.train == second.train
    assert first.validation == second.validation
    train = Counter(first.train.splitlines(keepends=True))
    validation = Counter(first.validation.splitlines(keepends=True))
    for line in set(lines):
        assert sorted([train[line], validation[line]]) == [0, 2]


def test_statistics_match_numpy(breast_cancer: tuple[np.ndarray, np.ndarray, list[bytes]]) -> None:
    features, labels, lines = breast_cancer
    statistics = validate(lines).report.statistics()
    assert statistics["rows"] == 569
    assert statistics["features"] == 30
    assert statistics["train_rows"] + statistics["validation_rows"] == 569
    assert statistics["label"]["count"] == 569
    assert statistics["label"]["mean"] == pytest.approx(labels.mean())
    assert statistics["label_counts"] == {"0": 212, "1": 357}
    assert len(statistics["features_stats"]) == 30
    for column, stats in enumerate(statistics["features_stats"]):
        values = features[:, column]
        assert stats["count"] == len(values)
        assert stats["missing"] == 0
        assert stats["min"] == values.min()
        assert stats["max"] == values.max()
        assert stats["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert stats["stddev"] == pytest.approx(values.std(), rel=1e-9)


def test_sha256_is_the_hash_of_the_input_bytes_and_is_stable(
    breast_cancer: tuple[np.ndarray, np.ndarray, list[bytes]],
) -> None:
    _, _, lines = breast_cancer
    first = validate(lines).report.sha256
    assert first == validate(lines).report.sha256
    assert first == hashlib.sha256(b"".join(lines)).hexdigest()
    changed = [*lines[:-1], lines[-1].replace(b",", b", ", 1)]
    assert validate(changed).report.sha256 != first


def test_sha256_spans_several_sources_in_order() -> None:
    part_a, part_b = simple_rows(20), simple_rows(30)
    train, validation = io.BytesIO(), io.BytesIO()
    validator = DatasetValidator(train, validation, task("binary:logistic"), 0.2)
    validator.consume("a.csv", part_a)
    validator.consume("b.csv", part_b)
    report = validator.finish()
    assert report.rows == 50
    assert report.sha256 == hashlib.sha256(b"".join(part_a + part_b)).hexdigest()


def test_empty_and_nan_features_are_missing_values_not_errors() -> None:
    lines = [*simple_rows(30), b"1,,3\n", b"0,nan,NaN\n", b"1,NAN, \n", b"0, 2.5 ,\n"]
    result = validate(lines)
    assert result.report.rows == 34
    first, second = result.report.column_stats[1], result.report.column_stats[2]
    assert (first.count, first.missing) == (31, 3)
    assert (second.count, second.missing) == (31, 3)
    assert first.maximum == 14.5
    assert b"1,,3\n" in result.train + result.validation


def test_a_column_with_only_missing_values_has_null_statistics() -> None:
    lines = [f"{i % 2},{i},\n".encode() for i in range(20)]
    stats = validate(lines).report.statistics()["features_stats"][1]
    assert stats == {"count": 0, "missing": 20, "min": None, "max": None, "mean": None, "stddev": None}


def test_crlf_line_endings_are_accepted_and_written_as_lf() -> None:
    lines = [line.replace(b"\n", b"\r\n") for line in simple_rows(40)]
    result = validate(lines)
    assert result.report.rows == 40
    assert b"\r" not in result.train + result.validation
    assert (result.train + result.validation).count(b"\n") == 40


def test_a_byte_order_mark_opening_each_source_is_skipped_as_xgboost_skips_it() -> None:
    train, validation = io.BytesIO(), io.BytesIO()
    validator = DatasetValidator(train, validation, task("binary:logistic"), 0.2)
    rows = simple_rows(40)
    validator.consume("part-0.csv", [b"\xef\xbb\xbf" + rows[0], *rows[1:20]])
    validator.consume("part-1.csv", [b"\xef\xbb\xbf" + rows[20], *rows[21:]])
    report = validator.finish()
    assert report.rows == 40
    assert b"\xef\xbb\xbf" not in train.getvalue() + validation.getvalue()
    as_uploaded = b"\xef\xbb\xbf" + b"".join(rows[:20]) + b"\xef\xbb\xbf" + b"".join(rows[20:])
    assert report.sha256 == hashlib.sha256(as_uploaded).hexdigest(), "the hash is of the bytes as uploaded"


def test_distinct_rows_repeated_many_times_are_still_valid() -> None:
    assert validate(simple_rows(MIN_ROWS) * 10, validation_fraction=0.45).report.rows == MIN_ROWS * 10


def test_blank_lines_are_skipped_and_a_missing_final_newline_is_fine() -> None:
    lines = [*simple_rows(20), b"\n", b"   \n", b"\r\n", b"1,2,3"]
    result = validate(lines)
    assert result.report.rows == 21
    assert (result.train + result.validation).endswith(b"\n")


@pytest.mark.parametrize("number", ["1e3", "-1.5E-2", ".5", "5.", "+7", "0"])
def test_numbers_in_xgboost_syntax_are_accepted(number: str) -> None:
    lines = [*simple_rows(20), f"1,{number},{number}\n".encode()]
    assert validate(lines).report.rows == 21


def test_regression_labels_may_be_any_finite_number() -> None:
    lines = [f"{(i - 20) * 1.25},{i}\n".encode() for i in range(40)]
    result = validate(lines, objective="reg:squarederror")
    assert result.report.rows == 40
    assert XGBOOST.derived_hyperparameters({"objective": "reg:squarederror"}, result.report.label_counts) == {
        "objective": "reg:squarederror"
    }


# --- invalid datasets ---------------------------------------------------------------------------

GOOD = simple_rows(20)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        pytest.param([b"label,f1,f2\n", *GOOD], "header-row", id="header-row"),
        pytest.param([*GOOD, b",1,2\n"], "missing-label", id="missing-label"),
        pytest.param([*GOOD, b"  ,1,2\n"], "missing-label", id="blank-label"),
        pytest.param([*GOOD, b"yes,1,2\n"], "bad-label", id="non-numeric-label"),
        pytest.param([*GOOD, b"nan,1,2\n"], "bad-label", id="nan-label"),
        pytest.param([*GOOD, b"inf,1,2\n"], "bad-label", id="inf-label"),
        pytest.param([*GOOD, b"-Infinity,1,2\n"], "bad-label", id="minus-infinity-label"),
        pytest.param([*GOOD, b"1,inf,2\n"], "infinite-feature", id="inf-feature"),
        pytest.param([*GOOD, b"1,2,-inf\n"], "infinite-feature", id="minus-inf-feature"),
        pytest.param([*GOOD, b"1,abc,2\n"], "non-numeric-feature", id="text-feature"),
        pytest.param([*GOOD, b"1,1_000,2\n"], "non-numeric-feature", id="python-only-number-feature"),
        pytest.param([*GOOD, b"1,0x10,2\n"], "non-numeric-feature", id="hex-feature"),
        pytest.param([*GOOD, b"1,2\n"], "ragged-row", id="ragged-row-short"),
        pytest.param([*GOOD, b"1,2,3,4\n"], "ragged-row", id="ragged-row-long"),
        pytest.param([b"1\n", *GOOD], "too-few-columns", id="single-column"),
        pytest.param([*GOOD, b"\xef\xbb\xbf0,1,2\n"], "bad-label", id="bom-after-the-first-line"),
        pytest.param([*GOOD, b"1,\xff\xfe,2\n"], "not-utf8", id="non-utf8"),
        pytest.param([*GOOD, "1,2,3\n".encode("utf-16")], "not-utf8", id="utf16"),
        pytest.param([*GOOD, b"1,2," + b"3" * MAX_LINE_BYTES + b"\n"], "line-too-long", id="line-too-long"),
    ],
)
def test_bad_rows_are_rejected_while_consuming(lines: list[bytes], reason: str) -> None:
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), task("binary:logistic"), 0.2)
    with pytest.raises(InvalidDatasetError) as caught:
        validator.consume("incoming/bad.csv", lines)
    assert caught.value.reason == reason
    assert "incoming/bad.csv line " in caught.value.detail
    assert caught.value.problems[0] == caught.value.detail
    assert str(caught.value) == f"{reason}: {caught.value.detail}"


def test_problem_detail_names_the_line_number() -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        validate([*GOOD, b"1,abc,2\n"], source="incoming/x.csv")
    assert caught.value.detail.startswith("incoming/x.csv line 21, column 2:")


@pytest.mark.parametrize(
    ("lines", "objective", "reason"),
    [
        pytest.param([], "binary:logistic", "empty-dataset", id="empty"),
        pytest.param([b"\n", b"  \n", b"\r\n"], "binary:logistic", "empty-dataset", id="only-blank-lines"),
        pytest.param(simple_rows(MIN_ROWS - 1), "binary:logistic", "too-few-rows", id="too-few-rows"),
        pytest.param([f"1,{i}\n".encode() for i in range(40)], "binary:logistic", "single-class", id="single-class"),
        pytest.param([b"1,2,3\n"] * 100, "binary:logistic", "duplicate-rows", id="one-row-repeated"),
        pytest.param(simple_rows(MIN_ROWS - 1) * 20, "reg:squarederror", "duplicate-rows", id="nine-rows-repeated"),
        pytest.param(
            [f"3,{i}\n".encode() for i in range(40)], "multi:softprob", "single-class", id="single-class-multi"
        ),
        pytest.param(simple_rows(40, classes=3), "binary:logistic", "bad-class-labels", id="labels-0-1-2-binary"),
        pytest.param(
            [f"{(i % 2) * 2},{i}\n".encode() for i in range(40)], "binary:logistic", "bad-class-labels", id="labels-0-2"
        ),
        pytest.param(
            [f"{(i % 2) - 1},{i}\n".encode() for i in range(40)], "binary:logistic", "bad-class-labels", id="negative"
        ),
        pytest.param(
            [f"{(i % 2) + 0.5},{i}\n".encode() for i in range(40)], "multi:softmax", "bad-class-labels", id="fractional"
        ),
    ],
)
def test_bad_datasets_are_rejected_when_finished(lines: list[bytes], objective: str, reason: str) -> None:
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), task(objective), 0.2)
    validator.consume("s.csv", lines)
    with pytest.raises(InvalidDatasetError) as caught:
        validator.finish()
    assert caught.value.reason == reason


def test_minimum_row_count_is_accepted() -> None:
    # With a 45 % validation fraction ten rows fall on both sides of the split.
    assert validate(simple_rows(MIN_ROWS), validation_fraction=0.45).report.rows == MIN_ROWS


def test_a_split_that_leaves_one_side_empty_is_rejected() -> None:
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), task("binary:logistic"), 0.0001)
    validator.consume("s.csv", simple_rows(12))
    with pytest.raises(InvalidDatasetError) as caught:
        validator.finish()
    assert caught.value.reason == "split-empty"


def test_problems_are_capped_and_reading_stops_early() -> None:
    lines = [b"1,abc,2\n"] * 100
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), task("binary:logistic"), 0.2)
    with pytest.raises(InvalidDatasetError) as caught:
        validator.consume("s.csv", lines)
    assert len(caught.value.problems) == MAX_REPORTED_PROBLEMS
    assert validator.report.bytes_read == MAX_REPORTED_PROBLEMS * len(lines[0])


def test_the_first_problem_decides_the_reason() -> None:
    lines = [*GOOD, b"1,abc,2\n", b"1,2\n", b",1,2\n"]
    with pytest.raises(InvalidDatasetError) as caught:
        validate(lines)
    assert caught.value.reason == "non-numeric-feature"
    assert len(caught.value.problems) == 3
    assert "ragged" not in caught.value.detail


def test_a_non_numeric_first_label_is_reported_as_a_header_but_later_as_a_bad_label() -> None:
    with pytest.raises(InvalidDatasetError) as first:
        validate([b"target,x\n", *simple_rows(20)])
    with pytest.raises(InvalidDatasetError) as later:
        validate([*simple_rows(20), b"target,x,y\n"])
    assert (first.value.reason, later.value.reason) == ("header-row", "bad-label")


# --- classes and derived hyperparameters --------------------------------------------------------


def test_multi_class_objective_derives_num_class_from_the_labels() -> None:
    iris = load_iris()
    result = validate(label_first_lines(iris.data, iris.target), objective="multi:softprob")
    assert result.report.label_counts == {"0": 50, "1": 50, "2": 50}
    derived = XGBOOST.derived_hyperparameters(
        {"objective": "multi:softprob", "num_round": "50"}, result.report.label_counts
    )
    assert derived == {"objective": "multi:softprob", "num_round": "50", "num_class": "3"}


def test_an_explicit_num_class_is_kept() -> None:
    result = validate(simple_rows(40, classes=3), objective="multi:softmax")
    assert XGBOOST.derived_hyperparameters({"num_class": "5"}, result.report.label_counts) == {"num_class": "5"}


def test_binary_objective_does_not_get_num_class() -> None:
    result = validate(simple_rows(40))
    assert XGBOOST.derived_hyperparameters({"objective": "binary:logistic"}, result.report.label_counts) == {
        "objective": "binary:logistic"
    }


def test_derived_hyperparameters_do_not_modify_the_input() -> None:
    result = validate(simple_rows(40, classes=3), objective="multi:softprob")
    given = {"objective": "multi:softprob"}
    XGBOOST.derived_hyperparameters(given, result.report.label_counts)
    assert given == {"objective": "multi:softprob"}


def test_labels_written_as_floats_count_as_the_same_class() -> None:
    lines = [f"{'1.0' if i % 4 == 1 else i % 2},{i}\n".encode() for i in range(40)]
    result = validate(lines)
    assert result.report.label_counts == {"0": 20, "1": 20}


def test_multi_class_num_class_covers_the_largest_label() -> None:
    result = validate([f"{(i % 2) * 2},{i}\n".encode() for i in range(40)], objective="multi:softprob")
    derived = XGBOOST.derived_hyperparameters({"objective": "multi:softprob"}, result.report.label_counts)
    largest = max(float(label) for label in result.report.label_counts)
    assert int(derived["num_class"]) > largest


def test_negative_zero_label_is_the_same_class_as_zero() -> None:
    lines = [f"{'-0' if i % 2 else '0'},{i}\n".encode() for i in range(40)]
    validator = DatasetValidator(io.BytesIO(), io.BytesIO(), task("binary:logistic"), 0.2)
    validator.consume("s.csv", lines)
    with pytest.raises(InvalidDatasetError) as caught:
        validator.finish()
    assert caught.value.reason == "single-class"


def test_statistics_document_of_a_report_without_rows_is_empty() -> None:
    statistics = DatasetReport().statistics()
    assert statistics["label"] == {}
    assert statistics["features_stats"] == []
    assert (statistics["rows"], statistics["features"]) == (0, 0)
