"""s3_io.py against moto S3: streaming lines (plain and gzip), streaming writes, quarantine."""

from __future__ import annotations

import gzip
import json
import re
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conveyor_core.intake import s3_io
from conveyor_core.intake.csv_dataset import InvalidDatasetError
from conveyor_core.intake.s3_io import (
    PART_SIZE,
    S3StreamWriter,
    iter_object_blocks,
    iter_object_lines,
    put_json,
    quarantine,
    split_uri,
)
from tests.unit.recording import RecordingClient

CSV = b"1,2.5,3\n0,1.5,4\n1,0.5,5\n"


# --- split_uri ----------------------------------------------------------------------------------


def test_split_uri_returns_bucket_and_key() -> None:
    assert split_uri("s3://bucket/a/b/c.csv") == ("bucket", "a/b/c.csv")
    assert split_uri("s3://bucket") == ("bucket", "")


@pytest.mark.parametrize("uri", ["https://bucket/key", "bucket/key", "s3:///key", ""])
def test_split_uri_rejects_non_s3_uris(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3:// URI"):
        split_uri(uri)


# --- iter_object_lines --------------------------------------------------------------------------


def test_plain_object_lines_keep_their_newlines(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=CSV)
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv")) == [b"1,2.5,3\n", b"0,1.5,4\n", b"1,0.5,5\n"]


def test_gzip_object_is_decompressed(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=gzip.compress(CSV))
    assert b"".join(iter_object_lines(s3, bucket, "incoming/a.csv.gz")) == CSV


def test_large_gzip_object_spanning_many_read_chunks_is_decompressed_line_by_line(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 1000)
    body = b"".join(f"{i % 2},{i},{i * 3}\n".encode() for i in range(20_000))
    s3.put_object(Bucket=bucket, Key="incoming/big.csv.gz", Body=gzip.compress(body))
    lines = list(iter_object_lines(s3, bucket, "incoming/big.csv.gz"))
    assert len(lines) == 20_000
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert b"".join(lines) == body


def test_lines_split_across_read_chunks_are_reassembled(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 3)
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=CSV)
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv")) == CSV.splitlines(keepends=True)


def test_a_line_that_outgrows_the_limit_is_refused_before_it_is_held_in_memory(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 1000)
    monkeypatch.setattr(s3_io, "MAX_LINE_BYTES", 4000)
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2\n" + b"9" * 100_000)
    lines = iter_object_lines(s3, bucket, "incoming/a.csv")
    assert next(lines) == b"1,2\n"
    with pytest.raises(InvalidDatasetError) as caught:
        next(lines)
    assert caught.value.reason == "line-too-long"
    assert caught.value.detail.startswith("incoming/a.csv line 2:")


def test_a_gzip_bomb_inflates_in_bounded_pieces(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 64 * 1024)
    inflated = []
    original = s3_io._lines

    def recording_lines(chunks: Any, name: str) -> Any:
        def observed() -> Any:
            for chunk in chunks:
                inflated.append(len(chunk))
                yield chunk

        return original(observed(), name)

    monkeypatch.setattr(s3_io, "_lines", recording_lines)
    body = gzip.compress(b"1,2\n" * 2_000_000, mtime=0)  # 8 MB of rows in a few KB
    s3.put_object(Bucket=bucket, Key="incoming/bomb.csv.gz", Body=body)
    assert sum(1 for _ in iter_object_lines(s3, bucket, "incoming/bomb.csv.gz")) == 2_000_000
    assert max(inflated) <= 64 * 1024
    assert sum(inflated) == 8_000_000


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"PAR1\x15\x04\x15", "Parquet"),
        (b"PK\x03\x04\x14\x00", "ZIP"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"%PDF-1.7\n", "PDF"),
    ],
)
def test_binary_formats_saved_under_a_csv_name_are_refused(s3: Any, bucket: str, body: bytes, what: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=body)
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_lines(s3, bucket, "incoming/a.csv"))
    assert caught.value.reason == "not-csv"
    assert what in caught.value.detail


def test_gz_key_that_is_not_gzip_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=CSV)
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_lines(s3, bucket, "incoming/a.csv.gz"))
    assert caught.value.reason == "bad-gzip"


def test_corrupt_gzip_data_is_refused(s3: Any, bucket: str) -> None:
    data = bytearray(gzip.compress(CSV * 50, mtime=0))
    data[20:40] = b"\x00" * 20
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=bytes(data))
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_lines(s3, bucket, "incoming/a.csv.gz"))
    assert caught.value.reason == "bad-gzip"


def test_gzip_data_without_gz_suffix_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=gzip.compress(CSV))
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_lines(s3, bucket, "incoming/a.csv"))
    assert caught.value.reason == "gzip-without-suffix"


def test_file_without_trailing_newline_yields_its_last_line(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2\n0,3")
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv")) == [b"1,2\n", b"0,3"]


@pytest.mark.parametrize("key", ["incoming/empty.csv", "incoming/empty.csv.gz"])
def test_empty_object_yields_nothing(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"")
    assert list(iter_object_lines(s3, bucket, key)) == []


def test_version_id_reads_that_version(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,1\n")["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"2,2\n")
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv", first)) == [b"1,1\n"]
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv")) == [b"2,2\n"]


def test_concatenated_gzip_members_are_all_read(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=gzip.compress(b"1,2\n") + gzip.compress(b"0,3\n"))
    assert list(iter_object_lines(s3, bucket, "incoming/a.csv.gz")) == [b"1,2\n", b"0,3\n"]


def test_truncated_gzip_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv.gz", Body=gzip.compress(CSV * 100)[:-8])
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_lines(s3, bucket, "incoming/a.csv.gz"))
    assert caught.value.reason == "bad-gzip"


# --- iter_object_blocks -------------------------------------------------------------------------


def _lines_of(blocks: list[bytes]) -> list[bytes]:
    return [line for block in blocks for line in block.splitlines(keepends=True)]


@pytest.mark.parametrize("read_chunk", [3, 1000, 1024 * 1024])
@pytest.mark.parametrize("key", ["incoming/a.csv", "incoming/a.csv.gz"])
def test_blocks_hold_whole_lines_the_same_as_iter_object_lines(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, read_chunk: int, key: str
) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", read_chunk)
    body = b"".join(f"{i % 2},{i},{i * 3}\r\n".encode() for i in range(5_000)) + b"\n\n1,2,3"
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body) if key.endswith(".gz") else body)
    blocks = list(iter_object_blocks(s3, bucket, key))
    assert b"".join(blocks) == body
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert _lines_of(blocks) == list(iter_object_lines(s3, bucket, key))


def test_blocks_come_in_about_one_read_each(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 1000)
    body = b"".join(f"{i % 2},{i}\n".encode() for i in range(20_000))
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=body)
    blocks = list(iter_object_blocks(s3, bucket, "incoming/a.csv"))
    assert max(map(len, blocks)) <= 2000
    assert len(blocks) == pytest.approx(len(body) / 1000, abs=2)


def test_blocks_yield_the_lines_before_an_overlong_line_then_refuse_it(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_io, "READ_CHUNK", 1000)
    monkeypatch.setattr(s3_io, "MAX_LINE_BYTES", 4000)
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2\n0,3\n" + b"9" * 100_000)
    blocks = iter_object_blocks(s3, bucket, "incoming/a.csv")
    assert next(blocks) == b"1,2\n0,3\n"
    with pytest.raises(InvalidDatasetError) as caught:
        next(blocks)
    assert caught.value.reason == "line-too-long"
    assert caught.value.detail.startswith("incoming/a.csv line 3:")


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("incoming/a.csv", b"PAR1\x15\x04\x15", "not-csv"),
        ("incoming/a.csv.gz", CSV, "bad-gzip"),
        ("incoming/a.csv", gzip.compress(CSV, mtime=0), "gzip-without-suffix"),
    ],
    ids=["parquet", "gz-name-plain-data", "gzip-data-csv-name"],
)
def test_blocks_refuse_what_lines_refuse(s3: Any, bucket: str, key: str, body: bytes, reason: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    with pytest.raises(InvalidDatasetError) as caught:
        list(iter_object_blocks(s3, bucket, key))
    assert caught.value.reason == reason


@pytest.mark.parametrize("key", ["incoming/empty.csv", "incoming/empty.csv.gz"])
def test_empty_object_yields_no_blocks(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=b"")
    assert list(iter_object_blocks(s3, bucket, key)) == []


# --- S3StreamWriter -----------------------------------------------------------------------------


def test_small_object_goes_up_in_a_single_put(s3: Any, artifact_bucket: str) -> None:
    client = RecordingClient(s3)
    writer = S3StreamWriter(client, artifact_bucket, "runs/r/train.csv")
    writer.write(b"1,2\n")
    writer.write(b"0,3\n")
    writer.close()
    assert client.calls == ["put_object"]
    obj = s3.get_object(Bucket=artifact_bucket, Key="runs/r/train.csv")
    assert obj["Body"].read() == b"1,2\n0,3\n"
    assert obj["ContentType"] == "text/csv"
    assert writer.uri == f"s3://{artifact_bucket}/runs/r/train.csv"


def test_closing_an_unwritten_writer_creates_an_empty_object(s3: Any, artifact_bucket: str) -> None:
    S3StreamWriter(s3, artifact_bucket, "runs/r/empty.csv").close()
    assert s3.get_object(Bucket=artifact_bucket, Key="runs/r/empty.csv")["Body"].read() == b""


def test_large_object_goes_up_in_multipart_parts_with_identical_content(s3: Any, artifact_bucket: str) -> None:
    client = RecordingClient(s3)
    writer = S3StreamWriter(client, artifact_bucket, "runs/r/big.csv")
    line = b"1," + b"7" * 1021 + b"\n"  # 1 KiB
    chunk = line * 1024  # 1 MiB
    payload = bytearray()
    for index in range(9):
        data = chunk.replace(b"1,", f"{index % 2},".encode(), 1)
        writer.write(data)
        payload += data
    writer.write(b"tail\n")
    payload += b"tail\n"
    writer.close()

    assert len(payload) > PART_SIZE
    assert client.calls.count("create_multipart_upload") == 1
    assert client.calls.count("upload_part") == 2
    assert client.calls[-1] == "complete_multipart_upload"
    assert "put_object" not in client.calls
    obj = s3.get_object(Bucket=artifact_bucket, Key="runs/r/big.csv")
    assert obj["Body"].read() == bytes(payload)
    assert obj["ETag"].strip('"').endswith("-2")
    assert obj["ContentType"] == "text/csv"


def test_abort_discards_a_started_multipart_upload(s3: Any, artifact_bucket: str) -> None:
    writer = S3StreamWriter(s3, artifact_bucket, "runs/r/big.csv")
    writer.write(b"x" * PART_SIZE)
    assert s3.list_multipart_uploads(Bucket=artifact_bucket).get("Uploads")
    writer.abort()
    assert not s3.list_multipart_uploads(Bucket=artifact_bucket).get("Uploads")
    assert "Contents" not in s3.list_objects_v2(Bucket=artifact_bucket)


def test_abort_before_any_part_does_nothing(s3: Any, artifact_bucket: str) -> None:
    client = RecordingClient(s3)
    writer = S3StreamWriter(client, artifact_bucket, "runs/r/small.csv")
    writer.write(b"1,2\n")
    writer.abort()
    assert client.calls == []
    assert "Contents" not in s3.list_objects_v2(Bucket=artifact_bucket)


def test_put_json_writes_a_json_document_and_returns_its_uri(s3: Any, artifact_bucket: str) -> None:
    uri = put_json(s3, artifact_bucket, "runs/r/statistics.json", {"b": 1, "a": [1.5, None]})
    assert uri == f"s3://{artifact_bucket}/runs/r/statistics.json"
    obj = s3.get_object(Bucket=artifact_bucket, Key="runs/r/statistics.json")
    assert json.loads(obj["Body"].read()) == {"a": [1.5, None], "b": 1}
    assert obj["ContentType"] == "application/json"


# --- quarantine ---------------------------------------------------------------------------------


def test_quarantine_copies_inputs_writes_reason_and_leaves_the_originals_untouched(s3: Any, bucket: str) -> None:
    keys = ["incoming/d/part-0000.csv", "incoming/d/part-0001.csv.gz"]
    bodies = {keys[0]: b"bad,data\n", keys[1]: gzip.compress(b"1,2\n")}
    versions = {key: s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"] for key, body in bodies.items()}
    before = time.time()

    uri = quarantine(s3, bucket, keys, "quarantine/run-1/", {"reason": "header-row", "detail": "line 1"})

    assert uri == f"s3://{bucket}/quarantine/run-1/reason.json"
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=f"quarantine/run-1/{key}")["Body"].read() == body
        original = s3.get_object(Bucket=bucket, Key=key)
        assert original["Body"].read() == body
        assert original["VersionId"] == versions[key]
        assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1
    reason = json.loads(s3.get_object(Bucket=bucket, Key="quarantine/run-1/reason.json")["Body"].read())
    assert reason["reason"] == "header-row"
    assert reason["detail"] == "line 1"
    assert reason["sources"] == [f"s3://{bucket}/{key}" for key in keys]
    assert reason["missing_sources"] == []
    assert before - 1 <= reason["quarantined_at"] <= time.time() + 1


def test_quarantine_records_sources_that_vanished(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/d/a.csv", Body=b"x\n")
    uri = quarantine(s3, bucket, ["incoming/d/a.csv", "incoming/d/gone.csv"], "quarantine/q/", {"reason": "r"})
    _, key = split_uri(uri)
    reason = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert reason["missing_sources"] == ["incoming/d/gone.csv"]
    assert reason["sources"] == [f"s3://{bucket}/incoming/d/a.csv", f"s3://{bucket}/incoming/d/gone.csv"]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/q/")["Contents"]}
    assert listed == {"quarantine/q/incoming/d/a.csv", "quarantine/q/reason.json"}


def test_quarantine_propagates_errors_other_than_a_missing_source(s3: Any, bucket: str) -> None:
    class DeniedCopy(RecordingClient):
        def copy_object(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "CopyObject")

    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"x\n")
    with pytest.raises(ClientError) as caught:
        quarantine(DeniedCopy(s3), bucket, ["incoming/a.csv"], "quarantine/q/", {"reason": "r"})
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/")


def test_quarantine_never_reuses_an_unsafe_key_as_a_name(s3: Any, bucket: str) -> None:
    keys = [
        "incoming/my data.csv",
        "incoming/../x.csv",
        "incoming/données.csv.gz",
        "incoming/" + "a" * 900 + ".csv",
        "incoming/tab\t.csv",
        "incoming/notes é",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    uri = quarantine(s3, bucket, keys, "quarantine/q/", {"reason": "key-control-characters"})

    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/q/")["Contents"]]
    assert len(listed) == len(keys) + 1
    # A digest keeps the data suffix, so the copy still opens as what it is.
    assert all(
        re.fullmatch(r"quarantine/q/(renamed/object-[0-9a-f]{32}(\.csv|\.csv\.gz)?|reason\.json)", key)
        for key in listed
    )
    assert sum(key.endswith(".csv.gz") for key in listed) == 1
    _, key = split_uri(uri)
    reason = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    for original, record in zip(keys, reason["objects"], strict=True):
        assert record["source"] == f"s3://{bucket}/{original}"
        _, copy = split_uri(record["copy"])
        assert s3.get_object(Bucket=bucket, Key=copy)["Body"].read() == original.encode()


def test_quarantine_references_objects_too_large_to_copy(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_io, "MAX_COPY_BYTES", 10)
    s3.put_object(Bucket=bucket, Key="incoming/d/small.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key="incoming/d/big.csv", Body=b"1,2\n" * 10)

    uri = quarantine(s3, bucket, ["incoming/d/small.csv", "incoming/d/big.csv"], "quarantine/q/", {"reason": "r"})

    _, key = split_uri(uri)
    reason = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert reason["not_copied"] == ["incoming/d/big.csv"]
    assert [o["status"] for o in reason["objects"]] == ["copied", "too-large-to-copy"]
    assert reason["objects"][1]["bytes"] == 40
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/q/")["Contents"]}
    assert listed == {"quarantine/q/incoming/d/small.csv", "quarantine/q/reason.json"}


def test_quarantine_never_copies_skipped_inputs(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2\n")
    keys = ["incoming/a.csv"]
    uri = quarantine(s3, bucket, keys, "quarantine/q/", {"reason": "object-missing"}, skip=keys)
    _, key = split_uri(uri)
    reason = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert reason["missing_sources"] == ["incoming/a.csv"]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/q/")["Contents"]}
    assert listed == {"quarantine/q/reason.json"}


def test_quarantine_records_the_copied_version(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"bad\n")["VersionId"]
    s3.put_object(Bucket=bucket, Key="incoming/a.csv", Body=b"1,2\n")
    uri = quarantine(s3, bucket, ["incoming/a.csv"], "quarantine/q/", {"reason": "r"}, version_id=first)
    _, key = split_uri(uri)
    [record] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["objects"]
    assert record == {
        "source": f"s3://{bucket}/incoming/a.csv",
        "version_id": first,
        "bytes": 4,
        "status": "copied",
        "copy": f"s3://{bucket}/quarantine/q/incoming/a.csv",
    }
    assert s3.get_object(Bucket=bucket, Key="quarantine/q/incoming/a.csv")["Body"].read() == b"bad\n"
