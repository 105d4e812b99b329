"""Roles in moto's IAM, with their policies attached, and what a check reads back from them.

``create_role`` is how the deployer makes an execution role: the role, each inline policy
(``PutRolePolicy``) and each managed one (``AttachRolePolicy``), so ``get_role_policy`` and
``list_attached_role_policies`` show what a deployed stack would. A check then reads the policies
from moto's IAM backend (``identity_policies``), so a test that detaches or rewrites a policy
through the IAM API changes what the next call may do, as on AWS.

AWS managed policies exist in every account, but moto loads all 1,582 only on request
(``iam.load_aws_managed_policies``), which costs every backend it builds; the few a role attaches
are put in place from moto's own copy of them instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from localcloud.iam.policies import Policy
from localcloud.iam.sam import RoleSpec, aws_managed_policies

_AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy"


def _iam_backend(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


def ensure_aws_managed_policy(account_id: str, arn: str) -> None:
    """Make an AWS managed policy attachable in this account's moto IAM (a no-op when it already is)."""
    backend = _iam_backend(account_id)
    if arn in backend.managed_policies or not arn.startswith(_AWS_MANAGED_PREFIX):
        return
    from moto.iam.models import AWSManagedPolicy

    name = arn.rsplit("/", 1)[1]
    data = aws_managed_policies().get(name)
    if data is None:
        return  # attach_role_policy answers NoSuchEntity, as IAM does for a policy that does not exist
    policy = AWSManagedPolicy.from_data(name, account_id, "us-east-1", data)
    backend.managed_policies[policy.arn] = policy


def create_role(iam: Any, name: str, spec: RoleSpec, resolve: Callable[[Any], Any], account_id: str) -> dict[str, Any]:
    """Create ``spec`` as role ``name`` through the IAM client ``iam``; ``resolve`` resolves intrinsics."""
    role: dict[str, Any] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(spec.trust))["Role"]
    for policy_name, document in spec.inline:
        # SAM writes templates' and inline statements without Version; IAM then reads them as
        # 2008-10-17 (no policy variables, which the evaluator refuses anyway), but moto refuses
        # a document without 2012-10-17.
        resolved = {"Version": "2012-10-17", **resolve(document)}
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(resolved))
    for arn in spec.managed:
        ensure_aws_managed_policy(account_id, arn)
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return role


def identity_policies(role_arn: str) -> list[Policy]:
    """The role's inline and attached managed policies as moto's IAM holds them now."""
    account_id = role_arn.split(":")[4]
    role = _iam_backend(account_id).get_role_by_arn(role_arn)
    policies = [_parsed(name, _text(document)) for name, document in role.policies.items()]
    for managed in role.managed_policies.values():
        document = next(v.document for v in managed.versions if v.is_default)
        policies.append(_parsed(managed.arn, _text(document)))
    return policies


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


# Every check reads the role's policies again (they may have changed); parsing each version once
# keeps that to a lookup.
@lru_cache(maxsize=1024)
def _parsed(name: str, document: str) -> Policy:
    return Policy.parse(name, document)
