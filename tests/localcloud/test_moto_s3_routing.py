"""localcloud/moto_patches/s3.py: moto routes S3 requests without reloading ``moto.s3.urls`` for each one.

moto reloads that module whenever it reads its routes (twice per request) so that a change of
``MOTO_S3_CUSTOM_ENDPOINTS`` is seen; the patch reloads it only when that variable changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import moto.s3.models
import pytest
from moto import mock_aws

from localcloud.moto_patches import s3 as s3_patch


@pytest.fixture
def reloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []
    real_reload = moto.s3.models.reload

    def counted(module: ModuleType) -> Any:
        seen.append(module.__name__)
        return real_reload(module)

    monkeypatch.setattr(moto.s3.models, "reload", counted)
    s3_patch.PATCHES.install()
    try:
        yield seen
    finally:
        s3_patch.PATCHES.uninstall()


def test_many_requests_reload_the_routes_at_most_once(reloads: list[str]) -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="routes")
        for index in range(10):
            client.put_object(Bucket="routes", Key=f"key-{index}", Body=b"x")
        bodies = [client.get_object(Bucket="routes", Key=f"key-{index}")["Body"].read() for index in range(10)]

    assert bodies == [b"x"] * 10
    assert len(reloads) <= 1  # moto's own property: 2 per request, 42 here


def test_a_custom_endpoint_set_later_is_still_routed(reloads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = "http://custom-s3.conveyor.test:9000"
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").list_buckets()
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", endpoint)
        custom = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        custom.create_bucket(Bucket="custom")
        custom.put_object(Bucket="custom", Key="k", Body=b"routed")

        assert custom.get_object(Bucket="custom", Key="k")["Body"].read() == b"routed"
    assert reloads  # the variable changed: the routes were read again
