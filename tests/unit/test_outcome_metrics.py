"""Outcome metrics are EMF documents of their own, with the Outcome dimension on nothing else."""

from __future__ import annotations

import json

import pytest

from conveyor_core.shared.outcome_metrics import DURATION_METRIC, OUTCOME_METRIC, count_outcome


def emitted(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_one_count_per_outcome_with_service_and_outcome_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    count_outcome("pipeline.succeeded")
    [document] = emitted(capsys.readouterr().out)
    [directive] = document["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Namespace"] == "Conveyor"
    assert sorted(directive["Dimensions"][0]) == ["Outcome", "service"]
    assert directive["Metrics"] == [{"Name": OUTCOME_METRIC, "Unit": "Count"}]
    assert document[OUTCOME_METRIC] == [1.0] or document[OUTCOME_METRIC] == 1.0
    assert document["Outcome"] == "pipeline.succeeded"


def test_a_known_duration_is_a_second_metric(capsys: pytest.CaptureFixture[str]) -> None:
    count_outcome("pipeline.failed", 12.5)
    documents = emitted(capsys.readouterr().out)
    assert [d["Outcome"] for d in documents] == ["pipeline.failed", "pipeline.failed"]
    assert documents[1][DURATION_METRIC] in (12.5, [12.5])
