"""What a check reads from moto: the role a caller runs as, resource policies, and KMS keys.

Everything is read at check time from moto's backends (not from the template), so a role or a
policy changed through the API after deploy is what the next check sees.

The caller is the mark the fault injector keeps for the product's own calls (``faults.caller``):
``lambda:<function name>`` inside a handler (its function's execution role, the ``Role`` of its
configuration), ``states:<state machine name>`` inside an execution (the machine's ``roleArn``).
``acting_as`` marks a block as a role's explicitly, for code that acts with a role the way a service
does (SageMaker with a job's execution role). No mark: the operator (a test, the CLI, the cloud's
own observers), which is not checked.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from localcloud.iam.evaluator import ResourcePolicy
from localcloud.iam.policies import Policy, Principal

_acting_as: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("localcloud_iam_principal", default=None)


class UnknownCaller(LookupError):
    """A product call whose caller mark names no role the offline cloud knows."""


@contextlib.contextmanager
def acting_as(role_arn: str, session_name: str) -> Iterator[None]:
    """Check the calls made in this block (and threads that copy its context) as ``role_arn``'s."""
    token = _acting_as.set(Principal(role_arn, session_name, f"role:{role_arn}"))
    try:
        yield
    finally:
        _acting_as.reset(token)


def _function_role(name: str, lambdas: Any) -> Principal:
    from moto.awslambda.models import lambda_backends

    function = lambdas.get(name)
    if function is None:
        raise UnknownCaller(f"caller lambda:{name} is not a function the offline cloud deployed")
    configured = lambda_backends[function.account_id][function.region].get_function(name)
    # Lambda names the session after the function (arn:aws:sts::...:assumed-role/<role>/<function>).
    return Principal(str(configured.role), name, f"lambda:{name}")


def state_machine(name: str) -> Any:
    """The state machine moto holds under ``name`` (its role, its definition)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for _, regions in list(stepfunctions_parser_backends.items()):
        for _, backend in list(regions.items()):
            for machine in list(backend.state_machines):
                if machine.name == name:
                    return machine
    raise UnknownCaller(f"caller states:{name} is not a state machine moto holds")


def _state_machine_role(name: str) -> Principal:
    # Step Functions' session names are opaque; the machine's name reads better offline.
    return Principal(str(state_machine(name).roleArn), name, f"states:{name}")


def principal_of(caller: str | None, lambdas: Any) -> Principal | None:
    """The role a call is made as; None for calls that are not checked.

    Not checked: the operator's calls, and those of a function or state machine whose role IAM does
    not hold (one built by hand against moto, not deployed: AWS would not have created it).
    """
    explicit = _acting_as.get()
    if explicit is not None:
        return explicit
    if caller is None:
        return None
    kind, _, name = caller.partition(":")
    if kind == "lambda":
        principal = _function_role(name, lambdas)
    elif kind == "states":
        principal = _state_machine_role(name)
    else:
        raise UnknownCaller(f"caller {caller!r} names no role the offline IAM check knows how to find")
    return principal if role_exists(principal.role_arn) else None


def role_exists(role_arn: str) -> bool:
    """Whether moto's IAM holds the role: a role built by hand against plain moto is not checked."""
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        return False
    try:
        iam_backends[parts[4]]["aws"].get_role_by_arn(role_arn)
    except Exception:  # moto's NoSuchEntity
        return False
    return True


# ----------------------------------------------------------------------------- resource policies


def _kms_backend(account: str, region: str) -> Any:
    from moto.kms.models import kms_backends

    return kms_backends[account][region]


def key_arn(account: str, region: str, key_id: str) -> str | None:
    """A KMS key's ARN from any of its names (id, ARN, alias); None when moto has no such key."""
    backend = _kms_backend(account, region)
    try:
        raw = backend.any_id_to_key_id(key_id)
    except Exception:  # an alias that does not exist
        return None
    key = backend.keys.get(raw)
    return str(key.arn) if key is not None else None


def _bucket(account: str, name: str) -> Any:
    from moto.s3.models import s3_backends

    return s3_backends[account]["aws"].buckets.get(name)


def resource_policy(account: str, region: str, resource: str) -> ResourcePolicy | None:
    """The policy attached to the resource an ARN names, for the services whose policies are evaluated."""
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource_region, resource_account, rest = parts[2], parts[3], parts[4], parts[5]
    if service == "s3":
        bucket = _bucket(account, rest.split("/", 1)[0])
        policy = bucket.policy if bucket is not None else None
        return ResourcePolicy(Policy.parse(f"bucket policy of {bucket.name}", policy)) if policy else None
    if service == "sqs":
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[resource_account][resource_region].queues.get(rest)
        policy = getattr(queue, "policy", None) if queue is not None else None
        return ResourcePolicy(Policy.parse(f"queue policy of {rest}", policy)) if policy else None
    if service == "sns":
        from moto.sns.models import sns_backends

        topic = sns_backends[resource_account][resource_region].topics.get(resource)
        return ResourcePolicy(Policy.parse(f"topic policy of {rest}", topic.policy)) if topic is not None else None
    if service == "kms" and rest.startswith("key/"):
        key = _kms_backend(resource_account, resource_region).keys.get(rest.removeprefix("key/"))
        return ResourcePolicy(Policy.parse(f"key policy of {rest}", key.policy), required=True) if key else None
    return None


class MotoResources:
    """The resource facts ``actions`` needs (KMS keys of topics, queues, objects), read from moto."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def _key(self, key_id: str | None) -> str | None:
        return key_arn(self.account, self.region, key_id) if key_id else None

    def topic_kms_key(self, topic_arn: str) -> str | None:
        from moto.sns.models import sns_backends

        region, account = topic_arn.split(":")[3:5]
        topic = sns_backends[account][region].topics.get(topic_arn)
        return self._key(topic.kms_master_key_id) if topic is not None else None

    def queue_kms_key(self, queue_arn: str) -> str | None:
        from moto.sqs.models import sqs_backends

        region, account, name = queue_arn.split(":")[3:6]
        queue = sqs_backends[account][region].queues.get(name)
        return self._key(getattr(queue, "kms_master_key_id", None)) if queue is not None else None

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        found = _bucket(self.account, bucket)
        stored = found.keys.get(key) if found is not None else None
        if stored is None or stored.encryption != "aws:kms":
            return None
        return self._key(stored.kms_key_id) or self._key("alias/aws/s3")

    def bucket_kms_key(self, bucket: str) -> str | None:
        found = _bucket(self.account, bucket)
        default = ((found.encryption or {}).get("Rule") or {}).get("ApplyServerSideEncryptionByDefault") or {}
        if found is None or default.get("SSEAlgorithm") != "aws:kms":
            return None
        return self._key(default.get("KMSMasterKeyID")) or self._key("alias/aws/s3")
