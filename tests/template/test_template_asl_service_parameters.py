"""Static Parameters of service-integration Tasks match the botocore model of the API they call.

Covers ``arn:...:states:::aws-sdk:<service>:<action>`` for any service botocore knows, and the
optimized ``sagemaker:*``, ``dynamodb:*`` and ``sns:publish`` integrations, whose Parameters are the
API's own request. Values behind ``.$`` keys are only known at run time and are skipped, except
``States.StringToJson('<literal>')``, whose value is fixed at deploy time and validated like a
static one. Every deployment scenario (each AllowedValue that changes the substitutions) is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# Step Functions' aws-sdk service names that differ from botocore's.
AWS_SDK_SERVICE_NAMES = {
    "sfn": "stepfunctions",
    "eventbridge": "events",
    "applicationautoscaling": "application-autoscaling",
}

STRING_TO_JSON_LITERAL = re.compile(r"States\.StringToJson\('((?:[^'\\]|\\.)*)'\)")


@cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


def operation_for(resource: str, integration_of: Callable[[str], tuple[str, str] | None]) -> OperationModel:
    """The botocore operation a Task's Resource calls."""
    sdk = re.fullmatch(r"arn:[^:]+:states:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)(?:\.[A-Za-z]+)?", resource)
    optimized = integration_of(resource)
    if sdk:
        service, action = AWS_SDK_SERVICE_NAMES.get(sdk.group(1), sdk.group(1)), sdk.group(2)
    elif optimized is not None:
        service, action = optimized
    else:
        raise AssertionError(f"cannot tell which API {resource} calls")
    operation = action[0].upper() + action[1:]
    try:
        model = service_model(service)
    except Exception as error:
        raise AssertionError(f"botocore has no service {service!r} for {resource}: {error}") from error
    if operation not in model.operation_names:
        raise AssertionError(f"{resource}: {service} has no operation {operation} (action {action!r})")
    return model.operation_model(operation)


def literal_json(expression: str) -> tuple[bool, Any]:
    """(True, value) when ``expression`` is States.StringToJson of a string literal, else (False, None)."""
    match = STRING_TO_JSON_LITERAL.fullmatch(expression.strip())
    if not match:
        return False, None
    text = re.sub(r"\\(.)", r"\1", match.group(1))  # intrinsic escapes: \' \{ \} \\
    try:
        return True, json.loads(text)
    except json.JSONDecodeError as error:
        raise AssertionError(f"States.StringToJson literal is not JSON: {text!r} ({error})") from error


def validate(value: Any, shape: Shape, path: str) -> list[str]:
    """Problems with a static value against a botocore shape."""
    checks: dict[str, Callable[[Any, Shape, str], list[str]]] = {
        "structure": validate_structure,
        "list": validate_list,
        "map": validate_map,
        "string": validate_string,
        "integer": validate_integer,
        "long": validate_integer,
        "boolean": validate_boolean,
        "double": validate_number,
        "float": validate_number,
    }
    check = checks.get(shape.type_name)
    return check(value, shape, path) if check else []


def validate_structure(value: Any, shape: Shape, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object ({shape.name}), got {type(value).__name__} {value!r}"]
    members = shape.members  # type: ignore[attr-defined]
    problems: list[str] = []
    present = {key.removesuffix(".$") for key in value}
    for key, item in value.items():
        name = key.removesuffix(".$")
        if name not in members:
            problems.append(f"{path}.{name}: not a member of {shape.name} (members: {sorted(members)})")
            continue
        problems += validate_member(key, item, members[name], f"{path}.{name}")
    missing = [name for name in shape.required_members if name not in present]  # type: ignore[attr-defined]
    if missing:
        problems.append(f"{path}: {shape.name} requires {missing}")
    return problems


def validate_member(key: str, item: Any, shape: Shape, path: str) -> list[str]:
    if not key.endswith(".$"):
        return validate(item, shape, path)
    if not isinstance(item, str):
        return [f"{path}: a .$ field needs a path or intrinsic string, got {item!r}"]
    is_literal, literal = literal_json(item)
    return validate(literal, shape, f"{path} (StringToJson literal)") if is_literal else []


def validate_list(value: Any, shape: Shape, path: str) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: expected a list ({shape.name}), got {type(value).__name__} {value!r}"]
    member = shape.member  # type: ignore[attr-defined]
    return [problem for index, item in enumerate(value) for problem in validate(item, member, f"{path}[{index}]")]


def validate_map(value: Any, shape: Shape, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected a map ({shape.name}), got {type(value).__name__} {value!r}"]
    member = shape.value  # type: ignore[attr-defined]
    problems: list[str] = []
    for key, item in value.items():
        problems += validate_member(key, item, member, f"{path}[{key.removesuffix('.$')!r}]")
    return problems


def validate_string(value: Any, shape: Shape, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected a string ({shape.name}), got {type(value).__name__} {value!r}"]
    if shape.enum and value not in shape.enum:
        return [f"{path}: {value!r} is not one of {shape.name}'s values {shape.enum}"]
    return []


def validate_integer(value: Any, shape: Shape, path: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{path}: expected an integer ({shape.name}), got {type(value).__name__} {value!r}"]
    return validate_range(value, shape, path)


def validate_number(value: Any, shape: Shape, path: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: expected a number ({shape.name}), got {type(value).__name__} {value!r}"]
    return validate_range(value, shape, path)


def validate_range(value: float, shape: Shape, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{path}: {value} is outside {shape.name}'s range [{low}, {high}]"]
    return []


def validate_boolean(value: Any, shape: Shape, path: str) -> list[str]:
    if not isinstance(value, bool):
        return [f"{path}: expected a boolean ({shape.name}), got {type(value).__name__} {value!r}"]
    return []


def test_service_task_parameters_match_the_botocore_model(
    project: Any, service_task_state: Any, integration_of: Callable[[str], tuple[str, str] | None]
) -> None:
    operation = operation_for(service_task_state.resource, integration_of)
    problems: list[str] = []
    for label, overrides in project.scenarios().items():
        parameters = project.state_definition(service_task_state, overrides).get("Parameters", {})
        for problem in validate(parameters, operation.input_shape, "Parameters"):
            problems.append(f"[{label}] {problem}")
    assert not problems, (
        f"{service_task_state.key} -> {operation.service_model.service_name}:{operation.name}:\n"
        + "\n".join(dict.fromkeys(problems))
    )
