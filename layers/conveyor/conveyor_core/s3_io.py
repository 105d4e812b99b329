"""S3 adapters: stream an object's lines, stream a new object out, quarantine an input."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from conveyor_core.csv_dataset import InvalidDatasetError

GZIP_MAGIC = b"\x1f\x8b"
READ_CHUNK = 1024 * 1024
# S3 multipart parts must be at least 5 MiB (except the last); 8 MiB keeps memory flat and small.
PART_SIZE = 8 * 1024 * 1024


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _chunks(body: Any) -> Iterator[bytes]:
    while chunk := body.read(READ_CHUNK):
        yield chunk


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Inflate every member of a gzip stream (``cat a.gz b.gz`` is valid gzip) and insist on its end."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if out := inflater.decompress(data):
                    yield out
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


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


def iter_object_lines(s3_client: Any, bucket: str, key: str, version_id: str | None = None) -> Iterator[bytes]:
    """Yield an object's lines, gunzipping ``.gz`` keys; data that lies about its encoding is refused."""
    request = {"Bucket": bucket, "Key": key}
    if version_id:
        request["VersionId"] = version_id
    body = s3_client.get_object(**request)["Body"]
    chunks = _chunks(body)
    first = next(chunks, b"")
    is_gzip_data = first.startswith(GZIP_MAGIC)
    if key.endswith(".gz") and first and not is_gzip_data:
        raise InvalidDatasetError("bad-gzip", f"{key} ends in .gz but is not gzip data")
    if not key.endswith(".gz") and is_gzip_data:
        raise InvalidDatasetError("gzip-without-suffix", f"{key} holds gzip data but does not end in .gz")

    def replay() -> Iterator[bytes]:
        if first:
            yield first
        yield from chunks

    yield from _lines(_gunzip(replay()) if is_gzip_data else replay())


class S3StreamWriter:
    """Write an object in 8 MiB multipart parts; small objects go up in one PUT."""

    def __init__(self, s3_client: Any, bucket: str, key: str, content_type: str = "text/csv") -> None:
        self._s3 = s3_client
        self.bucket = bucket
        self.key = key
        self._content_type = content_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= PART_SIZE:
            self._flush_part()

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer), ContentType=self._content_type
            )
            return
        if self._buffer:
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
            Bucket=self.bucket, Key=self.key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})
        self._buffer.clear()


def put_json(s3_client: Any, bucket: str, key: str, document: dict[str, Any]) -> str:
    s3_client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, indent=2, sort_keys=True).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"


def quarantine(
    s3_client: Any,
    source_bucket: str,
    keys: list[str],
    quarantine_prefix: str,
    reason: dict[str, Any],
    version_id: str | None = None,
) -> str:
    """Copy the inputs to ``quarantine_prefix`` and write ``reason.json`` beside them.

    The originals are never deleted or changed: copy only, so nothing is lost and the operator
    can fix and re-upload. Copies of objects that vanished meanwhile are skipped, and noted.
    """
    missing: list[str] = []
    for key in keys:
        try:
            source = {"Bucket": source_bucket, "Key": key}
            # Quarantine the version that failed, not whatever was uploaded over it since.
            if version_id and len(keys) == 1:
                source["VersionId"] = version_id
            s3_client.copy_object(Bucket=source_bucket, Key=f"{quarantine_prefix}{key}", CopySource=source)
        except s3_client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            missing.append(key)
    document = {
        **reason,
        "sources": [f"s3://{source_bucket}/{key}" for key in keys],
        "missing_sources": missing,
        "quarantined_at": int(time.time()),
    }
    return put_json(s3_client, source_bucket, f"{quarantine_prefix}reason.json", document)
