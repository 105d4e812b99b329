"""SageMaker endpoint data capture on the offline cloud: sampled requests and answers as JSON Lines in S3.

An endpoint whose serving config has a ``DataCaptureConfig`` (``EnableCapture`` defaults to true)
captures the share of InvokeEndpoint requests ``InitialSamplingPercentage`` names. The draw is a
``random.Random`` seeded by the endpoint's account, region and name, so a run captures the same
requests each time. Each captured request is one object in SageMaker's documented format:

* the key: ``{DestinationS3Uri}/{endpoint-name}/{variant-name}/yyyy/mm/dd/hh/{mm-ss-SSS}-{uuid}.jsonl``
  (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html, "View
  Captured Data"; the file name as AWS writes it, e.g. ``.../AllTraffic/2020/03/11/12/32-18-648-<uuid>.jsonl``),
  the hour of the inference, in UTC;
* each line: ``{"captureData": {"endpointInput": {...}, "endpointOutput": {...}}, "eventMetadata":
  {"eventId", "inferenceId", "inferenceTime"}, "eventVersion": "0"}`` (same page; ``inferenceId``
  only when the caller passed ``InferenceId``, https://docs.aws.amazon.com/sagemaker/latest/dg/
  model-monitor-model-quality-merge.html). ``inferenceTime`` is to the second, as in every published
  record: ``2022-02-14T17:25:49Z``;
* ``endpointInput``/``endpointOutput``: ``observedContentType`` (the Content-Type as sent or answered),
  ``mode`` (INPUT/OUTPUT), ``data`` and ``encoding``. A content type (its media type, without
  parameters such as ``charset``) listed in ``CaptureContentTypeHeader.CsvContentTypes`` is kept as CSV
  text, one in ``JsonContentTypes`` as JSON text, anything else base64-encoded: "If no headers are
  specified SageMaker AI will by default base64 encode" (API reference, DataCaptureConfig).
  ``CaptureOptions`` picks the parts: ``Input``, ``Output`` or ``InputAndOutput``.

The time is the offline cloud's simulated clock. SageMaker buffers records and delivers them within
minutes; here each captured request is written at once, so a caller listing the prefix right after
invoking finds it. The write is SageMaker's own, made as the serving model's execution role (checked
by ``localcloud.iam`` where IAM holds the role), with SSE-KMS under ``KmsKeyId`` when one is given; a
write S3 or IAM refuses (no such bucket, access denied) drops the record with a log line and never
fails the InvokeEndpoint, as capture on AWS does.

Chosen where AWS documents nothing: only requests the model answered are captured (a ModelError has
no answer to record); a payload that is not UTF-8 is base64-encoded whatever its content type; a
``DestinationS3Uri`` in the https form is not written to.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import json
import logging
import random
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from localcloud.clock import Clock
from localcloud.sagemaker import ExecutionRoleRefused, _as_role

LOG = logging.getLogger("localcloud.data_capture")

EVENT_VERSION = "0"
_PARTS: dict[str, tuple[str, ...]] = {
    "Input": ("endpointInput",),
    "Output": ("endpointOutput",),
    "InputAndOutput": ("endpointInput", "endpointOutput"),
}


@dataclass(frozen=True)
class Exchange:
    """One answered InvokeEndpoint, as capture sees it."""

    endpoint_name: str
    variant_name: str
    request: bytes
    request_content_type: str
    response: bytes
    response_content_type: str
    inference_id: str | None = None


def enabled(config: Mapping[str, Any]) -> bool:
    return bool(config) and bool(config.get("EnableCapture", True))


def encoding(content_type: str, headers: Mapping[str, Any]) -> str:
    """CSV, JSON or BASE64: how SageMaker records a payload of ``content_type`` (``CaptureContentTypeHeader``)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    for kind, listed in (("CSV", "CsvContentTypes"), ("JSON", "JsonContentTypes")):
        if media_type in {str(item).strip().lower() for item in headers.get(listed) or []}:
            return kind
    return "BASE64"


def _part(mode: str, content_type: str, payload: bytes, headers: Mapping[str, Any]) -> dict[str, str]:
    kind = encoding(content_type, headers)
    data = None
    if kind != "BASE64":
        try:
            data = payload.decode("utf-8")
        except UnicodeDecodeError:
            kind = "BASE64"
    if data is None:
        data = base64.b64encode(payload).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": kind}


def record(config: Mapping[str, Any], exchange: Exchange, event_id: str, inference_time: dt.datetime) -> dict[str, Any]:
    """The capture record of one request, with the parts ``CaptureOptions`` asks for."""
    headers = config.get("CaptureContentTypeHeader") or {}
    wanted = {part for option in config.get("CaptureOptions") or [] for part in _PARTS[option["CaptureMode"]]}
    capture: dict[str, Any] = {}
    if "endpointInput" in wanted:
        capture["endpointInput"] = _part("INPUT", exchange.request_content_type, exchange.request, headers)
    if "endpointOutput" in wanted:
        capture["endpointOutput"] = _part("OUTPUT", exchange.response_content_type, exchange.response, headers)
    metadata = {"eventId": event_id}
    if exchange.inference_id:
        metadata["inferenceId"] = exchange.inference_id
    metadata["inferenceTime"] = inference_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}


def object_key(prefix: str, endpoint_name: str, variant_name: str, written: dt.datetime, file_id: str) -> str:
    """Where SageMaker puts a capture file: under the endpoint, the variant and the hour, named by the time."""
    at = written.astimezone(dt.UTC)
    name = f"{at:%M-%S}-{at.microsecond // 1000:03d}-{file_id}.jsonl"
    return "/".join(
        part for part in (prefix.strip("/"), endpoint_name, variant_name, f"{at:%Y/%m/%d/%H}", name) if part
    )


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(item, separators=(",", ":")) + "\n" for item in records).encode()


class DataCapture:
    """One cloud's data capture: the sampling draw of each endpoint, and the writes to S3."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._draws: dict[tuple[str, str, str], random.Random] = {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def sampled(self, account_id: str, region: str, endpoint_name: str, percentage: float) -> bool:
        with self._lock:
            draw = self._draws.setdefault(
                (account_id, region, endpoint_name), random.Random(f"{account_id}/{region}/{endpoint_name}")
            )
            return draw.random() * 100 < percentage

    def capture(
        self,
        account_id: str,
        region: str,
        config: Mapping[str, Any],
        exchange: Exchange,
        execution_role_arn: str | None,
    ) -> bool:
        """Capture ``exchange`` if ``config`` samples it; whether a record was written. Never raises."""
        if not enabled(config):
            return False
        if not self.sampled(account_id, region, exchange.endpoint_name, float(config["InitialSamplingPercentage"])):
            return False
        now = dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)
        destination = str(config["DestinationS3Uri"])
        what = f"data capture of endpoint {exchange.endpoint_name} (variant {exchange.variant_name}) to {destination}"
        if not destination.startswith("s3://"):
            LOG.warning("%s dropped: the offline cloud writes capture to s3:// destinations only", what)
            return False
        bucket, _, prefix = destination.removeprefix("s3://").partition("/")
        key = object_key(prefix, exchange.endpoint_name, exchange.variant_name, now, str(uuid.uuid4()))
        body = jsonl([record(config, exchange, str(uuid.uuid4()), now)])
        encryption = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config["KmsKeyId"]} if config.get("KmsKeyId") else {}
        )
        # SageMaker's own call: none of the invoking caller's marks (its role, its fault rules) apply to it.
        return contextvars.Context().run(self._put, region, bucket, key, body, encryption, execution_role_arn, what)

    def _put(
        self,
        region: str,
        bucket: str,
        key: str,
        body: bytes,
        encryption: dict[str, str],
        role_arn: str | None,
        what: str,
    ) -> bool:
        try:
            with _as_role(role_arn, what):
                self._s3(region).put_object(Bucket=bucket, Key=key, Body=body, **encryption)
        except ExecutionRoleRefused as refused:
            LOG.warning("%s dropped: the model's execution role may not write it: %s", what, refused.message)
            return False
        except Exception as error:  # a missing bucket or key, a fault: capture never fails the request
            LOG.warning("%s dropped: %s", what, error)
            return False
        return True

    def _s3(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = boto_client_for(region=region, service="s3")
            return self._clients[region]
