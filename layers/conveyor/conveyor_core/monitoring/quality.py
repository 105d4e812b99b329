"""The production model's live quality: ground-truth labels joined to captured predictions.

Labels arrive later, in Model Monitor's ground-truth format (model-monitor-model-quality-merge):
one JSON line per request, ``{"groundTruthData": {"data": "1", "encoding": "CSV"},
"eventMetadata": {"eventId": "<id>"}, "eventVersion": "0"}``, where the id is the request's
``inferenceId`` (or SageMaker's ``eventId`` when the caller gave none), under
``s3://<DataBucket>/ground-truth/`` in the capture's hour layout. A request may carry several rows:
its labels are then one CSV line each. Labels whose id matches no captured request are counted
and reported, never guessed at.

The metric is the quality gate's (``validation:auc`` → ``auc``), computed the way the training
job computes it, and published as ``live_<metric>`` (``Conveyor/ModelQuality``, dimension
``EndpointName``): set ``ModelQualityMetricName=live_auc`` and the existing quality alarm, with its
rollback, watches the live figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from conveyor_core.monitoring.capture import CapturedRows, record_id

_SUPPORTED = ("auc", "error", "accuracy", "rmse", "mae", "logloss")


@dataclass
class GroundTruth:
    labels: dict[str, list[float]] = field(default_factory=dict)
    unparsed_lines: int = 0


def read_ground_truth(found: GroundTruth, body: bytes) -> None:
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            data = record["groundTruthData"]["data"]
            identity = record_id(record.get("eventMetadata"))
            labels = [float(cell) for row in str(data).splitlines() for cell in row.split(",") if cell.strip()]
        except (ValueError, KeyError, TypeError):
            found.unparsed_lines += 1
            continue
        if identity is None or not labels:
            found.unparsed_lines += 1
            continue
        found.labels[identity] = labels


def auc(labels: list[float], scores: list[float]) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties averaged."""
    positives = sum(1 for label in labels if label > 0.5)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return math.nan
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        for index in order[start : end + 1]:
            ranks[index] = (start + end) / 2 + 1
        start = end + 1
    positive_ranks = sum(rank for rank, label in zip(ranks, labels, strict=True) if label > 0.5)
    return (positive_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def metric_value(name: str, labels: list[float], predictions: list[float]) -> float:
    if name == "auc":
        return auc(labels, predictions)
    pairs = list(zip(labels, predictions, strict=True))
    if name in ("error", "accuracy"):
        wrong = sum(1 for y, p in pairs if (p > 0.5) != (y > 0.5)) / len(pairs)
        return wrong if name == "error" else 1 - wrong
    if name == "rmse":
        return math.sqrt(sum((p - y) ** 2 for y, p in pairs) / len(pairs))
    if name == "mae":
        return sum(abs(p - y) for y, p in pairs) / len(pairs)
    if name == "logloss":
        eps = 1e-7
        clipped = [(y, min(max(p, eps), 1 - eps)) for y, p in pairs]
        return -sum(y * math.log(p) + (1 - y) * math.log(1 - p) for y, p in clipped) / len(pairs)
    raise ValueError(f"the live metric {name!r} is not one Conveyor computes ({', '.join(_SUPPORTED)})")


def live_metric_name(gate_metric: str) -> str:
    """``validation:auc`` → ``auc``: the quality gate's metric, without its channel."""
    return gate_metric.split(":", 1)[-1]


@dataclass(frozen=True)
class LiveQuality:
    metric: str
    value: float | None
    matched_rows: int
    min_rows: int
    unmatched_labels: int
    mismatched_requests: int
    unparsed_lines: int

    @property
    def judged(self) -> bool:
        return self.value is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": f"live_{self.metric}",
            "value": self.value,
            "matched_rows": self.matched_rows,
            "min_rows": self.min_rows,
            "unmatched_labels": self.unmatched_labels,
            "mismatched_requests": self.mismatched_requests,
            "unparsed_lines": self.unparsed_lines,
        }


def evaluate(metric: str, captured: CapturedRows, truth: GroundTruth, min_rows: int) -> LiveQuality:
    labels: list[float] = []
    predictions: list[float] = []
    unmatched = mismatched = 0
    for identity, given in truth.labels.items():
        predicted = captured.predictions.get(identity)
        if predicted is None:
            unmatched += 1
        elif len(predicted) != len(given):
            mismatched += 1  # a multi-class answer per row, or labels for another batch: not comparable
        else:
            labels.extend(given)
            predictions.extend(predicted)
    value = None
    if len(labels) >= max(min_rows, 1):
        computed = metric_value(metric, labels, predictions)
        value = computed if math.isfinite(computed) else None
    return LiveQuality(metric, value, len(labels), min_rows, unmatched, mismatched, truth.unparsed_lines)
