"""An AWS error response as the service sends it, in whichever protocol the client speaks.

The offline cloud answers requests itself in three places: injected faults (``faults``), request
validation (``request_validation``) and IAM refusals (``iam``). Each must come back exactly as
AWS's would, so that botocore parses it into the same ``ClientError``: the code where that
protocol puts it (XML element, ``__type``, ``x-amzn-ErrorType``), and for the JSON services that
were once query services (SQS, CloudWatch: ``awsQueryCompatible``) the shape's name in the body
with the query code in ``x-amzn-query-error``, which is what botocore reports.
"""

from __future__ import annotations

import html
import json
import uuid
from functools import cache
from typing import Any

from botocore.model import ServiceModel, Shape

WireResponse = tuple[int, dict[str, str], bytes]


@cache
def _session() -> Any:
    import botocore.session

    return botocore.session.Session()


@cache
def service_model(service: str) -> ServiceModel:
    model: ServiceModel = _session().get_service_model(service)
    return model


def error_response(
    service: ServiceModel | str, code: str, message: str, status: int = 400, protocol: str | None = None
) -> WireResponse:
    """(status, headers, body) of the error ``code``; ``protocol`` defaults to the one botocore picks."""
    model = service_model(service) if isinstance(service, str) else service
    # A service offering several protocols is spoken to in the one botocore picks (CloudWatch: JSON).
    protocol = protocol or model.resolved_protocol
    request_id = str(uuid.uuid4())
    fault = "Sender" if status < 500 else "Receiver"
    if protocol in ("query", "ec2", "rest-xml"):
        # The message is element text; a value or a pattern may hold "<" or "&".
        text = html.escape(message, quote=False)
        if protocol == "rest-xml":
            error = f"<Error><Code>{code}</Code><Message>{text}</Message><RequestId>{request_id}</RequestId>"
            error += f"<HostId>{request_id}</HostId></Error>"
            headers = {"x-amz-request-id": request_id, "Content-Type": "application/xml"}
        elif protocol == "ec2":
            error = f"<Response><Errors><Error><Code>{code}</Code><Message>{text}</Message></Error></Errors>"
            error += f"<RequestID>{request_id}</RequestID></Response>"
            headers = {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}
        else:
            error = f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code><Message>{text}</Message>"
            error += f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            headers = {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}
        return status, headers, f'<?xml version="1.0" encoding="UTF-8"?>\n{error}'.encode()
    headers = {"x-amzn-RequestId": request_id}
    error_type = code
    if "awsQueryCompatible" in model.metadata:
        error_type = next((shape.name for shape in model.error_shapes if _query_code(shape) == code), code)
        headers["x-amzn-query-error"] = f"{code};{fault}"
    if protocol == "smithy-rpc-v2-cbor":
        headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
        return status, headers, _cbor_text_map({"__type": error_type, "message": message})
    if protocol == "rest-json":
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": error_type})
        return status, headers, json.dumps({"message": message}).encode()
    headers["Content-Type"] = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
    return status, headers, json.dumps({"__type": error_type, "message": message}).encode()


def _query_code(shape: Shape) -> str:
    code: str = shape.metadata.get("error", {}).get("code", shape.name)
    return code


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949): all an rpc-v2-cbor error body holds."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        for extra, size in ((24, 1), (25, 2), (26, 4)):
            if length < 1 << (8 * size):
                return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
        return bytes([major << 5 | 27]) + length.to_bytes(8, "big")

    out = bytearray(head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += head(3, len(data)) + data
    return bytes(out)
