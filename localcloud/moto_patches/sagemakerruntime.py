"""SageMaker Runtime: ``InvokeEndpoint`` serves real predictions and records SageMaker's metrics.

moto answers with canned data. Here the running cloud's hosted endpoint routes the request by
variant weight, the model predicts, and the invocation lands in CloudWatch and the cloud's counters
(``localcloud.invocations``).
"""

from __future__ import annotations

from moto.core.common_types import TYPE_RESPONSE
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from localcloud import invocations, runtime
from localcloud.moto_patches import Patch, PatchSet, require_pinned_moto

require_pinned_moto()


def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    endpoint_name = self._get_param("EndpointName") or self.path.split("/")[2]
    cloud = runtime.current(f"InvokeEndpoint on {endpoint_name}")
    target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
    body = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
    answer, variant = invocations.invoke(
        cloud.sagemaker,
        cloud.faults,
        cloud.invocations,
        self.current_account,
        self.region,
        endpoint_name,
        body,
        invocations.content_type_of(self.headers),
        target,
    )
    return 200, {"Content-Type": "text/csv; charset=utf-8", "x-Amzn-Invoked-Production-Variant": variant}, answer


PATCHES = PatchSet(
    "sagemakerruntime",
    (Patch(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),),
)
