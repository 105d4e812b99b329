"""A drop read by Processing shards, merged, gives what the Lambda's single pass gives.

Every case writes the same files once for a single ``DatasetValidator`` pass (as Preprocess runs it,
file after file in key order) and once per instance count as a Processing job's instances see them
(``ShardedByS3Key`` deals the files out; each instance runs ``shard_worker.run_shard``), then
``shard_merge.merge_reports`` folds the shard reports. Rows, split, labels, statistics, sample,
reasons and messages must agree; mean and standard deviation to within float rounding.
"""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake import s3_io, shard_worker
from conveyor_core.intake.csv_dataset import DatasetReport, DatasetValidator, InvalidDatasetError, check_complete
from conveyor_core.intake.shard_merge import merge_reports, train_parts, training_volume_gb
from conveyor_core.intake.shard_report import ShardReport

FRACTION = 0.2
BINARY = XGBOOST.label_task({"objective": "binary:logistic"})
MULTICLASS = XGBOOST.label_task({"objective": "multi:softprob", "num_class": "4"})
PREFIX = "incoming/drop-1/"


def _rows(rng: random.Random, count: int, features: int, classes: int = 2, missing: float = 0.1) -> bytes:
    lines = []
    for _ in range(count):
        cells = [str(rng.randrange(classes))]
        for _ in range(features):
            cells.append("" if rng.random() < missing else f"{rng.gauss(0, 10):.6g}")
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def _single_pass(files: list[tuple[str, bytes]], task: Any = BINARY) -> tuple[Any, bytes, bytes]:
    train, validation = io.BytesIO(), io.BytesIO()
    validator = DatasetValidator(train, validation, task, FRACTION)
    try:
        for key, data in files:
            validator.consume_blocks(key, s3_io.blocks_of_object_bytes(data, key))
        report = validator.finish()
    except InvalidDatasetError as error:
        return (error.reason, error.detail), b"", b""
    return report, train.getvalue(), validation.getvalue()


def _sharded(
    tmp_path: Path, files: list[tuple[str, bytes]], instances: int, task: Any = BINARY
) -> tuple[Any, bytes, bytes, list[ShardReport]]:
    keys = [key for key, _ in files]
    drop = {"prefix": PREFIX, "keys": keys, "validation_fraction": FRACTION}
    output = tmp_path / f"out-{instances}"
    shards = []
    for index in range(instances):
        data = tmp_path / f"data-{instances}-{index}"
        for key, body in files[index::instances]:
            path = data / key[len(PREFIX) :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        data.mkdir(parents=True, exist_ok=True)
        shard = shard_worker.run_shard(data, drop, output, f"algo-{index + 1}")
        # Through JSON, as the merge reads it from S3.
        shards.append(ShardReport.from_json(json.loads(json.dumps(shard.as_json()))))
    try:
        report, distinct = merge_reports(shards, keys)
        check_complete(report, distinct, task)
    except InvalidDatasetError as error:
        return (error.reason, error.detail), b"", b"", shards
    parts = {
        side: b"".join(path.read_bytes() for path in sorted((output / side).glob("part-*.csv")))
        for side in ("train", "validation")
    }
    return report, parts["train"], parts["validation"], shards


def _assert_same_report(merged: DatasetReport, single: DatasetReport) -> None:
    for name in ("rows", "train_rows", "validation_rows", "columns", "bytes_read"):
        assert getattr(merged, name) == getattr(single, name), name
    assert list(merged.label_counts.items()) == list(single.label_counts.items())
    assert merged.sample == single.sample
    assert len(merged.column_stats) == len(single.column_stats)
    for ours, theirs in zip(merged.column_stats, single.column_stats, strict=True):
        a, b = ours.as_dict(), theirs.as_dict()
        for exact in ("count", "missing", "min", "max"):
            assert a[exact] == b[exact], exact
        for rounded in ("mean", "stddev"):
            assert math.isclose(a[rounded], b[rounded], rel_tol=1e-12, abs_tol=1e-12), rounded  # type: ignore[arg-type]


@pytest.mark.parametrize("instances", [1, 2, 3, 5])
def test_merged_shards_equal_one_pass(tmp_path: Path, instances: int) -> None:
    rng = random.Random(instances)
    files = [(f"{PREFIX}part-{n:03d}.csv", _rows(rng, rng.randrange(50, 4000), 6)) for n in range(5)]
    single, train, validation = _single_pass(files)
    merged, merged_train, merged_validation, shards = _sharded(tmp_path, files, instances)
    assert isinstance(single, DatasetReport)
    assert isinstance(merged, DatasetReport)
    _assert_same_report(merged, single)
    # The same rows on the same side, in the same order once the parts are read in key order.
    assert merged_train == train
    assert merged_validation == validation
    assert train_parts(shards) == 5


def test_multiclass_labels_keep_their_order_of_first_appearance(tmp_path: Path) -> None:
    rng = random.Random(7)
    files = [(f"{PREFIX}b/{n}.csv", _rows(rng, 300, 3, classes=1 + n)) for n in range(4)]
    single, _, _ = _single_pass(files, MULTICLASS)
    merged, _, _, _ = _sharded(tmp_path, files, 3, MULTICLASS)
    assert isinstance(merged, DatasetReport)
    assert isinstance(single, DatasetReport)
    assert list(merged.label_counts) == list(single.label_counts) == ["0", "1", "2", "3"]
    _assert_same_report(merged, single)


def test_gzip_and_crlf_parts_merge_like_one_pass(tmp_path: Path) -> None:
    import gzip

    rng = random.Random(3)
    plain = _rows(rng, 500, 4)
    files = [
        (f"{PREFIX}a.csv", plain.replace(b"\n", b"\r\n")),
        (f"{PREFIX}b.csv.gz", gzip.compress(_rows(rng, 700, 4))),
        (f"{PREFIX}c.csv", b"\xef\xbb\xbf" + _rows(rng, 90, 4)),
    ]
    single, train, _ = _single_pass(files)
    merged, merged_train, _, _ = _sharded(tmp_path, files, 2)
    assert isinstance(merged, DatasetReport)
    assert isinstance(single, DatasetReport)
    _assert_same_report(merged, single)
    assert merged_train == train


BAD_CASES = {
    # a bad row in a later file: that file's reason, its own problems
    "bad-label-in-third-file": {2: b"1,2,3\nx,1,2\n0,1,2\n"},
    "non-numeric-feature": {1: b"0,1,2\n1,abc,3\n"},
    "infinite-feature": {3: b"0,1,inf\n"},
    # a file whose rows have another column count than the first file's rows
    "ragged-across-files": {2: b"0,1,2,3\n1,2,3,4\n"},
    # the drop's first row is a header: header-row; the same row opening a later file is a bad label
    "header-first-file": {0: b"label,f1,f2\n0,1,2\n"},
    "header-like-later-file": {3: b"label,f1,f2\n0,1,2\n"},
    "single-column-later-file": {1: b"1\n0\n"},
    "not-utf8": {4: b"0,1,2\n1,\xff\xfe,2\n"},
    "blank-lines-then-ragged": {1: b"\n\n0,1\n"},
    # files of blank lines only come first: the next file's first row is the drop's first row
    "header-after-blank-files": {0: b"\n\n", 1: b"\r\n \n", 2: b"label,f1,f2\n0,1,2\n"},
    "single-column-after-a-blank-file": {0: b"\n", 1: b"1\n0\n"},
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_data_gets_the_single_pass_reason_and_message(tmp_path: Path, case: str) -> None:
    rng = random.Random(11)
    files = [(f"{PREFIX}part-{n}.csv", _rows(rng, 40, 2, missing=0.0)) for n in range(5)]
    for index, body in BAD_CASES[case].items():
        files[index] = (files[index][0], body)
    single, _, _ = _single_pass(files)
    assert isinstance(single, tuple), "the case must be bad data"
    for instances in (1, 2, 4):
        merged, _, _, _ = _sharded(tmp_path / str(instances), files, instances)
        assert merged == single, instances


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([("a.csv", b"")], "empty-dataset"),
        ([("a.csv", b"0,1\n1,2\n"), ("b.csv", b"0,3\n")], "too-few-rows"),
        ([("a.csv", b"0,1\n" * 30), ("b.csv", b"1,1\n" * 30)], "duplicate-rows"),
        ([("a.csv", b"".join(b"1,%d\n" % n for n in range(40)))], "single-class"),
    ],
)
def test_whole_drop_checks_run_on_the_merged_report(
    tmp_path: Path, files: list[tuple[str, bytes]], reason: str
) -> None:
    files = [(PREFIX + key, body) for key, body in files]
    single, _, _ = _single_pass(files)
    merged, _, _, _ = _sharded(tmp_path, files, 2)
    assert isinstance(single, tuple)
    assert single[0] == reason
    assert merged == single


def test_a_missing_shard_report_fails_the_merge_rather_than_accepting_part_of_the_drop(tmp_path: Path) -> None:
    rng = random.Random(5)
    files = [(f"{PREFIX}{n}.csv", _rows(rng, 100, 2)) for n in range(3)]
    _, _, _, shards = _sharded(tmp_path, files, 3)
    from conveyor_core.intake.shard_merge import ShardsIncompleteError

    with pytest.raises(ShardsIncompleteError, match="reported 2 of the drop's 3 files"):
        merge_reports(shards[:2], [key for key, _ in files])


def test_a_file_the_manifest_does_not_name_is_a_shard_failure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "stray.csv").write_bytes(b"0,1\n")
    with pytest.raises(ValueError, match="not in the drop's manifest"):
        shard_worker.shard_files(data, PREFIX, [f"{PREFIX}a.csv"])


def test_worker_main_writes_its_report_or_a_message_naming_the_shard(tmp_path: Path) -> None:
    rng = random.Random(9)
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_bytes(_rows(rng, 200, 3))
    drop = tmp_path / "drop.json"
    drop.write_text(json.dumps({"prefix": PREFIX, "keys": [f"{PREFIX}a.csv"], "validation_fraction": 0.2}))
    resources = tmp_path / "resourceconfig.json"
    resources.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    message = tmp_path / "message"
    args = ["--data", str(data), "--drop", str(drop), "--output", str(tmp_path / "out")]
    args += ["--resource-config", str(resources), "--message", str(message)]
    assert shard_worker.main(args) == 0
    report = json.loads((tmp_path / "out" / "reports" / "algo-2.json").read_text())
    assert report["files"][0]["rows"] == 200
    assert not message.exists()

    (data / "stray.csv").write_bytes(b"0,1\n")
    assert shard_worker.main(args) == 1
    assert message.read_text().startswith("shard algo-2: ValueError: incoming/drop-1/stray.csv was delivered")


def test_training_volume_grows_with_the_share_of_data() -> None:
    report = DatasetReport(rows=100, train_rows=80, validation_rows=20, bytes_read=400 * 1024**3)
    assert training_volume_gb(report, 4) == math.ceil(1.5 * (80 + 80))
    assert training_volume_gb(DatasetReport(rows=10, train_rows=8, validation_rows=2, bytes_read=1000), 1) == 30


def test_a_stopped_worker_writes_a_message_naming_its_shard_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.csv", "b.csv"):
        (data / name).write_bytes(b"0,1\n1,2\n")
    drop = tmp_path / "drop.json"
    drop.write_text(
        json.dumps({"prefix": PREFIX, "keys": [f"{PREFIX}a.csv", f"{PREFIX}b.csv"], "validation_fraction": 0.2})
    )
    resources = tmp_path / "resourceconfig.json"
    resources.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    message = tmp_path / "message"
    real = shard_worker.validate_file

    def stopped_on_second_file(path: Path, key: str, *args: Any) -> Any:
        if key.endswith("b.csv"):
            os.kill(os.getpid(), signal.SIGTERM)  # what SageMaker sends at MaxRuntimeInSeconds
        return real(path, key, *args)

    monkeypatch.setattr(shard_worker, "validate_file", stopped_on_second_file)
    before = signal.getsignal(signal.SIGTERM)
    args = ["--data", str(data), "--drop", str(drop), "--output", str(tmp_path / "out")]
    assert shard_worker.main([*args, "--resource-config", str(resources), "--message", str(message)]) == 1
    assert message.read_text() == (
        f"shard algo-1: 2 files, 1 done; failed on {PREFIX}b.csv: Stopped: the job was stopped "
        "(SIGTERM: MaxRuntimeInSeconds reached, or StopProcessingJob)"
    )
    assert signal.getsignal(signal.SIGTERM) == before, "the worker's handler does not outlive it"
