"""moto's request path, shared by every service: validation, fault injection, the SDK's backoff.

* ``BaseClient._convert_to_request_dict``: every request any botocore client in this process sends
  (the product's, the ASL interpreter's, moto's own), once botocore's own checks passed; the running
  cloud refuses one that AWS's servers would refuse for its model's constraints
  (``localcloud.request_validation``), with the service's own error.
* ``BaseResponse.setup_class``: a request that reached moto's server from another process (a
  Lambda worker, the AWS CLI next to ``conveyor local up``) is read back into its parameters, as
  moto reads it, and checked the same way; the refusal goes back on the wire. A request a Lambda
  worker signed with its function's key is then checked against the function's role
  (``localcloud.workers.iam_refusal``).
* ``BotocoreStubber.__call__``: every in-process API call passes here; the running cloud's fault
  injector may answer it with the service's own throttling, 5xx or timeout response
  (``localcloud.faults.intercept``). Without a running cloud the stubber is moto's own.
  Before that, a call the product makes is checked against the calling role's IAM policies and
  refused as the service would refuse it (``localcloud.iam.check_request``).
* ``botocore.retries.standard.ExponentialBackoff.delay_amount``: the SDK's retry backoff (the
  answer to those faults) waits on the running cloud's clock; real seconds without one.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.model import OperationModel
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from localcloud import faults, iam, runtime, workers
from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto
from localcloud.request_validation import VALIDATED_HEADER

require_pinned_moto()

_convert_to_request_dict = original(BaseClient, "_convert_to_request_dict")
_setup_class = original(BaseResponse, "setup_class")
_stubber_call = original(BotocoreStubber, "__call__")
_backoff_delay = original(ExponentialBackoff, "delay_amount")


def convert_to_request_dict(
    self: BaseClient, api_params: dict[str, Any], operation_model: OperationModel, *args: Any, **kwargs: Any
) -> Any:
    # botocore validates while it serialises, before AWS sees a request: its errors come first.
    request_dict = _convert_to_request_dict(self, api_params, operation_model, *args, **kwargs)
    cloud = runtime.active()
    # A presigned URL is checked when it is used, not when it is signed.
    if cloud is not None and not request_dict.get("context", {}).get("is_presign_request"):
        cloud.validation.check(self, operation_model, api_params)
        request_dict["headers"][VALIDATED_HEADER] = "1"  # moto's server need not read it back
    return request_dict


def setup_class(self: BaseResponse, request: Any, *args: Any, **kwargs: Any) -> None:
    _setup_class(self, request, *args, **kwargs)
    cloud = runtime.active()
    if cloud is None or not request.from_wsgi_server or VALIDATED_HEADER in request.headers:
        return
    read = _wire_request(self, request, cloud)
    answer = None if read is None else cloud.validation.check_wire(*read)
    answer = answer or workers.iam_refusal(cloud, self, request)
    if answer is not None:
        status, headers, body = answer
        # Flask sends an HTTPException's response as it is; moto's handler is not reached.
        raise HTTPException(response=Response(body, status=status, headers=headers))


def _wire_request(
    response: BaseResponse, request: Any, cloud: runtime.Runtime
) -> tuple[Any, dict[str, Any], str] | None:
    """The operation, parameters and protocol of a request moto's server received, read as moto reads them."""
    try:
        service_model = get_service_model(response.boto3_service_name)
        operation_model = service_model.operation_model(response._get_action())
        protocol = determine_request_protocol(service_model, request.content_type)
        params = PROTOCOL_PARSERS[protocol](operation_model, map_type=dict).parse(
            {
                "method": request.method,
                "values": request.values,
                "headers": request.headers,
                "body": request.data,
                "url_path": request.path,
                "url_params": response.uri_match,
            }
        )
    except Exception as error:  # a request moto cannot read back goes unchecked, never refused
        cloud.validation.note_unreadable(f"{response.boto3_service_name} {request.method} {request.path}", repr(error))
        return None
    return operation_model, params, protocol


def stubber_call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
    if not self.enabled:
        return None
    cloud = runtime.active()
    named = faults.service_and_operation(event_name)
    if cloud is None or named is None:
        return _stubber_call(self, event_name, request, **kwargs)
    service, operation = named
    # IAM: the calling role's policies decide first; a refusal never reaches moto (localcloud/iam).
    refused = iam.check_request(cloud, service, operation, request)
    if refused is not None:
        return refused
    answer = faults.intercept(cloud.faults, service, operation, request)
    if answer is not None:
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, MockRawResponse(body))
    with faults.dispatching(service, operation):
        return _stubber_call(self, event_name, request, **kwargs)


def backoff_delay(self: ExponentialBackoff, context: Any) -> float:
    # The offline clock shortens every wait the product makes; an SDK's backoff is one of them.
    delay = float(_backoff_delay(self, context))
    cloud = runtime.active()
    return cloud.clock.real_seconds(delay) if cloud is not None else delay


PATCHES = PatchSet(
    "core",
    (
        Patch(BaseClient, "_convert_to_request_dict", convert_to_request_dict),
        Patch(BaseResponse, "setup_class", setup_class),
        Patch(BotocoreStubber, "__call__", stubber_call),
        Patch(ExponentialBackoff, "delay_amount", backoff_delay),
    ),
)
