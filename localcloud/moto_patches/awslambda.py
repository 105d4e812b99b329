"""Lambda: functions run without Docker, each with its own environment.

* ``LambdaFunction._invoke_lambda``: every invoke path (the API, Step Functions tasks, EventBridge
  and SQS deliveries) ends here; the running cloud's Lambda runtime (in-process or awslambdaric
  workers) runs the deployed handler and its log lines go to the function's log group.
* ``LambdaBackend._send_sqs_message``: SQS event source mappings deliver records as Lambda does
  (message attributes, receive counts, partial batch failures).
* ``os.environ``: replaced by the overlay of ``localcloud.environ``, so each in-process invocation
  sees its own function's variables without a global lock.
"""

from __future__ import annotations

import os
from typing import Any

from moto.awslambda.models import LambdaBackend, LambdaFunction

from localcloud import environ, lambdas, runtime
from localcloud.moto_patches import Patch, PatchSet, require_pinned_moto

require_pinned_moto()


def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    cloud = runtime.current(f"invoking Lambda function {self.function_name}")
    return lambdas.invoke_and_log(cloud.lambdas, self, event)


_OVERLAY = os.environ if isinstance(os.environ, environ.OverlayEnviron) else environ.OverlayEnviron(os.environ)

PATCHES = PatchSet(
    "awslambda",
    (
        Patch(LambdaFunction, "_invoke_lambda", invoke_lambda),
        Patch(LambdaBackend, "_send_sqs_message", lambdas.send_sqs_message),
        Patch(os, "environ", _OVERLAY),
    ),
)
