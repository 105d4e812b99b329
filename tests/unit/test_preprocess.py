"""preprocess.py against moto S3: split and profile a valid drop, quarantine a bad one."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake.preprocess import DatasetTooLargeError, preprocess
from conveyor_core.intake.s3_io import split_uri
from conveyor_core.shared.contracts import DatasetRef, PipelineInput
from tests.unit.recording import RecordingClient

RUN_ID = "churn-0123456789abcdef01234567"
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "100"}


@pytest.fixture(scope="module")
def good_csv() -> bytes:
    data = load_breast_cancer()
    rows = np.column_stack([data.target, data.data])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def pipeline_input(
    bucket: str, keys: list[str], version_id: str | None = None, uri: str | None = None
) -> PipelineInput:
    kind = "single-object" if len(keys) == 1 else "success-marker"
    return PipelineInput(
        model="churn",
        run_id=RUN_ID,
        dataset=DatasetRef(
            bucket=bucket, keys=keys, uri=uri or f"s3://{bucket}/{keys[0]}", kind=kind, version_id=version_id
        ),
    )


def read(s3: Any, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def run_preprocess(s3: Any, run: PipelineInput, artifact_bucket: str, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "family": XGBOOST,
        "hyperparameters": HYPERPARAMETERS,
        "validation_fraction": 0.2,
        "max_dataset_bytes": 5 * 1024**3,
    }
    arguments.update(overrides)
    return preprocess(s3, run, artifact_bucket, **arguments)


def _all_in_training_split() -> bytes:
    """Ten distinct rows that the deterministic split all sends to training (none to validation)."""
    rows = (f"{i % 2},{i}\n".encode() for i in range(1000))
    chosen = [row for row in rows if zlib.crc32(row) % 10_000 >= 2_000][:10]
    return b"".join(chosen)


def artifact_keys(s3: Any, artifact_bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=artifact_bucket).get("Contents", [])}


def test_valid_csv_is_split_and_profiled(s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes) -> None:
    version = s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=good_csv)["VersionId"]

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"], version), artifact_bucket)

    assert result.status == "ok"
    assert result.reason is None
    assert result.rows == 569
    assert result.features == 30
    assert result.dataset_sha256 == hashlib.sha256(good_csv).hexdigest()
    assert result.hyperparameters == HYPERPARAMETERS
    assert result.train_uri == f"s3://{artifact_bucket}/runs/{RUN_ID}/data/train/"
    assert result.validation_uri == f"s3://{artifact_bucket}/runs/{RUN_ID}/data/validation/"
    assert artifact_keys(s3, artifact_bucket) == {
        f"runs/{RUN_ID}/data/train/train.csv",
        f"runs/{RUN_ID}/data/validation/validation.csv",
        f"runs/{RUN_ID}/statistics.json",
        f"runs/{RUN_ID}/baseline/statistics.json",
        f"runs/{RUN_ID}/baseline/constraints.json",
    }
    assert result.baseline_statistics_uri == f"s3://{artifact_bucket}/runs/{RUN_ID}/baseline/statistics.json"
    baseline = json.loads(read(s3, result.baseline_statistics_uri))
    assert baseline["dataset"]["item_count"] == 569
    assert len(baseline["features"]) == 30
    sketch = baseline["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"][0]
    assert len(sketch) == 569, "a dataset smaller than the sample is kept whole"
    train = read(s3, result.train_uri + "train.csv")
    validation = read(s3, result.validation_uri + "validation.csv")
    assert train.count(b"\n") + validation.count(b"\n") == 569
    assert 0.1 < validation.count(b"\n") / 569 < 0.3
    assert sorted(train.splitlines() + validation.splitlines()) == sorted(good_csv.splitlines())

    assert result.statistics_uri == f"s3://{artifact_bucket}/runs/{RUN_ID}/statistics.json"
    statistics = json.loads(read(s3, result.statistics_uri))
    assert statistics["rows"] == 569
    assert statistics["train_rows"] == train.count(b"\n")
    assert statistics["validation_rows"] == validation.count(b"\n")
    assert statistics["sha256"] == result.dataset_sha256
    assert statistics["dataset_uri"] == f"s3://{bucket}/incoming/churn.csv"
    assert statistics["label_counts"] == {"0": 212, "1": 357}
    assert len(statistics["features_stats"]) == 30


def test_folder_drop_of_plain_and_gzip_parts_is_read_in_order(s3: Any, bucket: str, artifact_bucket: str) -> None:
    first = b"".join(f"{i % 2},{i},{i * 2}\n".encode() for i in range(30))
    second = b"".join(f"{i % 2},{i},{i * 3}\n".encode() for i in range(30, 50))
    s3.put_object(Bucket=bucket, Key="incoming/d/part-0000.csv", Body=first)
    s3.put_object(Bucket=bucket, Key="incoming/d/part-0001.csv.gz", Body=gzip.compress(second))
    run = pipeline_input(
        bucket, ["incoming/d/part-0000.csv", "incoming/d/part-0001.csv.gz"], uri=f"s3://{bucket}/incoming/d/"
    )

    result = run_preprocess(s3, run, artifact_bucket)

    assert result.status == "ok"
    assert result.rows == 50
    assert result.dataset_sha256 == hashlib.sha256(first + second).hexdigest()


def test_multi_class_objective_gets_num_class(s3: Any, bucket: str, artifact_bucket: str) -> None:
    body = b"".join(f"{i % 3},{i}\n".encode() for i in range(60))
    version = s3.put_object(Bucket=bucket, Key="incoming/iris.csv", Body=body)["VersionId"]
    result = run_preprocess(
        s3,
        pipeline_input(bucket, ["incoming/iris.csv"], version),
        artifact_bucket,
        hyperparameters={"objective": "multi:softprob"},
    )
    assert result.status == "ok"
    assert result.hyperparameters == {"objective": "multi:softprob", "num_class": "3"}


def test_pinned_version_is_read_even_after_the_key_was_overwritten(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    version = s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=good_csv)["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=b"header,row\n")
    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"], version), artifact_bucket)
    assert result.status == "ok"
    assert result.dataset_sha256 == hashlib.sha256(good_csv).hexdigest()


def test_bad_csv_is_quarantined_and_the_original_left_unchanged(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    bad = b"label,f1,f2\n" + good_csv
    version = s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=bad)["VersionId"]

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"], version), artifact_bucket)

    assert result.status == "quarantined"
    assert result.reason == "header-row"
    assert result.detail
    assert "incoming/churn.csv line 1" in result.detail
    assert result.quarantine_uri == f"s3://{bucket}/quarantine/{RUN_ID}/reason.json"
    assert result.train_uri is None
    assert read(s3, f"s3://{bucket}/quarantine/{RUN_ID}/incoming/churn.csv") == bad
    reason = json.loads(read(s3, result.quarantine_uri))
    assert reason["reason"] == "header-row"
    assert reason["stage"] == "preprocess"
    assert reason["detail"] == result.detail
    assert reason["problems"]
    assert reason["sources"] == [f"s3://{bucket}/incoming/churn.csv"]
    assert reason["missing_sources"] == []
    original = s3.get_object(Bucket=bucket, Key="incoming/churn.csv")
    assert original["VersionId"] == version
    assert original["Body"].read() == bad
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="incoming/churn.csv")["Versions"]) == 1
    # Nothing half-written is left in the artifact bucket.
    assert artifact_keys(s3, artifact_bucket) == set()
    assert not s3.list_multipart_uploads(Bucket=artifact_bucket).get("Uploads")


def test_bad_row_after_a_multipart_part_aborts_the_upload(
    s3: Any, bucket: str, artifact_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor_core.intake import s3_io

    monkeypatch.setattr(s3_io, "PART_SIZE", 64 * 1024)
    body = b"".join(f"{i % 2},{i}\n".encode() for i in range(50_000)) + b"1,text\n"
    s3.put_object(Bucket=bucket, Key="incoming/big.csv", Body=body)
    client = RecordingClient(s3)

    result = run_preprocess(client, pipeline_input(bucket, ["incoming/big.csv"]), artifact_bucket)

    assert (result.status, result.reason) == ("quarantined", "non-numeric-feature")
    assert client.calls.count("create_multipart_upload") == 2
    assert client.calls.count("abort_multipart_upload") == 2
    assert "complete_multipart_upload" not in client.calls
    assert not s3.list_multipart_uploads(Bucket=artifact_bucket).get("Uploads")
    assert artifact_keys(s3, artifact_bucket) == set()


@pytest.mark.parametrize(
    "case",
    [
        (b"".join(f"1,{i}\n".encode() for i in range(20)), "incoming/a.csv", "single-class"),
        (b"1,2\n0,3\n", "incoming/a.csv", "too-few-rows"),
        (b"1,2\n0,3\n" * 10, "incoming/a.csv.gz", "bad-gzip"),
        (gzip.compress(b"1,2\n0,3\n" * 10, mtime=0), "incoming/a.csv", "gzip-without-suffix"),
        (b"1,2\n\xef\xbb\xbf0,3\n" * 10, "incoming/a.csv", "bad-label"),
        (b"1,2\n0,3\n" * 10, "incoming/a.csv", "duplicate-rows"),
        (_all_in_training_split(), "incoming/a.csv", "split-empty"),
        (b"PAR1\x15\x04" + b"\x00" * 64, "incoming/a.csv", "not-csv"),
        (b"1," + b"7" * (2 * 1024 * 1024) + b"\n", "incoming/a.csv", "line-too-long"),
    ],
    ids=[
        "single-class",
        "too-few-rows",
        "bad-gzip",
        "gzip-without-suffix",
        "bom-inside-the-file",
        "duplicate-rows",
        "split-empty",
        "not-csv",
        "line-too-long",
    ],
)
def test_each_kind_of_bad_data_is_quarantined_with_its_reason(
    s3: Any, bucket: str, artifact_bucket: str, case: tuple[bytes, str, str]
) -> None:
    body, key, reason = case
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    result = run_preprocess(s3, pipeline_input(bucket, [key]), artifact_bucket)
    assert (result.status, result.reason) == ("quarantined", reason)
    assert read(s3, f"s3://{bucket}/quarantine/{RUN_ID}/{key}") == body


def test_bad_part_quarantines_every_part_of_the_drop(s3: Any, bucket: str, artifact_bucket: str) -> None:
    keys = ["incoming/d/part-0000.csv", "incoming/d/part-0001.csv"]
    s3.put_object(Bucket=bucket, Key=keys[0], Body=b"1,2\n0,3\n" * 10)
    s3.put_object(Bucket=bucket, Key=keys[1], Body=b"1,2,3\n")
    result = run_preprocess(s3, pipeline_input(bucket, keys), artifact_bucket)
    assert (result.status, result.reason) == ("quarantined", "ragged-row")
    assert "incoming/d/part-0001.csv line 1" in (result.detail or "")
    for key in keys:
        assert s3.head_object(Bucket=bucket, Key=f"quarantine/{RUN_ID}/{key}")


def test_dataset_larger_than_the_limit_fails_the_run(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/d/part-0000.csv", Body=good_csv)
    s3.put_object(Bucket=bucket, Key="incoming/d/part-0001.csv", Body=good_csv)
    run = pipeline_input(bucket, ["incoming/d/part-0000.csv", "incoming/d/part-0001.csv"])
    with pytest.raises(DatasetTooLargeError) as caught:
        run_preprocess(s3, run, artifact_bucket, max_dataset_bytes=2 * len(good_csv) - 1)
    assert str(2 * len(good_csv)) in str(caught.value)
    assert artifact_keys(s3, artifact_bucket) == set()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/")
    assert run_preprocess(s3, run, artifact_bucket, max_dataset_bytes=2 * len(good_csv)).status == "ok"


def test_object_deleted_before_processing_is_quarantined_as_missing(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=good_csv)
    s3.delete_object(Bucket=bucket, Key="incoming/churn.csv")

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"]), artifact_bucket)

    assert result.status == "quarantined"
    assert result.reason == "object-missing"
    assert result.detail is not None
    assert result.detail.startswith(f"s3://{bucket}/incoming/churn.csv no longer exists")
    reason = json.loads(read(s3, result.quarantine_uri or ""))
    assert reason["reason"] == "object-missing"
    assert reason["missing_sources"] == ["incoming/churn.csv"]
    assert artifact_keys(s3, artifact_bucket) == set()


def test_one_missing_part_of_a_folder_drop_is_quarantined_as_missing(
    s3: Any, bucket: str, artifact_bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/d/part-0000.csv", Body=b"1,2\n0,3\n" * 10)
    run = pipeline_input(bucket, ["incoming/d/part-0000.csv", "incoming/d/part-0001.csv"])
    result = run_preprocess(s3, run, artifact_bucket)
    assert (result.status, result.reason) == ("quarantined", "object-missing")
    reason = json.loads(read(s3, result.quarantine_uri or ""))
    assert reason["missing_sources"] == ["incoming/d/part-0001.csv"]
    assert read(s3, f"s3://{bucket}/quarantine/{RUN_ID}/incoming/d/part-0000.csv") == b"1,2\n0,3\n" * 10


def test_quarantine_copies_the_version_that_failed(s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes) -> None:
    bad = b"label,f1\n" + b"1,2\n" * 20
    version = s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=bad)["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=good_csv)

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"], version), artifact_bucket)

    assert result.reason == "header-row"
    assert read(s3, f"s3://{bucket}/quarantine/{RUN_ID}/incoming/churn.csv") == bad


def test_a_pinned_version_whose_key_was_deleted_is_withdrawn_and_never_copied(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    # In a versioned bucket the version survives a plain delete, but the uploader took it back.
    version = s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=good_csv)["VersionId"]
    s3.delete_object(Bucket=bucket, Key="incoming/churn.csv")

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"], version), artifact_bucket)

    assert (result.status, result.reason) == ("quarantined", "object-missing")
    reason = json.loads(read(s3, result.quarantine_uri or ""))
    assert reason["missing_sources"] == ["incoming/churn.csv"]
    assert [o["status"] for o in reason["objects"]] == ["missing"]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/")["Contents"]}
    assert listed == {f"quarantine/{RUN_ID}/reason.json"}, "the deleted data is not copied back into existence"
    assert artifact_keys(s3, artifact_bucket) == set()


def test_a_byte_order_mark_at_the_start_of_a_file_is_accepted_as_xgboost_does(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/churn.csv", Body=b"\xef\xbb\xbf" + good_csv.replace(b"\n", b"\r\n"))

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/churn.csv"]), artifact_bucket)

    assert (result.status, result.rows) == ("ok", 569)
    train = read(s3, result.train_uri + "train.csv")
    assert not train.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in train


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("incoming/a.csv", "application/json"),
        ("incoming/a.csv", "image/png"),
        ("incoming/a.csv", "application/gzip"),
        ("incoming/a.csv", "text/csv; charset=iso-8859-1"),
    ],
)
def test_a_declared_content_type_that_is_not_csv_is_quarantined(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes, key: str, content_type: str
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=good_csv, ContentType=content_type)
    result = run_preprocess(s3, pipeline_input(bucket, [key]), artifact_bucket)
    assert (result.status, result.reason) == ("quarantined", "wrong-content-type")
    assert read(s3, f"s3://{bucket}/quarantine/{RUN_ID}/{key}") == good_csv


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("incoming/a.csv", "text/csv"),
        ("incoming/a.csv", "text/csv; charset=utf-8"),
        ("incoming/a.csv", "binary/octet-stream"),
        ("incoming/a.csv", "application/vnd.ms-excel"),
        ("incoming/a.csv.gz", "application/gzip"),
    ],
)
def test_content_types_a_csv_upload_really_gets_are_accepted(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes, key: str, content_type: str
) -> None:
    body = gzip.compress(good_csv, mtime=0) if key.endswith(".gz") else good_csv
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    assert run_preprocess(s3, pipeline_input(bucket, [key]), artifact_bucket).status == "ok"


def test_a_pinned_version_deleted_after_an_overwrite_is_version_gone_not_deleted(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    # Given a run for version 1, whose key a second upload overwrote before version 1 was deleted
    version = s3.put_object(Bucket=bucket, Key="incoming/sales Q3.csv", Body=good_csv)["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/sales Q3.csv", Body=good_csv)
    s3.delete_object(Bucket=bucket, Key="incoming/sales Q3.csv", VersionId=version)

    result = run_preprocess(s3, pipeline_input(bucket, ["incoming/sales Q3.csv"], version), artifact_bucket)

    # Then the reason says the version is gone and the current one is a run of its own
    assert (result.status, result.reason) == ("quarantined", "version-gone")
    assert result.detail is not None
    assert f"version {version} of s3://{bucket}/incoming/sales Q3.csv no longer exists" in result.detail
    assert "separate upload" in result.detail
    assert "deleted after it landed" not in result.detail
    reason = json.loads(read(s3, result.quarantine_uri or ""))
    assert reason["reason"] == "version-gone"
    assert [o["status"] for o in reason["objects"]] == ["missing"]
    assert artifact_keys(s3, artifact_bucket) == set()


def test_a_drop_named_as_people_name_files_is_split_under_derived_names(
    s3: Any, bucket: str, artifact_bucket: str, good_csv: bytes
) -> None:
    key = "incoming/données de mars (final).csv"
    version = s3.put_object(Bucket=bucket, Key=key, Body=good_csv)["VersionId"]

    result = run_preprocess(s3, pipeline_input(bucket, [key], version), artifact_bucket)

    assert result.status == "ok"
    assert result.train_uri == f"s3://{artifact_bucket}/runs/{RUN_ID}/data/train/"
    assert all(k.isascii() and " " not in k for k in artifact_keys(s3, artifact_bucket))
