"""IAM policy documents: their statements, and whether a statement applies to one request.

A statement applies when its Action (or NotAction), Resource (or NotResource), Principal (in a
resource-based policy) and Condition all match. Matching follows the IAM policy grammar:

* actions compare case-insensitively, with ``*`` and ``?`` wildcards (``s3:Get*``);
* resources compare case-sensitively; an ARN is matched segment by segment (partition, service,
  region, account, resource), so a wildcard never spans the colons between the first five;
* a principal is ``"*"``, ``{"AWS": ...}`` (an account, its root, or a role ARN) or
  ``{"Service": ...}`` (never a role).

Anything the grammar allows that this module does not evaluate (``NotPrincipal``, policy
variables such as ``${aws:username}``) raises ``UnsupportedPolicy``: a check that silently skipped
it could pass a call AWS refuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud.iam.conditions import Context, conditions_hold
from localcloud.iam.patterns import UnsupportedPolicy, arn_match, wildcard_match

__all__ = ["Policy", "Principal", "Statement", "UnsupportedPolicy"]


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Principal:
    """Who makes a call: a role, through the session its service assumed."""

    role_arn: str
    session_name: str
    # The product caller acting as the role (``lambda:<function>``, ``states:<state machine>``).
    caller: str = ""

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[1]

    @property
    def session_arn(self) -> str:
        """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``: the ARN AWS names in an access denied message."""
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    principals: Mapping[str, tuple[str, ...]] | None = None
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sid: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Statement:
        if "NotPrincipal" in raw:
            raise UnsupportedPolicy(f"NotPrincipal is not evaluated offline (statement {raw.get('Sid', '')!r})")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise UnsupportedPolicy(f"a statement's Effect must be Allow or Deny, not {effect!r}")
        principal = raw.get("Principal")
        principals: dict[str, tuple[str, ...]] | None = None
        if principal == "*":
            principals = {"AWS": ("*",)}
        elif isinstance(principal, Mapping):
            principals = {str(kind): _strings(values) for kind, values in principal.items()}
        return cls(
            effect=effect,
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw["NotAction"]) if "NotAction" in raw else None,
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw["NotResource"]) if "NotResource" in raw else None,
            principals=principals,
            conditions=dict(raw.get("Condition") or {}),
            sid=str(raw.get("Sid", "")),
        )

    def matches_action(self, action: str) -> bool:
        if self.not_actions is not None:
            return not any(wildcard_match(p, action, ignore_case=True) for p in self.not_actions)
        return any(wildcard_match(p, action, ignore_case=True) for p in self.actions)

    def matches_resource(self, resource: str) -> bool:
        if self.not_resources is not None:
            return not any(arn_match(p, resource) for p in self.not_resources)
        return any(arn_match(p, resource) for p in self.resources)

    def names(self, principal: Principal) -> bool:
        """Whether this resource-policy statement's Principal is this role (or everyone)."""
        return "*" in (self.principals or {}).get("AWS", ()) or principal.role_arn in self.aws_principals()

    def names_account_of(self, principal: Principal) -> bool:
        """Whether the Principal is the role's account: that delegates the decision to IAM policies."""
        account = principal.account
        partition = principal.role_arn.split(":")[1]
        return bool({account, f"arn:{partition}:iam::{account}:root"} & set(self.aws_principals()))

    def aws_principals(self) -> tuple[str, ...]:
        return (self.principals or {}).get("AWS", ())

    def applies(self, action: str, resource: str, context: Context) -> bool:
        return (
            self.matches_action(action)
            and self.matches_resource(resource)
            and conditions_hold(self.conditions, context)
        )


@dataclass(frozen=True)
class Policy:
    """One policy document, with the name it has on its role (or the resource it belongs to)."""

    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Mapping[str, Any] | str | bytes) -> Policy:
        if isinstance(document, str | bytes):
            document = json.loads(document)
        assert isinstance(document, Mapping)
        raw = document.get("Statement", [])
        statements = [raw] if isinstance(raw, Mapping) else list(raw)
        return cls(name, tuple(Statement.parse(s) for s in statements))

    def applicable(self, effect: str, action: str, resource: str, context: Context) -> Iterable[Statement]:
        return (s for s in self.statements if s.effect == effect and s.applies(action, resource, context))
