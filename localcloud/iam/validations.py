"""Lambda's own checks of an execution role, made when a function is configured rather than used.

Lambda refuses, whoever asks, to configure what the function's role could not do:

* a dead-letter queue (``DeadLetterConfig``, SAM's ``DeadLetterQueue``) the role may not send to:
  ``InvalidParameterValueException: The provided execution role does not have permissions to
  call SendMessage on SQS`` (as deploys report it, e.g. https://github.com/elastic/beats/issues/13963;
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq);
* an SQS event source mapping whose queue the role may not read (``ReceiveMessage``,
  ``DeleteMessage``, ``GetQueueAttributes``,
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions).

So a template that forgets these permissions fails its offline deploy, as it fails ``sam deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.iam import errors, wire
from localcloud.iam.actions import Authorization
from localcloud.iam.evaluator import Decision
from localcloud.iam.policies import Principal

# checks.authorize: decides one authorization for a principal in a region, and records it.
Authorize = Callable[[Principal, str, Authorization], Decision]

_DEAD_LETTER_ACTIONS = {"sqs": ("sqs:SendMessage", "SendMessage", "SQS"), "sns": ("sns:Publish", "Publish", "SNS")}
_CONFIGURING = frozenset({"CreateFunction", "UpdateFunctionConfiguration", "CreateEventSourceMapping"})
_QUEUE_READ = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def _function_role(params: dict[str, Any], region: str, account: str) -> str | None:
    from moto.awslambda.models import lambda_backends

    try:
        return str(lambda_backends[account][region].get_function(params["FunctionName"]).role)
    except Exception:  # no such function: Lambda's own error follows
        return None


def _refused(authorize: Authorize, role_arn: str, region: str, actions: tuple[str, ...], resource: str) -> str | None:
    principal = Principal(role_arn, "awslambda-validation", "lambda-service")
    for action in actions:
        if not authorize(principal, region, Authorization(action, resource)).allowed:
            return action
    return None


def check(service: str, operation: str, request: Any, authorize: Authorize) -> Any:
    """Lambda's refusal of a configuration the role cannot serve; None otherwise."""
    if service != "lambda" or operation not in _CONFIGURING:
        return None
    from moto.core import DEFAULT_ACCOUNT_ID

    params = wire.read(service, operation, request).params
    region, account = wire.signing_region(request), DEFAULT_ACCOUNT_ID
    if operation == "CreateEventSourceMapping":
        source = str(params.get("EventSourceArn", ""))
        role = _function_role(params, region, account) if source.startswith("arn:aws:sqs:") else None
        missing = _refused(authorize, role, region, _QUEUE_READ, source) if role else None
        if missing:
            text = f"The provided execution role does not have permissions to call {missing.split(':')[1]} on SQS"
            return errors.service_error(service, request.url, "InvalidParameterValueException", 400, text)
        return None
    target = str((params.get("DeadLetterConfig") or {}).get("TargetArn") or "")
    kind = target.split(":")[2] if target.count(":") >= 5 else ""
    if kind not in _DEAD_LETTER_ACTIONS:
        return None
    role = params.get("Role") or _function_role(params, region, account)
    action, api, name = _DEAD_LETTER_ACTIONS[kind]
    if role and _refused(authorize, str(role), region, (action,), target):
        text = f"The provided execution role does not have permissions to call {api} on {name}"
        return errors.service_error(service, request.url, "InvalidParameterValueException", 400, text)
    return None
