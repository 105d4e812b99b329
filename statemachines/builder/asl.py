"""The few shapes every state machine is made of, each written once.

A state is a plain ``dict`` in Amazon States Language; these constructors only decide which keys it
gets and in which order, so the generated JSON reads like hand-written ASL. Nothing here knows
about Conveyor: the pipeline's own blocks live beside it (``retries``, ``functions``, ``outcomes``,
``notify``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from statemachines.builder import retries

State = dict[str, Any]
# A state's data after a Catch: {"Error", "Cause"} at the catcher's ResultPath.
ALL_ERRORS = "States.ALL"


def service(integration: str) -> str:
    """An AWS service integration's resource ARN, partition-safe (``sagemaker:createModel``, ...)."""
    return f"arn:${{Partition}}:states:::{integration}"


def is_dynamic(value: object) -> bool:
    """A JSONPath, a context path or an intrinsic function: the key then needs the ``.$`` suffix.

    ``${Name}`` is a DefinitionSubstitutions placeholder, a literal as far as the ASL is concerned.
    """
    return isinstance(value, str) and (value == "$" or value.startswith(("$.", "$$.", "States.")))


def fields(document: dict[str, Any]) -> dict[str, Any]:
    """Write a Parameters/ResultSelector document with ``.$`` added wherever a value is dynamic.

    Nested documents and lists of documents are written the same way, so a state's parameters
    read as the API request they become. A key that already ends in ``.$`` was written already.
    """
    written: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            written[key] = fields(value)
        elif isinstance(value, list):
            written[key] = [fields(item) if isinstance(item, dict) else item for item in value]
        elif is_dynamic(value) and not key.endswith(".$"):
            written[f"{key}.$"] = value
        else:
            written[key] = value
    return written


def catch_all(next_state: str, result_path: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": [ALL_ERRORS], "ResultPath": result_path, "Next": next_state}]


def task(
    resource: str,
    *,
    next_state: str,
    retry: list[dict[str, Any]],
    catch: list[dict[str, Any]] | None,
    parameters: dict[str, Any] | None = None,
    result_selector: dict[str, Any] | None = None,
    result_path: str | None,
    comment: str | None = None,
    input_path: str | None = None,
) -> State:
    state: State = {"Type": "Task", "Resource": resource}
    if comment:
        state["Comment"] = comment
    if input_path:
        state["InputPath"] = input_path
    if parameters is not None:
        state["Parameters"] = parameters
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    if retry:
        state["Retry"] = retry
    if catch:
        state["Catch"] = catch
    state["Next"] = next_state
    return state


def service_task(
    integration: str,
    *,
    next_state: str,
    catch: list[dict[str, Any]] | None,
    parameters: dict[str, Any],
    result_path: str | None,
    result_selector: dict[str, Any] | None = None,
    comment: str | None = None,
    retry: list[dict[str, Any]] | None = None,
) -> State:
    """A task on an AWS service integration, with that integration's retry policy unless told otherwise."""
    return task(
        service(integration),
        comment=comment,
        parameters=fields(parameters),
        result_selector=fields(result_selector) if result_selector is not None else None,
        result_path=result_path,
        retry=retries.for_integration(integration) if retry is None else retry,
        catch=catch,
        next_state=next_state,
    )


def pass_state(parameters: dict[str, Any], *, result_path: str, next_state: str) -> State:
    return {"Type": "Pass", "Parameters": fields(parameters), "ResultPath": result_path, "Next": next_state}


def wait(next_state: str, *, seconds: int | None = None, seconds_path: str | None = None, comment: str = "") -> State:
    if (seconds is None) == (seconds_path is None):
        raise ValueError("a Wait state takes Seconds or SecondsPath, not both")
    state: State = {"Type": "Wait"}
    if comment:
        state["Comment"] = comment
    if seconds is not None:
        state["Seconds"] = seconds
    else:
        state["SecondsPath"] = seconds_path
    state["Next"] = next_state
    return state


def choice(rules: list[dict[str, Any]], default: str, comment: str = "") -> State:
    state: State = {"Type": "Choice"}
    if comment:
        state["Comment"] = comment
    state["Choices"] = rules
    state["Default"] = default
    return state


def equals(variable: str, value: str) -> dict[str, Any]:
    return {"Variable": variable, "StringEquals": value}


def equals_any(variable: str, values: Iterable[str]) -> dict[str, Any]:
    """A rule true when ``variable`` is one of ``values`` (an ``Or`` of ``StringEquals``)."""
    return {"Or": [equals(variable, value) for value in values]}


def rule(condition: dict[str, Any], next_state: str) -> dict[str, Any]:
    return {**condition, "Next": next_state}


class Machine:
    """An ordered set of named states; adding a name twice is an error, not a silent overwrite."""

    def __init__(self, comment: str, start_at: str) -> None:
        self.comment = comment
        self.start_at = start_at
        self.states: dict[str, State] = {}

    def add(self, states: dict[str, State]) -> Machine:
        for name, state in states.items():
            if name in self.states:
                raise ValueError(f"state {name} is defined twice")
            self.states[name] = state
        return self

    def definition(self) -> dict[str, Any]:
        return {"Comment": self.comment, "StartAt": self.start_at, "States": self.states}
