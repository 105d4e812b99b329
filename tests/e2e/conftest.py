"""Fixtures that start the offline cloud with the real template, handlers and ASL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.cloud import OfflineCloud
from tests.conftest import TIME_SCALE


@pytest.fixture
def cloud_factory() -> Iterator[object]:
    started: list[OfflineCloud] = []

    def start(**parameters: str) -> OfflineCloud:
        cloud = OfflineCloud(parameters=parameters, time_scale=TIME_SCALE, use_sam_build=False).start()
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.stop()


@pytest.fixture
def cloud(cloud_factory) -> OfflineCloud:  # type: ignore[no-untyped-def]
    return cloud_factory()
