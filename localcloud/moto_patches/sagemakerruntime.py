"""SageMaker Runtime: ``InvokeEndpoint`` serves real predictions and records SageMaker's metrics.

moto answers with canned data. Here the running cloud's hosted endpoint routes the request by
variant weight, the model predicts, the invocation lands in CloudWatch and the cloud's counters
(``localcloud.invocations``), and a request the endpoint's data capture samples is written to S3
(``localcloud.data_capture``).
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
        cloud.data_capture,
        self.headers.get("X-Amzn-SageMaker-Inference-Id"),
    )
    headers = {"Content-Type": invocations.ANSWER_CONTENT_TYPE, "x-Amzn-Invoked-Production-Variant": variant}
    return 200, headers, answer


PATCHES = PatchSet(
    "sagemakerruntime",
    (Patch(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint),),
)
