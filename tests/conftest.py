"""Settings shared by every suite that runs the offline cloud: the time scale and how often tests look.

One place for them, so that e2e, reliability, cli, localcloud and bench tests agree, and a change of
pace is one edit. ``TIME_SCALE`` is real seconds per simulated second: at 0.005 (the demo's pace) a
600 s bake takes 3 s, while real work (training, gcc, imports) still takes real seconds. The
windows tests watch in real time stay wide enough: a 600 s canary bake is 3 s, an alarm period of
60 s is 0.3 s. ``POLL_SECONDS`` is how long a test sleeps between two looks at the cloud while it
waits for something to happen; ``SETTLE_SECONDS`` is the grace a test gives a late event before it
checks that nothing more arrived.
"""

from __future__ import annotations

import os

import pytest

# XGBoost (training subprocesses and in-process inference) on one OpenMP thread: the suite runs more
# workers than the machine has cores, and OpenMP threads that spin waiting for work take the CPU other
# workers' clouds need. Training on one thread gives the same models. (tests/bench gives its benchmarks
# the machine's own setting back: they measure multi-core throughput.)
# (Recorded in the environment, not in a variable: sub-conftests import this module a second time.)
PINNED_OMP_MARK = "CONVEYOR_TESTS_PINNED_OMP"
if "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ[PINNED_OMP_MARK] = "1"

TIME_SCALE = 0.01
POLL_SECONDS = 0.1
# How long a test that checks that nothing more arrives waits for a late event to be put on the bus,
# before it waits for every delivery in flight to finish.
SETTLE_SECONDS = 0.2


# The directories whose modules take longest (whole pipelines on the offline cloud), first: with
# ``--dist loadscope`` (pyproject.toml) a module is one unit of work, and the long ones must not be
# the last to start.
SLOW_FIRST = ("tests/reliability/", "tests/e2e/", "tests/bench/", "tests/cli/", "tests/localcloud/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))

    items[:] = sorted(items, key=rank)  # stable: the order within a directory stays
