"""The execution roles ``sam deploy`` generates, as AWS SAM's transform builds them.

For an ``AWS::Serverless::Function`` without ``Role`` SAM creates ``<Function>Role``
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-function.html#sam-function-policies):

* managed policies: ``AWSLambdaBasicExecutionRole``; ``AWSXrayWriteOnlyAccess`` when ``Tracing`` is
  set and not ``Disabled``; ``AWSLambdaVPCAccessExecutionRole`` with ``VpcConfig``;
  ``AWSLambdaSQSQueueExecutionRole`` for an ``SQS`` event;
* inline ``DeadLetterQueuePolicy`` (``sqs:SendMessage`` or ``sns:Publish`` on the queue or topic)
  for ``DeadLetterQueue``;
* inline ``<Function>EventInvokeConfig<OnSuccess|OnFailure><SQS|SNS|...>Policy`` for each
  ``EventInvokeConfig`` destination;
* then each ``Policies`` entry: a managed policy (name or ARN), an inline document
  (``<Function>RolePolicy<index>``), or a SAM policy template expanded from
  ``sam_policy_templates.json`` (samtranslator's ``policy_templates.json``, copied unchanged; a
  test compares the two when SAM's copy is installed).

For an ``AWS::Serverless::StateMachine`` without ``Role``: its ``Policies`` the same way, plus
``AWSXrayWriteOnlyAccess`` when ``Tracing.Enabled``; and for each ``EventBridgeRule`` event a role
that EventBridge assumes, allowed ``states:StartExecution`` on the machine.

Policy templates are expanded with their parameters; what is left is CloudFormation
(``Fn::Sub`` with ``${AWS::Region}``...), which the deployer resolves like any other property.
This module mirrors samtranslator 1.115 (``model/sam_resources.py``, ``model/iam.py``,
``model/role_utils/role_constructor.py``, ``model/stepfunctions/``); anything it does not mirror
(intrinsic conditions in ``Policies``, auto-created destinations, permissions boundaries) raises.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

_TEMPLATES = Path(__file__).with_name("sam_policy_templates.json")
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE_ONLY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
SQS_QUEUE_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
_DEAD_LETTER_ACTIONS = {"SQS": "sqs:SendMessage", "SNS": "sns:Publish"}
# samtranslator's IAMRolePolicies for event invoke destinations: (policy name suffix, statements).
_DESTINATION_POLICIES = {
    "SQS": ("SQSPolicy", [("sqs:SendMessage", "")]),
    "SNS": ("SNSPolicy", [("sns:publish", "")]),
    "EventBridge": ("EventBridgePolicy", [("events:PutEvents", "")]),
    "Lambda": ("LambdaPolicy", [("lambda:InvokeFunction", "")]),
    "S3Bucket": ("S3Policy", [("s3:PutObject", "/*"), ("s3:ListBucket", "")]),
}


class SamRoleError(ValueError):
    """A role setting SAM accepts but the offline deployer does not reproduce."""


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Principal": {"Service": [service]}}],
    }


@dataclass
class RoleSpec:
    """A role SAM would generate: its logical id, trust policy, inline policies and managed policy ARNs."""

    logical_id: str
    trust: dict[str, Any]
    inline: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    managed: list[str] = field(default_factory=list)

    def attach(self, arn: str) -> None:
        if arn not in self.managed:
            self.managed.append(arn)


@cache
def policy_templates() -> Mapping[str, Any]:
    templates: Mapping[str, Any] = json.loads(_TEMPLATES.read_text())["Templates"]
    return templates


@cache
def aws_managed_policies() -> Mapping[str, Any]:
    """AWS's managed policies by name (path, default document), as moto ships them (parsed once: 4.7 MB)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies: Mapping[str, Any] = json.loads(aws_managed_policies_data)
    return policies


def managed_policy_arn(name_or_arn: str) -> str:
    """SAM's managed policy name to ARN (its bundled map is AWS's list of managed policies and paths)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    policy = aws_managed_policies().get(name_or_arn)
    if policy is None:
        return name_or_arn  # SAM passes an unknown name through; IAM then refuses to attach it
    return f"arn:aws:iam::aws:policy{policy['Path']}{name_or_arn}"


def _replace_refs(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return copy.deepcopy(values[node["Ref"]])
        return {key: _replace_refs(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(item, values) for item in node]
    return node


def expand_template(name: str, parameters: Any) -> dict[str, Any]:
    """A SAM policy template with its parameters filled in: a policy document (``Statement``)."""
    template = policy_templates()[name]
    values = parameters if isinstance(parameters, Mapping) else {}
    missing = sorted(set(template.get("Parameters", {})) - set(values))
    if missing:
        raise SamRoleError(f"policy template {name} needs parameters {missing}")
    # SAM resolves only Ref to the template's own parameters; Fn::Sub stays for CloudFormation.
    expanded: dict[str, Any] = _replace_refs(template["Definition"], values)
    return expanded


def _add_policies(role: RoleSpec, policies: Any) -> None:
    entries = policies if isinstance(policies, list) else [policies] if policies else []
    for index, entry in enumerate(entries):
        name = f"{role.logical_id}Policy{index}"
        if isinstance(entry, str):
            role.attach(managed_policy_arn(entry))
        elif isinstance(entry, Mapping) and "Statement" in entry:
            role.inline.append((name, dict(entry)))
        elif isinstance(entry, Mapping) and len(entry) == 1 and next(iter(entry)) in policy_templates():
            ((template, parameters),) = entry.items()
            role.inline.append((name, expand_template(template, parameters)))
        else:
            raise SamRoleError(f"{role.logical_id}: Policies entry {index} is not a policy SAM knows: {entry!r}")


def _statement_policy(name: str, statements: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return name, {"Version": "2012-10-17", "Statement": statements}


def function_role(logical_id: str, props: Mapping[str, Any]) -> RoleSpec | None:
    """The role SAM generates for a function (``props`` merged with Globals); None when ``Role`` is given."""
    if props.get("Role"):
        return None
    if props.get("PermissionsBoundary"):
        raise SamRoleError(f"{logical_id}: PermissionsBoundary is not evaluated offline")
    role = RoleSpec(f"{logical_id}Role", props.get("AssumeRolePolicyDocument") or _trust("lambda.amazonaws.com"))
    role.attach(BASIC_EXECUTION_ROLE)
    if props.get("Tracing") and props["Tracing"] != "Disabled":
        role.attach(XRAY_WRITE_ONLY)
    if props.get("VpcConfig"):
        role.attach(VPC_ACCESS)
    dead_letter = props.get("DeadLetterQueue")
    if dead_letter:
        action = _DEAD_LETTER_ACTIONS.get(dead_letter.get("Type", ""))
        if action is None or not dead_letter.get("TargetArn"):
            raise SamRoleError(f"{logical_id}: DeadLetterQueue needs Type SQS or SNS and a TargetArn")
        role.inline.append(
            _statement_policy(
                "DeadLetterQueuePolicy", [{"Action": action, "Resource": dead_letter["TargetArn"], "Effect": "Allow"}]
            )
        )
    for outcome, destination in ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).items():
        kind, arn = destination.get("Type"), destination.get("Destination")
        if kind not in _DESTINATION_POLICIES or not arn:
            raise SamRoleError(f"{logical_id}: {outcome} destination needs a known Type and a Destination ARN")
        suffix, grants = _DESTINATION_POLICIES[kind]
        statements = [{"Action": action, "Effect": "Allow", "Resource": f"{arn}{tail}"} for action, tail in grants]
        role.inline.append((f"{logical_id}EventInvokeConfig{outcome}{suffix}", {"Statement": statements}))
    _add_policies(role, props.get("Policies"))
    if any(event.get("Type") == "SQS" for event in (props.get("Events") or {}).values()):
        role.attach(SQS_QUEUE_EXECUTION_ROLE)
    return role


def state_machine_role(logical_id: str, props: Mapping[str, Any]) -> RoleSpec | None:
    """The role SAM generates for a state machine; None when ``Role`` is given."""
    if props.get("Role"):
        return None
    if props.get("PermissionsBoundary"):
        raise SamRoleError(f"{logical_id}: PermissionsBoundary is not evaluated offline")
    role = RoleSpec(f"{logical_id}Role", _trust("states.amazonaws.com"))
    policies = list(props.get("Policies") or [])
    if (props.get("Tracing") or {}).get("Enabled") is True:
        policies.append("AWSXrayWriteOnlyAccess")
    _add_policies(role, policies)
    return role


def state_machine_event_role(state_machine_logical_id: str, event_id: str, state_machine_arn: str) -> RoleSpec:
    """The role SAM gives an EventBridgeRule event of a state machine: EventBridge may start it."""
    role = RoleSpec(f"{state_machine_logical_id}{event_id}Role", _trust("events.amazonaws.com"))
    role.inline.append(
        (
            f"{role.logical_id}StartExecutionPolicy",
            {"Statement": [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": state_machine_arn}]},
        )
    )
    return role
