"""In-process invocations share Powertools' metric set; with its operations atomic no flush fails or loses a count."""

from __future__ import annotations

import contextlib
import io
import json
import threading

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from localcloud.powertools_metrics import serialize_metric_set_access


def test_concurrent_flushes_neither_fail_nor_lose_counts() -> None:
    serialize_metric_set_access()
    errors: list[BaseException] = []
    printed = io.StringIO()
    threads_count, rounds = 4, 300

    def invoke() -> None:
        metrics = Metrics(namespace="ConveyorTest", service="race")
        for _ in range(rounds):
            try:
                metrics.add_metric(name="Handled", unit=MetricUnit.Count, value=1)
                metrics.flush_metrics()
            except Exception as error:  # what the race raised: "Must contain at least one metric"
                errors.append(error)

    with contextlib.redirect_stdout(printed):
        threads = [threading.Thread(target=invoke) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    counted = 0.0
    for line in printed.getvalue().splitlines():
        if line.startswith("{") and "Handled" in line:
            value = json.loads(line)["Handled"]
            counted += sum(value) if isinstance(value, list) else value
    assert counted == threads_count * rounds, "every invocation's count was published exactly once"
