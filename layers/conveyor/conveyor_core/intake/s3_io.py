"""S3 adapters: stream an object's lines, stream a new object out, quarantine an input."""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Collection, Iterator
from typing import Any
from urllib.parse import urlparse

from conveyor_core.intake.csv_dataset import MAX_LINE_BYTES, InvalidDatasetError
from conveyor_core.intake.drops import is_safe_key

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1024 * 1024
# S3 multipart parts must be at least 5 MiB (except the last); 8 MiB keeps memory flat and small.
PART_SIZE = 8 * 1024 * 1024
# CopyObject refuses sources above 5 GiB; such an input is referenced in reason.json, not copied.
MAX_COPY_BYTES = 5 * 1024**3
# Formats people save with a .csv name by mistake, by their first bytes (none can start a valid row).
_BINARY_FORMATS = (
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an OLE2 document (a legacy .xls workbook)"),
    (b"\x89PNG", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"Obj\x01", "an Avro file"),
    (b"ORC", "an ORC file"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
)


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _chunks(body: Any) -> Iterator[bytes]:
    while chunk := body.read(READ_CHUNK):
        yield chunk


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Inflate every member of a gzip stream (``cat a.gz b.gz`` is valid gzip) and insist on its end.

    Output comes in pieces of at most READ_CHUNK bytes, so a small, highly compressed object (a
    gzip bomb) cannot inflate into memory all at once.
    """
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if out := inflater.decompress(data, READ_CHUNK):
                    yield out
                if inflater.unconsumed_tail:
                    data = inflater.unconsumed_tail
                    continue
                data = inflater.unused_data
                if inflater.eof and data:
                    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
                elif not inflater.eof:
                    break
        if tail := inflater.flush():
            yield tail
    except zlib.error as error:
        raise InvalidDatasetError("bad-gzip", f"the object is not valid gzip: {error}") from error
    if not inflater.eof:
        raise InvalidDatasetError("bad-gzip", "the gzip stream is truncated (no end-of-stream and checksum)")


def _blocks(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Regroup a byte stream into blocks of whole lines (the last may lack its newline).

    A line that outgrows MAX_LINE_BYTES is refused before it is held in memory; the whole lines
    read before it are yielded first, so a validator sees them before the error, as it sees lines.
    """
    pending = b""
    number = 0
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            block, pending = data[:cut], data[cut:]
            number += block.count(b"\n")
            yield block
        else:
            pending = data
        if len(pending) > MAX_LINE_BYTES:
            raise InvalidDatasetError(
                "line-too-long", f"{name} line {number + 1}: a line longer than {MAX_LINE_BYTES} bytes"
            )
    if pending:
        yield pending


def _lines(chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    """Split a byte stream into lines, refusing one that outgrows MAX_LINE_BYTES (memory stays flat)."""
    for block in _blocks(chunks, name):
        *complete, last = block.split(b"\n")
        for line in complete:
            yield line + b"\n"
        if last:
            yield last


def _binary_format(first: bytes) -> str | None:
    return next((what for magic, what in _BINARY_FORMATS if first.startswith(magic)), None)


def _object_chunks(s3_client: Any, bucket: str, key: str, version_id: str | None) -> Iterator[bytes]:
    """An object's bytes in READ_CHUNK pieces, gunzipped for ``.gz`` keys; lying data is refused."""
    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    body = s3_client.get_object(**request)["Body"]
    yield from _checked_chunks(_chunks(body), key)


def _checked_chunks(chunks: Iterator[bytes], key: str) -> Iterator[bytes]:
    first = next(chunks, b"")
    is_gzip_data = first.startswith(GZIP_MAGIC)
    if key.endswith(".gz") and first and not is_gzip_data:
        raise InvalidDatasetError("bad-gzip", f"{key} ends in .gz but is not gzip data")
    if not key.endswith(".gz") and is_gzip_data:
        raise InvalidDatasetError("gzip-without-suffix", f"{key} holds gzip data but does not end in .gz")
    if what := _binary_format(first):
        raise InvalidDatasetError("not-csv", f"{key} is {what}, not CSV text")

    def replay() -> Iterator[bytes]:
        if first:
            yield first
        yield from chunks

    yield from _gunzip(replay()) if is_gzip_data else replay()


def iter_object_lines(s3_client: Any, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
    """Yield an object's lines, gunzipping ``.gz`` keys; data that lies about its encoding is refused."""
    yield from _lines(_object_chunks(s3_client, bucket, key, version_id), key)


def iter_object_blocks(s3_client: Any, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
    """Like iter_object_lines, in blocks of whole lines (about READ_CHUNK bytes each).

    The lines are the same, cut at the same places, with the same errors at the same points; a
    block lets the validator check and parse thousands of lines per call instead of one.
    """
    yield from _blocks(_object_chunks(s3_client, bucket, key, version_id), key)


def iter_file_blocks(stream: Any, key: str) -> Iterator[bytes]:
    """iter_object_blocks for an object already downloaded (a Processing job's input file)."""
    yield from _blocks(_checked_chunks(_chunks(stream), key), key)


def blocks_of_object_bytes(data: bytes, key: str) -> Iterator[bytes]:
    """iter_object_blocks for an object already read whole: the same blocks, checks and errors."""
    pieces = (data[start : start + READ_CHUNK] for start in range(0, len(data), READ_CHUNK))
    yield from _blocks(_checked_chunks(pieces, key), key)


class S3StreamWriter:
    """Write an object in 8 MiB multipart parts; small objects go up in one PUT."""

    def __init__(self, s3_client: Any, bucket: str, key: str, content_type: str = "text/csv") -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        # Written pieces, joined once per part: appending to one growing bytearray copied each byte
        # again at every reallocation.
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= PART_SIZE:
            self._flush_part()

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=self._take(), ContentType=self._content_type)
            return
        if self._pending_bytes:
            self._flush_part()
        self._s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )

    def abort(self) -> None:
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)

    def _flush_part(self) -> None:
        if self._upload_id is None:
            response = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type
            )
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=self._take()
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def _take(self) -> bytes:
        body = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        return body


def read_object(s3_client: Any, bucket: str, key: str) -> bytes:
    """A small object's bytes, read whole."""
    data: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def put_json(
    s3_client: Any,
    bucket: str,
    key: str,
    document: dict[str, Any] | list[Any],
    *,
    indent: int | None = 2,
    condition: dict[str, str] | None = None,
) -> str:
    """``indent=None`` for a large document: an indent makes ``json`` use its pure-Python encoder.

    ``condition``: a conditional write's ``IfMatch`` or ``IfNoneMatch``, passed to PutObject as is.
    """
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=indent, sort_keys=True).encode(),
        ContentType="application/json",
        **(condition or {}),
    )
    return f"s3://{bucket}/{key}"


def quarantine_copy_key(quarantine_prefix: str, key: str) -> str:
    """Where the copy of ``key`` goes: under its own name when that is plain, else under a digest.

    A key with spaces, any non-ASCII letter, a control character, '..' or an oversize name is
    never reused as a name: its copy is ``renamed/object-<sha256>`` plus its data suffix, and
    reason.json maps the digest back to the original key, as data.
    """
    if is_safe_key(key):
        return f"{quarantine_prefix}{key}"
    digest = hashlib.sha256(key.encode(errors="surrogatepass")).hexdigest()[:32]
    suffix = next((suffix for suffix in (".csv.gz", ".csv") if key.endswith(suffix)), "")
    return f"{quarantine_prefix}renamed/object-{digest}{suffix}"


def _is_not_found(error: Any) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404")


def quarantine(
    s3_client: Any,
    source_bucket: str,
    keys: list[str],
    quarantine_prefix: str,
    reason: dict[str, Any],
    version_id: str | None = None,
    skip: Collection[str] = (),
) -> str:
    """Copy the inputs to ``quarantine_prefix`` and write ``reason.json`` beside them.

    The originals are never deleted or changed: copy only, so nothing is lost and the operator
    can fix and re-upload. Inputs that vanished meanwhile, or that ``skip`` names (withdrawn by
    their uploader), are listed as missing and never copied; inputs above CopyObject's 5 GiB limit
    are listed as not copied and stay where they are.
    """
    missing: list[str] = []
    not_copied: list[str] = []
    objects: list[dict[str, Any]] = []
    for key in keys:
        source = {"Bucket": source_bucket, "Key": key}
        # Quarantine the version that failed, not whatever was uploaded over it since.
        if version_id and len(keys) == 1:
            source["VersionId"] = version_id
        record: dict[str, Any] = {"source": f"s3://{source_bucket}/{key}", "version_id": source.get("VersionId")}
        objects.append(record)
        if key in skip:
            missing.append(key)
            record["status"] = "missing"
            continue
        try:
            head = s3_client.head_object(**source)
            record["version_id"] = head.get("VersionId", record["version_id"])
            record["bytes"] = int(head["ContentLength"])
            if record["bytes"] > MAX_COPY_BYTES:
                not_copied.append(key)
                record["status"] = "too-large-to-copy"
                continue
            target = quarantine_copy_key(quarantine_prefix, key)
            s3_client.copy_object(Bucket=source_bucket, Key=target, CopySource=source)
        except s3_client.exceptions.ClientError as error:
            if not _is_not_found(error):
                raise
            missing.append(key)
            record["status"] = "missing"
            continue
        record["status"] = "copied"
        record["copy"] = f"s3://{source_bucket}/{target}"
    document = {
        **reason,
        "sources": [f"s3://{source_bucket}/{key}" for key in keys],
        "missing_sources": missing,
        "not_copied": not_copied,
        "objects": objects,
        "quarantined_at": int(time.time()),
    }
    return put_json(s3_client, source_bucket, f"{quarantine_prefix}reason.json", document)
