"""The IAM check on every product API call of a running cloud, and the record of what it decided.

``check_request`` is called by moto's request path (``moto_patches/core.py``) for each request.
It finds the role making the call (``lookups.principal_of``), the authorizations the call needs
(``actions``), the role's policies as moto's IAM holds them now (``roles``) and the resource's own
policy (``lookups.resource_policy``), and lets ``evaluator.decide`` rule on each. The first refusal
is answered as the service would (``errors``); the call never reaches moto. Calls made by the
operator (tests, the CLI, the cloud's observers) are not checked.

Each cloud's ``Runtime.iam`` (an ``AccessChecks``) counts what was checked and refused.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from localcloud.faults import FaultInjector
from localcloud.iam import actions, errors, integrations, lookups, roles, validations, wire
from localcloud.iam.actions import Authorization, Call
from localcloud.iam.evaluator import Decision, decide
from localcloud.iam.policies import Principal


@dataclass(frozen=True)
class Refusal:
    principal: str  # the assumed-role session ARN
    action: str
    resource: str
    reason: str


@dataclass
class AccessStats:
    calls: int = 0  # product API calls checked
    authorizations: int = 0  # (action, resource) questions decided for them
    refused: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    by_caller: Counter[str] = field(default_factory=Counter)
    refusals: list[Refusal] = field(default_factory=list)


class AccessChecks:
    """One cloud's record of IAM checks: how many calls and authorizations, and every refusal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = AccessStats()

    def record_call(self, principal: Principal) -> None:
        with self._lock:
            self._stats.calls += 1
            self._stats.by_caller[principal.session_name] += 1

    def record(self, principal: Principal, authorization: Authorization, decision: Decision) -> None:
        with self._lock:
            self._stats.authorizations += 1
            self._stats.by_action[authorization.action] += 1
            if not decision.allowed:
                self._stats.refused += 1
                self._stats.refusals.append(
                    Refusal(principal.session_arn, authorization.action, authorization.resource, decision.reason)
                )

    def stats(self) -> AccessStats:
        with self._lock:
            return AccessStats(
                self._stats.calls,
                self._stats.authorizations,
                self._stats.refused,
                Counter(self._stats.by_action),
                Counter(self._stats.by_caller),
                list(self._stats.refusals),
            )


def base_context(principal: Principal, region: str) -> dict[str, tuple[str, ...]]:
    """The global condition keys every request carries (the offline cloud's calls count as TLS)."""
    return {
        "aws:principalarn": (principal.role_arn,),
        "aws:principalaccount": (principal.account,),
        "aws:principaltype": ("AssumedRole",),
        "aws:securetransport": ("true",),
        "aws:requestedregion": (region,),
        "aws:viaawsservice": ("false",),
    }


def authorize(principal: Principal, region: str, authorization: Authorization, checks: AccessChecks) -> Decision:
    """Decide one authorization for ``principal`` with its current policies, and record the decision."""
    context = {**base_context(principal, region), **authorization.context}
    decision = decide(
        principal,
        authorization.action,
        authorization.resource,
        context,
        roles.identity_policies(principal.role_arn),
        lookups.resource_policy(principal.account, region, authorization.resource),
    )
    checks.record(principal, authorization, decision)
    return decision


def check_request(cloud: Any, service: str, operation: str, request: Any) -> Any:
    """The service's refusal of ``request`` when IAM would refuse it; None to let it through."""
    answer = validations.check(
        service, operation, request, lambda principal, region, grant: authorize(principal, region, grant, cloud.iam)
    )
    if answer is not None:
        return answer
    principal = lookups.principal_of(FaultInjector.current_caller(), cloud.lambdas)
    if principal is None:
        return None
    region = wire.signing_region(request)
    call = Call(
        service,
        operation,
        wire.read(service, operation, request),
        region,
        principal.account,
        lookups.MotoResources(principal.account, region),
    )
    cloud.iam.record_call(principal)
    for authorization in actions.authorizations(call) + integrations.implied(principal, call):
        decision = authorize(principal, region, authorization, cloud.iam)
        if not decision.allowed:
            return errors.refusal(service, request.url, principal, authorization, decision)
    return None
