"""Resolve ``--local`` or ``--stack NAME`` into boto3 clients plus the stack's outputs.

Every command works through a ``Target``, so none of them knows whether it talks to AWS or to the
offline cloud: the only differences are the endpoint URL and where outputs and resource ids come from.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from conveyor_cli import outputs as stack_outputs
from conveyor_cli import state as local_state
from conveyor_cli.errors import CliError, error_code, error_message
from conveyor_cli.outputs import StackOutputs

# A synchronous Lambda invoke (`trigger`) can take the function's whole 60 s timeout.
_CONFIG = Config(read_timeout=120, retries={"mode": "standard", "max_attempts": 3})
# The offline cloud is on loopback: a refused connection means it is not running, not worth retrying.
_LOCAL_CONFIG = Config(read_timeout=120, connect_timeout=2, retries={"mode": "standard", "max_attempts": 2})


@dataclass(frozen=True)
class Target:
    kind: Literal["local", "stack"]
    stack_name: str
    region: str
    outputs: StackOutputs
    model_name: str
    session: Any
    endpoint_url: str | None = None
    resources: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        where = f"offline cloud at {self.endpoint_url}" if self.kind == "local" else self.region
        return f"{self.stack_name} ({where})"

    def client(self, service: str) -> Any:
        config = _LOCAL_CONFIG if self.kind == "local" else _CONFIG
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)

    def physical_id(self, logical_id: str) -> str | None:
        """A template resource's physical id, for what the stack does not export as an output."""
        if self.kind == "local":
            return self.resources.get(logical_id)
        try:
            detail = self.client("cloudformation").describe_stack_resource(
                StackName=self.stack_name, LogicalResourceId=logical_id
            )
        except ClientError as error:
            if error_code(error) == "ValidationError":
                return None
            raise
        return str(detail["StackResourceDetail"]["PhysicalResourceId"])


def resolve(*, local: bool, stack: str | None, region: str | None, profile: str | None, state_file: Path) -> Target:
    if local and stack:
        raise CliError("choose one target: --local or --stack NAME, not both")
    if not local and not stack:
        raise CliError("no target: pass --local (the offline cloud) or --stack NAME (a deployed stack)")
    if local:
        if region or profile:
            raise CliError("--region and --profile apply to --stack; the offline cloud's region is in its state file")
        return _local_target(state_file)
    assert stack is not None
    return _stack_target(stack, region, profile)


def _model_name(found: StackOutputs, parameters: Mapping[str, str], stack_name: str) -> str:
    if found.model_name:
        return found.model_name
    if parameters.get("ModelName"):
        return parameters["ModelName"]
    # template.yaml names the endpoint "${AWS::StackName}-${ModelName}".
    prefix = f"{stack_name}-"
    if found.endpoint_name.startswith(prefix) and len(found.endpoint_name) > len(prefix):
        return found.endpoint_name[len(prefix) :]
    raise CliError(f"cannot tell the model name of {stack_name}: no ModelName output or parameter")


def reachable(endpoint_url: str) -> bool:
    parsed = urlparse(endpoint_url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=2):
            return True
    except OSError:
        return False


def _local_target(state_file: Path) -> Target:
    found = local_state.load(state_file)
    if not reachable(found.endpoint_url):
        raise CliError(
            f"the offline cloud of {state_file} ({found.endpoint_url}) is not running; start it: `conveyor local up`"
        )
    # moto accepts any credentials; fixed ones keep the user's real AWS credentials out of it.
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=found.region)
    outputs = stack_outputs.parse(found.outputs, f"the offline cloud's stack {found.stack_name}")
    return Target(
        kind="local",
        stack_name=found.stack_name,
        region=found.region,
        outputs=outputs,
        model_name=_model_name(outputs, found.parameters, found.stack_name),
        session=session,
        endpoint_url=found.endpoint_url,
        resources=found.resources,
    )


def _stack_target(stack: str, region: str | None, profile: str | None) -> Target:
    session = boto3.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise CliError("no AWS region configured: pass --region or set AWS_REGION")
    cloudformation = session.client("cloudformation", config=_CONFIG)
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in error_message(error):
            raise CliError(f"stack {stack} not found in {session.region_name}") from None
        raise
    name = str(described["StackName"])
    raw = {str(o["OutputKey"]): str(o["OutputValue"]) for o in described.get("Outputs", [])}
    parameters = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in described.get("Parameters", [])}
    # A stack whose creation failed has no outputs; its status says why better than a missing output would.
    outputs = stack_outputs.parse(raw, f"stack {name} ({described.get('StackStatus', 'unknown status')})")
    return Target(
        kind="stack",
        stack_name=name,
        region=str(session.region_name),
        outputs=outputs,
        model_name=_model_name(outputs, parameters, name),
        session=session,
    )
