"""Every parameter has a Default that its own constraints accept, so ``sam deploy --guided`` can take them all."""

from __future__ import annotations

import re
from typing import Any


def test_parameter_has_a_default(project: Any, parameter_name: str) -> None:
    assert "Default" in project.parameters[parameter_name], f"{parameter_name} has no Default"


def test_parameter_default_satisfies_its_own_constraints(project: Any, parameter_name: str) -> None:
    spec = project.parameters[parameter_name]
    if "Default" not in spec:
        return  # reported by test_parameter_has_a_default
    default = spec["Default"]
    values = (
        [item.strip() for item in str(default).split(",")] if spec.get("Type") == "CommaDelimitedList" else [default]
    )
    problems: list[str] = []

    allowed = spec.get("AllowedValues")
    if allowed is not None:
        problems += [
            f"{value!r} is not in AllowedValues {allowed}" for value in values if str(value) not in map(str, allowed)
        ]

    pattern = spec.get("AllowedPattern")
    if pattern is not None:
        # CloudFormation matches AllowedPattern against the whole value.
        problems += [
            f"{value!r} does not match AllowedPattern {pattern!r}"
            for value in values
            if not re.fullmatch(pattern, str(value))
        ]

    for value in values:
        text = str(value)
        if "MinLength" in spec and len(text) < int(spec["MinLength"]):
            problems.append(f"{value!r} is shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
            problems.append(f"{value!r} is longer than MaxLength {spec['MaxLength']}")
        if spec.get("Type") == "Number":
            try:
                number = float(text)
            except ValueError:
                problems.append(f"{value!r} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"{value!r} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"{value!r} is above MaxValue {spec['MaxValue']}")

    assert not problems, f"{parameter_name}: its Default is rejected by its own constraints: " + "; ".join(problems)
