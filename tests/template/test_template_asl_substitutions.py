"""DefinitionSubstitutions and ASL placeholders agree, and nothing deployment-specific is hard-coded in the ASL."""

from __future__ import annotations

import re
from typing import Any

PSEUDO_PARAMETER = re.compile(r"^AWS::")

# Parameters keys whose value names a bucket, table, topic, role or other deployed resource.
RESOURCE_NAME_KEYS = frozenset(
    {
        "Bucket",
        "TableName",
        "TopicArn",
        "TargetArn",
        "QueueUrl",
        "FunctionName",
        "StateMachineArn",
        "RoleArn",
        "ExecutionRoleArn",
        "ModelPackageGroupName",
    }
)


def placeholders(text: str, pattern: re.Pattern[str]) -> set[str]:
    return set(pattern.findall(text))


def test_every_asl_placeholder_has_a_definition_substitution(
    project: Any, state_machine_id: str, placeholder_pattern: re.Pattern[str]
) -> None:
    """CloudFormation substitutes only the listed keys in a DefinitionUri file, not even ${AWS::...}."""
    machine = project.state_machines[state_machine_id]
    missing = placeholders(machine.text, placeholder_pattern) - set(machine.substitutions)
    assert not missing, (
        f"{state_machine_id}: {machine.path.name} uses placeholders without a DefinitionSubstitutions entry: "
        f"{sorted(missing)}"
        + (
            " (pseudo parameters are not substituted automatically)"
            if any(PSEUDO_PARAMETER.match(name) for name in missing)
            else ""
        )
    )


def test_every_definition_substitution_is_used_by_the_asl(
    project: Any, state_machine_id: str, placeholder_pattern: re.Pattern[str]
) -> None:
    machine = project.state_machines[state_machine_id]
    unused = set(machine.substitutions) - placeholders(machine.text, placeholder_pattern)
    assert not unused, (
        f"{state_machine_id}: DefinitionSubstitutions never used in {machine.path.name}: {sorted(unused)}"
    )


def test_asl_has_no_hard_coded_aws_partition(project: Any, state_machine_id: str) -> None:
    machine = project.state_machines[state_machine_id]
    lines = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(machine.text.splitlines(), start=1)
        if "arn:aws:" in line
    ]
    assert not lines, f"{machine.path.name} hard-codes the aws partition; use arn:${{Partition}}:...\n" + "\n".join(
        lines
    )


def test_task_resource_comes_from_a_substitution(project: Any, task_state: Any) -> None:
    """A Task's Resource is an integration ARN with ${Partition}, or a ${...} ARN such as a function's."""
    raw = project.raw_state(task_state)
    resource = str(raw.get("Resource", ""))
    integration = resource.startswith("arn:${Partition}:states:::")
    substituted = re.fullmatch(r"\$\{[A-Za-z0-9]+\}", resource) is not None
    assert integration or substituted, (
        f"{task_state.key}: Resource {resource!r} is neither arn:${{Partition}}:states:::<integration> "
        "nor a ${...} substitution (a hard-coded function or activity ARN?)"
    )


def test_state_hard_codes_no_resource_names(project: Any, any_state: Any) -> None:
    """Buckets, tables, topics, roles and groups reach the ASL through ${...} substitutions only."""
    problems = [
        f"{path}: {value!r}"
        for path, key, value in static_strings(project.raw_state(any_state))
        if (key in RESOURCE_NAME_KEYS and "${" not in value)
        or ("s3://" in value and not re.search(r"s3://(\$\{|\{\})", value))
    ]
    assert not problems, f"{any_state.key} hard-codes deployed resource names:\n" + "\n".join(problems)


def static_strings(node: Any, path: str = "", key: str = "") -> list[tuple[str, str, str]]:
    """(path, key, value) for every string in ``node``, dynamic ``.$`` values included."""
    found: list[tuple[str, str, str]] = []
    if isinstance(node, dict):
        for child_key, value in node.items():
            name = child_key.removesuffix(".$")
            found += static_strings(value, f"{path}.{child_key}" if path else child_key, name)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += static_strings(value, f"{path}[{index}]", key)
    elif isinstance(node, str):
        found.append((path, key, node))
    return found
