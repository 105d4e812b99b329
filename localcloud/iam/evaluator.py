"""One authorization decision: a role's identity policies and the resource's own policy, same account.

The order is IAM's policy evaluation logic for a principal and a resource in one account
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

1. an explicit Deny in any applicable policy refuses, whatever allows;
2. an Allow in an identity-based policy, or in the resource-based policy for this role (or for
   ``"*"``), allows. A resource policy that names the account only delegates to IAM policies;
3. otherwise the request is implicitly denied.

KMS is the exception: a key policy must allow the call, directly or by naming the account (which
lets IAM policies decide), so a key policy without either refuses even an IAM Allow
(https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).

Permissions boundaries, session policies and SCPs do not exist offline (the template has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from localcloud.iam.conditions import Context
from localcloud.iam.policies import Policy, Principal


@dataclass(frozen=True)
class ResourcePolicy:
    """The policy attached to the resource itself (bucket, queue, topic, key).

    ``required``: the service demands that this policy allow the call (a KMS key policy).
    """

    policy: Policy
    required: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # The phrase AWS puts after the resource in an access denied message; empty when allowed.
    reason: str = ""


ALLOWED = Decision(True)


def _denies(policy: Policy, principal: Principal, action: str, resource: str, context: Context) -> bool:
    return any(
        s.names(principal) or s.names_account_of(principal)
        for s in policy.applicable("Deny", action, resource, context)
    )


def _allows(policy: Policy, principal: Principal, action: str, resource: str, context: Context) -> tuple[bool, bool]:
    """(allows this role directly, delegates to the account's IAM policies)."""
    statements = list(policy.applicable("Allow", action, resource, context))
    return any(s.names(principal) for s in statements), any(s.names_account_of(principal) for s in statements)


def decide(
    principal: Principal,
    action: str,
    resource: str,
    context: Context,
    identity: Sequence[Policy],
    resource_policy: ResourcePolicy | None = None,
) -> Decision:
    """Whether ``principal`` may perform ``action`` on ``resource``, and AWS's words when it may not."""
    if any(any(p.applicable("Deny", action, resource, context)) for p in identity):
        return Decision(False, "with an explicit deny in an identity-based policy")
    if resource_policy is not None and _denies(resource_policy.policy, principal, action, resource, context):
        return Decision(False, "with an explicit deny in a resource-based policy")
    identity_allows = any(any(p.applicable("Allow", action, resource, context)) for p in identity)
    direct, delegated = (
        _allows(resource_policy.policy, principal, action, resource, context)
        if resource_policy is not None
        else (False, False)
    )
    if resource_policy is not None and resource_policy.required:
        if direct or (delegated and identity_allows):
            return ALLOWED
        if not delegated:
            return Decision(False, f"because no resource-based policy allows the {action} action")
        return Decision(False, f"because no identity-based policy allows the {action} action")
    if identity_allows or direct:
        return ALLOWED
    return Decision(False, f"because no identity-based policy allows the {action} action")
