"""drop_reader.py: a drop's objects read in key order, small ones fetched ahead on threads."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.intake import drop_reader
from conveyor_core.intake.csv_dataset import InvalidDatasetError
from conveyor_core.intake.preprocess import preprocess
from conveyor_core.intake.s3_io import blocks_of_object_bytes, iter_object_blocks
from conveyor_core.shared.contracts import PipelineInput

# --- iter_drop_blocks -----------------------------------------------------------------------------


def _consume_drop(s3: Any, bucket: str, keys: list[str], sizes: dict[str, int], consumed: list[str]) -> None:
    for key, blocks in drop_reader.iter_drop_blocks(s3, bucket, keys, sizes):
        list(blocks)
        consumed.append(key)


def _parts(s3: Any, bucket: str, bodies: dict[str, bytes]) -> dict[str, int]:
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {key: len(body) for key, body in bodies.items()}


def test_blocks_of_object_bytes_match_the_streamed_blocks(s3: Any, bucket: str) -> None:
    body = b"".join(f"{i % 2},{i * 0.5},{i}\n".encode() for i in range(200_000))  # several READ_CHUNKs
    s3.put_object(Bucket=bucket, Key="big.csv", Body=body)
    s3.put_object(Bucket=bucket, Key="big.csv.gz", Body=gzip.compress(body))

    for key, data in (("big.csv", body), ("big.csv.gz", gzip.compress(body))):
        assert list(blocks_of_object_bytes(data, key)) == list(iter_object_blocks(s3, bucket, key))


def test_drop_blocks_are_each_object_s_blocks_in_key_order(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some parts over the prefetch limit: those stream at their turn, between prefetched ones.
    monkeypatch.setattr(drop_reader, "PREFETCH_MAX_BYTES", 40)
    bodies = {f"drop/part-{i:03d}.csv": f"1,{i}.5,{i}\n".encode() * (1 + i % 7) for i in range(30)}
    bodies["drop/part-999.csv.gz"] = gzip.compress(b"0,1.5,2\n0,2.5,3\n")
    sizes = _parts(s3, bucket, bodies)
    keys = sorted(bodies)

    read = [(key, b"".join(blocks)) for key, blocks in drop_reader.iter_drop_blocks(s3, bucket, keys, sizes)]

    assert [key for key, _ in read] == keys
    for key, data in read:
        expected = gzip.decompress(bodies[key]) if key.endswith(".gz") else bodies[key]
        assert data == expected, key
    assert any(size > 40 for size in sizes.values())
    assert any(size <= 40 for size in sizes.values())


def test_a_bad_part_fails_at_its_turn_after_the_parts_before_it(s3: Any, bucket: str) -> None:
    bodies = {f"drop/part-{i:03d}.csv": b"1,2.5,3\n" for i in range(12)}
    bodies["drop/part-005.csv"] = b"PAR1" + b"\x00" * 32
    sizes = _parts(s3, bucket, bodies)

    consumed: list[str] = []
    with pytest.raises(InvalidDatasetError) as raised:
        _consume_drop(s3, bucket, sorted(bodies), sizes, consumed)

    assert raised.value.reason == "not-csv"
    assert consumed == [f"drop/part-{i:03d}.csv" for i in range(5)]


def test_a_part_deleted_before_its_read_raises_no_such_key_at_its_turn(s3: Any, bucket: str) -> None:
    bodies = {f"drop/part-{i:03d}.csv": b"1,2.5,3\n" for i in range(4)}
    sizes = _parts(s3, bucket, bodies)
    s3.delete_object(Bucket=bucket, Key="drop/part-002.csv")

    consumed: list[str] = []
    with pytest.raises(ClientError, match="NoSuchKey"):
        _consume_drop(s3, bucket, sorted(bodies), sizes, consumed)

    assert consumed == ["drop/part-000.csv", "drop/part-001.csv"]


# --- preprocess over a many-part drop -------------------------------------------------------------


def _folder_run(bucket: str, keys: list[str]) -> PipelineInput:
    return PipelineInput.model_validate(
        {
            "model": "tabular",
            "run_id": "tabular-parts",
            "dataset": {"bucket": bucket, "keys": keys, "uri": f"s3://{bucket}/drop/", "kind": "success-marker"},
        }
    )


def test_preprocess_of_many_parts_reads_every_row_once(s3: Any, bucket: str, artifact_bucket: str) -> None:
    bodies = {f"drop/part-{i:04d}.csv": f"{i % 2},{i}.5,{i % 13}\n".encode() for i in range(300)}
    _parts(s3, bucket, bodies)

    output = preprocess(
        s3, _folder_run(bucket, sorted(bodies)), artifact_bucket, XGBOOST, {"objective": "binary:logistic"}, 0.2, 10**9
    )

    assert output.status == "ok"
    assert output.rows == 300
    split = b"".join(
        s3.get_object(Bucket=artifact_bucket, Key=f"runs/tabular-parts/data/{name}/{name}.csv")["Body"].read()
        for name in ("train", "validation")
    )
    assert sorted(split.splitlines()) == sorted(line for body in bodies.values() for line in body.splitlines())


def test_preprocess_reports_every_missing_part_of_a_folder(s3: Any, bucket: str, artifact_bucket: str) -> None:
    bodies = {f"drop/part-{i:04d}.csv": b"1,2.5,3\n0,1.5,2\n" for i in range(20)}
    _parts(s3, bucket, bodies)
    for gone in ("drop/part-0003.csv", "drop/part-0017.csv"):
        s3.delete_object(Bucket=bucket, Key=gone)

    output = preprocess(
        s3, _folder_run(bucket, sorted(bodies)), artifact_bucket, XGBOOST, {"objective": "binary:logistic"}, 0.2, 10**9
    )

    assert output.status == "quarantined"
    assert output.reason == "object-missing"
    assert "part-0003.csv" in (output.detail or "")
    assert "part-0017.csv" in (output.detail or "")
    for key in bodies:
        if key not in ("drop/part-0003.csv", "drop/part-0017.csv"):
            assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0, "nothing is deleted"
