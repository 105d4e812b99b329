"""``sagemaker-runtime:InvokeEndpoint`` on the offline cloud: real predictions and real metrics.

moto answers InvokeEndpoint with canned data. Here each request is routed to a variant by weight
(the live fleet, or the new one during a blue/green rollout, as ``sagemaker.EndpointHost`` says),
the hosted model predicts, and the invocation is recorded in CloudWatch under ``AWS/SageMaker``
with SageMaker's own metric names, units and dimensions (``EndpointName``, ``VariantName``). The
alarm evaluator (``localcloud.alarms``) reads those same datapoints, so an endpoint that starts
failing really drives its alarm, and the alarm really drives the rollback rule.

Errors follow SageMaker: an unknown or not-yet-serving endpoint is a ``ValidationError``; a
request the container rejects (bad CSV, wrong feature count) is a ``ModelError`` with original
status 400 and counts as a 4XX; a failure inside the model is a ``ModelError`` with original
status 500 and counts as a 5XX.

An answered request that the serving config's ``DataCaptureConfig`` samples is captured to S3
(``localcloud.data_capture``), after the metrics, so capture never adds to the latencies.

The counters belong to one offline cloud (``Runtime.invocations``); moto's response method is
replaced in ``moto_patches/sagemakerruntime.py``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError

from localcloud.data_capture import DataCapture, Exchange
from localcloud.faults import FaultInjector
from localcloud.sagemaker import LocalSageMaker

LOG = logging.getLogger("localcloud.invocations")
NAMESPACE = "AWS/SageMaker"
# moto keeps every datapoint; a long-lived local server would grow without bound.
MAX_DATAPOINTS = 200_000
_SUPPORTED_CONTENT_TYPES = ("text/csv",)
# Every answer ``_serve`` gives is CSV, labelled as SageMaker's built-in containers label theirs.
ANSWER_CONTENT_TYPE = "text/csv; charset=utf-8"


class EndpointNotServing(JsonRESTError):  # type: ignore[misc]
    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


class ContainerError(JsonRESTError):  # type: ignore[misc]
    """What SageMaker returns when the model container answers with an error status."""

    code = 424

    def __init__(self, original_status: int, message: str, endpoint_name: str) -> None:
        side = "server" if original_status >= 500 else "client"
        summary = f'Received {side} error ({original_status}) from model with message "{message}".'
        super().__init__("ModelError", summary)
        self.description = json.dumps(
            {
                "__type": "ModelError",
                "message": summary,
                "OriginalStatusCode": original_status,
                "OriginalMessage": message,
                "LogStreamArn": f"arn:aws:logs:local:log-group:/aws/sagemaker/Endpoints/{endpoint_name}",
            }
        )


@dataclass
class InvocationCounters:
    """Totals since start, for the demo, the CLI and benchmarks."""

    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0


class InvocationCounts:
    """One cloud's invocation totals per (endpoint, variant)."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str], InvocationCounters] = {}
        self._lock = threading.Lock()

    def count(self, endpoint: str, variant: str, status: int) -> None:
        with self._lock:
            counters = self._counters.setdefault((endpoint, variant), InvocationCounters())
            counters.invocations += 1
            counters.errors_4xx += int(400 <= status < 500)
            counters.errors_5xx += int(status >= 500)

    def get(self, endpoint: str, variant: str) -> InvocationCounters:
        """A copy of one variant's totals (zeros when it was never invoked)."""
        with self._lock:
            found = self._counters.get((endpoint, variant))
            return InvocationCounters(**vars(found)) if found is not None else InvocationCounters()

    def snapshot(self) -> dict[tuple[str, str], InvocationCounters]:
        with self._lock:
            return {key: InvocationCounters(**vars(value)) for key, value in self._counters.items()}


def record_invocation(
    counts: InvocationCounts,
    account_id: str,
    region: str,
    endpoint_name: str,
    variant_name: str,
    status: int,
    model_latency_us: float,
    overhead_latency_us: float,
) -> None:
    """Write one invocation's datapoints the way SageMaker publishes them."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    dimensions = [{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": variant_name}]
    data: list[dict[str, Any]] = [
        {"MetricName": "Invocations", "Value": 1.0, "Unit": "None"},
        {"MetricName": "Invocation4XXErrors", "Value": float(400 <= status < 500), "Unit": "None"},
        {"MetricName": "Invocation5XXErrors", "Value": float(status >= 500), "Unit": "None"},
        {"MetricName": "OverheadLatency", "Value": overhead_latency_us, "Unit": "Microseconds"},
    ]
    if status < 400:
        data.append({"MetricName": "ModelLatency", "Value": model_latency_us, "Unit": "Microseconds"})
    backend.put_metric_data(NAMESPACE, [{**datum, "Dimensions": dimensions} for datum in data])
    if len(backend.metric_data) > MAX_DATAPOINTS:
        del backend.metric_data[: MAX_DATAPOINTS // 2]
    counts.count(endpoint_name, variant_name, status)


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _serve(model: Any, body: bytes, content_type: str, timing: dict[str, float]) -> bytes:
    from localcloud.sagemaker_engine.inference import format_csv_predictions, parse_csv_payload

    content_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    if content_type not in _SUPPORTED_CONTENT_TYPES:
        raise _Rejected(415, f"content type {content_type} is not supported; send text/csv")
    try:
        rows = parse_csv_payload(body, model.num_features)
    except ValueError as error:
        raise _Rejected(400, str(error)) from None
    started = time.perf_counter()
    try:
        predictions = model.predict(rows)
    except Exception as error:  # anything the model raises is the container's 500
        raise _Rejected(500, f"{type(error).__name__}: {error}") from None
    finally:
        timing["model"] = time.perf_counter() - started
    return format_csv_predictions(predictions)


def invoke(
    sagemaker: LocalSageMaker,
    faults: FaultInjector,
    counts: InvocationCounts,
    account_id: str,
    region: str,
    endpoint_name: str,
    body: bytes,
    content_type: str,
    target_variant: str | None,
    capture: DataCapture | None = None,
    inference_id: str | None = None,
) -> tuple[bytes, str]:
    """Serve one request; returns (predictions CSV, the variant that answered).

    ``content_type`` is the request's Content-Type as sent; ``inference_id`` its ``InferenceId``.
    """
    faults.check("sagemaker-runtime", "InvokeEndpoint")
    received = time.perf_counter()
    host = sagemaker.host(account_id, region, endpoint_name)
    if host is None:
        raise EndpointNotServing(f"Endpoint {endpoint_name} of account {account_id} not found.")
    variant = host.route(target_variant)
    if variant is None:
        raise EndpointNotServing(f"Variant {target_variant} does not exist on endpoint {endpoint_name}.")
    timing = {"model": 0.0}
    status, failure = 200, ""
    answer = b""
    try:
        answer = _serve(variant.model, body, content_type, timing)
    except _Rejected as rejected:
        status, failure = rejected.status, str(rejected)
    model_us = timing["model"] * 1e6
    overhead_us = (time.perf_counter() - received) * 1e6 - model_us
    record_invocation(counts, account_id, region, endpoint_name, variant.name, status, model_us, overhead_us)
    if status != 200:
        raise ContainerError(status, failure, endpoint_name)
    if capture is not None:
        exchange = Exchange(endpoint_name, variant.name, body, content_type, answer, ANSWER_CONTENT_TYPE, inference_id)
        capture.capture(account_id, region, variant.data_capture, exchange, variant.execution_role_arn)
    return answer, variant.name


def content_type_of(headers: Any) -> str:
    """The request's Content-Type as sent (SageMaker records it so); text/csv when it names none."""
    return str(headers.get("Content-Type") or "text/csv")
