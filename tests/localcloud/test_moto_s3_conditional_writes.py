"""localcloud/moto_patches/s3.py: a conditional PutObject is checked and stored in one step, as on S3.

Two writers conditional on the same ETag: on S3 one wins and the other gets 412 (or 409 while the
first is under way). moto checks the condition, then stores, with no lock between; the test holds
the first writer between its check and its store and lets the second one run meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.s3.models import S3Backend

from localcloud.moto_patches import s3 as s3_patch

BUCKET = "conditional"
KEY = "monitoring/endpoint/latest.json"


@pytest.fixture
def patched() -> Iterator[None]:
    s3_patch.PATCHES.install()
    try:
        yield
    finally:
        s3_patch.PATCHES.uninstall()


def _write(client: Any, body: bytes, etag: str, outcomes: dict[str, str]) -> None:
    try:
        client.put_object(Bucket=BUCKET, Key=KEY, Body=body, IfMatch=etag)
        outcomes[body.decode()] = "written"
    except ClientError as error:
        outcomes[body.decode()] = error.response["Error"]["Code"]


@pytest.mark.usefixtures("patched")
def test_two_writes_conditional_on_the_same_version_do_not_both_land(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = S3Backend.put_object
    first_checked = threading.Event()
    release_first = threading.Event()

    def held_after_its_check(self: S3Backend, bucket_name: str, key_name: str, value: bytes, **kwargs: Any) -> Any:
        if value == b"first":
            first_checked.set()
            release_first.wait(timeout=10)
        return stored(self, bucket_name, key_name, value, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", held_after_its_check)
    outcomes: dict[str, str] = {}
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        etag = client.put_object(Bucket=BUCKET, Key=KEY, Body=b"original")["ETag"]

        first = threading.Thread(target=_write, args=(client, b"first", etag, outcomes))
        first.start()
        assert first_checked.wait(timeout=10)
        second = threading.Thread(target=_write, args=(client, b"second", etag, outcomes))
        second.start()
        second.join(timeout=0.5)  # unpatched moto lets it land here, while the first is held
        release_first.set()
        first.join(timeout=10)
        second.join(timeout=10)
        body = client.get_object(Bucket=BUCKET, Key=KEY)["Body"].read()

    assert outcomes == {"first": "written", "second": "PreconditionFailed"}
    assert body == b"first"
