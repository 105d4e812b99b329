"""IAM evaluated offline: a permission the template forgets fails a test, not the first deploy.

moto accepts every call. While an offline cloud runs, each API call the product makes (a Lambda
handler, a state machine's integrations) is checked against the policies of the role that makes
it, as ``template.yaml`` deploys them, before moto acts on it:

``sam``           the roles SAM generates: ``Policies`` (inline, managed, policy templates) and what
                  SAM adds (basic execution, X-Ray, dead-letter and destination permissions)
``roles``         those roles in moto's IAM (``PutRolePolicy``/``AttachRolePolicy``), read back at check time
``lookups``       who calls (the caller mark of ``localcloud.faults``: ``lambda:<function>`` runs as the
                  function's role, ``states:<machine>`` as the machine's; ``acting_as`` marks others),
                  resource policies and KMS keys from moto
``wire``          the request's parameters read back from the HTTP request, per protocol
``actions``       each (service, operation) as IAM actions, resource ARNs and condition keys
``integrations``  what Step Functions' optimized integrations need besides the call
``policies``, ``conditions``, ``patterns``, ``evaluator``
                  statements, conditions, wildcards, and the decision (explicit Deny wins; KMS
                  key policies must allow)
``errors``        a refusal as the service answers it (``AccessDeniedException``, S3 ``AccessDenied``,
                  SNS ``AuthorizationError``...)
``validations``   Lambda's own checks of a role when a function or mapping is configured
``checks``        the check itself, and ``AccessChecks``: what one cloud checked and refused

The principal is a context variable, not per-role credentials: the ASL interpreter signs every call
with one fixed key, and handler clients share one boto3 session whose credentials are resolved
once, so the key in a request cannot tell which role sent it. Three paths that do not pass through
moto's in-process request path check themselves with the same evaluator: EventBridge and Scheduler
deliveries (``localcloud/eventbridge.py``: the target's role, or a Lambda target's resource policy),
SageMaker acting as a job's or model's role (``localcloud/sagemaker.py``, through ``acting_as``), and
worker processes, whose per-function credentials the server maps back to the function's role
(``localcloud/workers.py``).
"""

from __future__ import annotations

from localcloud.iam.checks import AccessChecks, AccessStats, Refusal, check_request
from localcloud.iam.lookups import acting_as

__all__ = ["AccessChecks", "AccessStats", "Refusal", "acting_as", "check_request"]
