"""A refused call as the service answers it: its own error code, HTTP status and message.

The message is IAM's (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html):
``User: <assumed-role session ARN> is not authorized to perform: <action> on resource: <ARN>
because no identity-based policy allows the <action> action`` (or ``with an explicit deny in an
identity-based policy``, ``... in a resource-based policy``). The code and status are each
service's:

* JSON services (SageMaker, Step Functions, DynamoDB, KMS, EventBridge, CloudWatch Logs,
  Application Auto Scaling): ``AccessDeniedException``, 400
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html);
* Lambda and Scheduler (REST): ``AccessDeniedException``, 403
  (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html);
* S3: ``AccessDenied``, 403, the resource ARN in quotes
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html);
* SNS: ``AuthorizationError``, 403 (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html);
  a publisher refused the topic's KMS key: ``KMSAccessDenied``, 400;
* SQS (JSON with query-compatible codes): ``AccessDenied``, 403; refused the queue's key:
  ``KMS.AccessDeniedException``
  (https://repost.aws/knowledge-center/sqs-accessdenied-errors);
* CloudWatch (CBOR with query-compatible codes), IAM, STS: ``AccessDenied``, 403
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse

from localcloud import wire_errors
from localcloud.iam.actions import Authorization
from localcloud.iam.evaluator import Decision
from localcloud.iam.policies import Principal

_ACCESS_DENIED = ("AccessDeniedException", 400)
_SERVICE_ERRORS: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "scheduler": ("AccessDeniedException", 403),
}
_CODE_STATUS = {"KMSAccessDenied": 400, "KMS.AccessDeniedException": 400}


def message(principal: Principal, authorization: Authorization, decision: Decision, service: str) -> str:
    resource = f'"{authorization.resource}"' if service == "s3" else authorization.resource
    return (
        f"User: {principal.session_arn} is not authorized to perform: {authorization.action} "
        f"on resource: {resource} {decision.reason}"
    )


def error_code(service: str, authorization: Authorization) -> tuple[str, int]:
    if authorization.error_code is not None:
        return authorization.error_code, _CODE_STATUS.get(authorization.error_code, 400)
    return _SERVICE_ERRORS.get(service, _ACCESS_DENIED)


def refusal(
    service: str, url: str, principal: Principal, authorization: Authorization, decision: Decision
) -> AWSResponse:
    """The HTTP response the service sends back for a refused call (what botocore parses into a ClientError)."""
    code, status = error_code(service, authorization)
    return service_error(service, url, code, status, message(principal, authorization, decision, service))


def service_error(service: str, url: str, code: str, status: int, text: str) -> AWSResponse:
    """An error response in the protocol the service's clients speak."""
    status, headers, body = wire_errors.error_response(service, code, text, status)
    return AWSResponse(url, status, headers, MockRawResponse(body))
