"""The benchmarks' smoke runs see the machine as ``make bench`` does."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PINNED_OMP_MARK


@pytest.fixture(autouse=True)
def machine_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py pins OpenMP to one thread for the clouds; a benchmark measures all cores.
    if os.environ.get(PINNED_OMP_MARK):
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv(PINNED_OMP_MARK)
