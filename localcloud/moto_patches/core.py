"""moto's request path, shared by every service: fault injection, and the SDK's backoff on the clock.

* ``BotocoreStubber.__call__``: every in-process API call passes here; the running cloud's fault
  injector may answer it with the service's own throttling, 5xx or timeout response
  (``localcloud.faults.intercept``). Without a running cloud the stubber is moto's own.
* ``botocore.retries.standard.ExponentialBackoff.delay_amount``: the SDK's retry backoff (the
  answer to those faults) waits on the running cloud's clock; real seconds without one.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from localcloud import faults, runtime
from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_stubber_call = original(BotocoreStubber, "__call__")
_backoff_delay = original(ExponentialBackoff, "delay_amount")


def stubber_call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
    if not self.enabled:
        return None
    cloud = runtime.active()
    named = faults.service_and_operation(event_name)
    if cloud is None or named is None:
        return _stubber_call(self, event_name, request, **kwargs)
    service, operation = named
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
        Patch(BotocoreStubber, "__call__", stubber_call),
        Patch(ExponentialBackoff, "delay_amount", backoff_delay),
    ),
)
