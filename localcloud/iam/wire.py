"""A request's parameters read back from the wire, as the service would read them.

The stubber sees the signed HTTP request, not the caller's arguments, so the parameters an
authorization needs (a table name, a topic ARN, a role passed along) are read from it in the
protocol botocore spoke: ``json`` bodies, ``query`` forms, ``rest-json`` paths and query strings
(with the JSON body when the operation has no payload member), ``smithy-rpc-v2-cbor`` bodies
(botocore's own CBOR decoder), and for S3 (``rest-xml``) the bucket, key, query and headers.
Only top-level members are named as the API names them; nested ones keep their wire shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from localcloud import wire_errors
from localcloud.faults import header


@dataclass(frozen=True)
class WireRequest:
    """What a check needs of one request: its parameters, and for S3 its headers."""

    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def protocol_of(service: str) -> str:
    """The protocol botocore's clients speak to ``service`` (CloudWatch: JSON, of its CBOR, JSON and query)."""
    model = wire_errors.service_model(service)
    return str(getattr(model, "resolved_protocol", None) or model.protocol)


def _body(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return b""  # a stream (an upload's content): nothing to authorize in it


def signing_region(request: Any) -> str:
    """The region of SigV4's credential scope (``Credential=AKID/20240101/us-east-1/s3/aws4_request``)."""
    authorization = header(request, "authorization")
    if "Credential=" not in authorization:
        return "us-east-1"
    scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else "us-east-1"


def _headers(request: Any) -> dict[str, str]:
    return {
        str(k).lower(): v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        for k, v in request.headers.items()
    }


@cache
def _uri_pattern(request_uri: str) -> re.Pattern[str]:
    path = request_uri.split("?", 1)[0]
    pattern = ""
    for literal, name, greedy in re.findall(r"([^{]*)(?:\{([^}+]+)(\+?)\})?", path):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>{'.+' if greedy else '[^/]+'})"
    return re.compile(pattern + "/?$")


def _rest_params(operation: Any, request: Any) -> dict[str, Any]:
    url = urlsplit(request.url)
    members = operation.input_shape.members if operation.input_shape is not None else {}
    located = {(m.serialization.get("location"), m.serialization.get("name", n)): n for n, m in members.items()}
    params: dict[str, Any] = {}
    match = _uri_pattern(operation.http["requestUri"]).search(url.path)
    if match:
        for wire_name, value in match.groupdict().items():
            params[located.get(("uri", wire_name), wire_name)] = unquote(value)
    for wire_name, values in parse_qs(url.query).items():
        if ("querystring", wire_name) in located:
            params[located[("querystring", wire_name)]] = values[0]
    payload = operation.input_shape.serialization.get("payload") if operation.input_shape is not None else None
    body = _body(request)
    if payload is None and body.startswith(b"{"):
        params.update(json.loads(body))
    return params


def _cbor(body: bytes) -> dict[str, Any]:
    from botocore.parsers import RpcV2CBORParser

    parser = RpcV2CBORParser()
    decoded = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    return dict(decoded) if isinstance(decoded, dict) else {}


def _s3(request: Any) -> dict[str, Any]:
    url = urlsplit(request.url)
    host = url.hostname or ""
    path = unquote(url.path)
    # Virtual-hosted style (bucket.s3.amazonaws.com/key), else path style (s3.amazonaws.com/bucket/key).
    if ".s3." in f".{host}" and not host.startswith("s3."):
        bucket, key = host.split(".s3.", 1)[0], path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    params: dict[str, Any] = {"Bucket": bucket}
    if key:
        params["Key"] = key
    for name, values in parse_qs(url.query, keep_blank_values=True).items():
        params[name] = values[0]
    return params


def read(service: str, operation_name: str, request: Any) -> WireRequest:
    """The parameters of ``request`` (an ``AWSPreparedRequest``) for ``service``'s ``operation_name``."""
    headers = _headers(request)
    if service == "s3":
        return WireRequest(_s3(request), headers)
    model = wire_errors.service_model(service)
    protocol = protocol_of(service)
    body = _body(request)
    if protocol == "json":
        return WireRequest(json.loads(body) if body else {}, headers)
    if protocol == "query":
        return WireRequest({k: v[0] for k, v in parse_qs(body.decode()).items()}, headers)
    if protocol == "smithy-rpc-v2-cbor":
        return WireRequest(_cbor(body) if body else {}, headers)
    if protocol in ("rest-json", "rest-xml"):
        return WireRequest(_rest_params(model.operation_model(operation_name), request), headers)
    raise ValueError(f"the offline IAM check cannot read {service}'s {protocol} requests")


def query_list(params: dict[str, Any], name: str) -> list[str]:
    """A ``query``-protocol list parameter (``AlarmNames.member.1``...) or a JSON/CBOR list."""
    if isinstance(params.get(name), list):
        return [str(v) for v in params[name]]
    prefix = f"{name}.member."
    return [str(v) for k, v in sorted(params.items(), key=lambda kv: kv[0]) if k.startswith(prefix)]
