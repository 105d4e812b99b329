"""Contract checks between a state machine and the Python on either side of it.

Step Functions only finds a wrong JSONPath when an execution reaches it, and a path that names a
missing field raises ``States.Runtime``, which no ``Catch`` handles. So every path a state reads is
traced here, through the graph, to the states that may have written it last (a fixed point over
every edge, ``Catch`` edges included), and resolved against what each of those writers produces:

* a Lambda task: the pydantic output model of its function (``functions``);
* an AWS service task: its ``ResultSelector``, whose own paths are resolved against the API's
  response shape in botocore's service model, or that response shape itself;
* a ``Pass`` state: its ``Parameters``;
* a ``Catch``: ``{Error, Cause}``;
* the execution input: the machine's input model.

A path that some incoming edge leaves unwritten is a finding too, unless a ``Choice`` reads it
under ``IsPresent``. Lambda tasks' ``Parameters`` must be valid input for their function's model,
and every outcome must be a valid notification input.
"""

from __future__ import annotations

import re
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Union

import botocore.session
from pydantic import BaseModel

from statemachines.builder import functions

Path = tuple[str, ...]
# A writer of a path: the state that wrote it and how ("result", "catch"), or the execution input.
Writer = tuple[str, str]
INPUT: Writer = ("$", "input")
UNSET: Writer = ("", "unset")

_PATH_IN_TEXT = re.compile(r"(?<![$\w])\$((?:\.[A-Za-z0-9_]+|\[\d+\])+)")
_TOKEN = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+|\*)\]")
_SERVICE_NAMES = {"applicationautoscaling": "application-autoscaling"}
_COMPARATOR_PATHS = re.compile(r"^(String|Numeric|Boolean|Timestamp)\w*Path$")


def tokens(path: str) -> Path:
    """``$.a.b[0]`` → ``("a", "b", "[0]")``."""
    found = []
    for name, index in _TOKEN.findall(path[1:]):
        found.append(name if name else f"[{index}]")
    return tuple(found)


# ---------------------------------------------------------------------------------- shapes


class Shape(ABC):
    """What a writer produces, enough to tell whether a path into it exists."""

    @abstractmethod
    def child(self, token: str) -> Shape | None: ...


class AnyShape(Shape):
    def child(self, token: str) -> Shape | None:
        return self


class ScalarShape(Shape):
    def child(self, token: str) -> Shape | None:
        return None


@dataclass(frozen=True)
class LiteralShape(ScalarShape):
    """A field that holds one of a few strings: a Choice comparing it with another is a typo."""

    values: frozenset[str]


@dataclass(frozen=True)
class DocumentShape(Shape):
    members: dict[str, Shape]

    def child(self, token: str) -> Shape | None:
        return self.members.get(token)


@dataclass(frozen=True)
class ListShape(Shape):
    element: Shape

    def child(self, token: str) -> Shape | None:
        return self.element if token.startswith("[") else None


@dataclass(frozen=True)
class ModelShape(Shape):
    model: type[BaseModel]

    def child(self, token: str) -> Shape | None:
        for name, field in self.model.model_fields.items():
            if token in (name, field.alias):
                return annotation_shape(field.annotation)
        return None


@dataclass(frozen=True)
class BotocoreShape(Shape):
    shape: Any

    def child(self, token: str) -> Shape | None:
        kind = self.shape.type_name
        if kind == "structure":
            member = self.shape.members.get(token)
            return BotocoreShape(member) if member is not None else None
        if kind == "list":
            return BotocoreShape(self.shape.member) if token.startswith("[") else None
        if kind == "map":
            return None if token.startswith("[") else BotocoreShape(self.shape.value)
        return None


def annotation_shape(annotation: Any) -> Shape:
    """The shape of a pydantic field's type: models, lists and dicts are followed, the rest is scalar."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [option for option in typing.get_args(annotation) if option is not type(None)]
        return annotation_shape(options[0]) if len(options) == 1 else AnyShape()
    if origin is typing.Literal:
        return LiteralShape(frozenset(str(value) for value in typing.get_args(annotation)))
    if origin in (list, tuple):
        (element, *_) = typing.get_args(annotation) or (Any,)
        return ListShape(annotation_shape(element))
    if origin is dict or annotation is dict or annotation is Any:
        return AnyShape()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ModelShape(annotation)
    return ScalarShape()


@cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(_SERVICE_NAMES.get(service, service))


def operation_output(integration: str) -> Any:
    """The botocore output shape of ``sagemaker:createModel`` or ``aws-sdk:sagemaker:describeEndpoint``."""
    parts = integration.removeprefix("aws-sdk:").split(":")
    service, action = parts[0], parts[1]
    if action.endswith((".sync", ".sync:2")):
        # A .sync task's result is the job's final description, not the create call's answer.
        action = "describe" + action.split(".")[0].removeprefix("create")
    model = _service_model(service)
    return model.operation_model(action[0].upper() + action[1:]).output_shape


def integration_of(resource: str) -> str | None:
    return resource.split("states:::", 1)[1] if "states:::" in resource else None


def document_shape(document: dict[str, Any]) -> DocumentShape:
    """A Pass state's Parameters or a ResultSelector: literal members are scalars, paths anything."""
    members: dict[str, Shape] = {}
    for key, value in document.items():
        name = key.removesuffix(".$")
        if isinstance(value, dict):
            members[name] = document_shape(value)
        elif isinstance(value, list) and not key.endswith(".$"):
            members[name] = ListShape(AnyShape())
        elif key.endswith(".$"):
            members[name] = AnyShape()
        else:
            members[name] = ScalarShape()
    return DocumentShape(members)


def resolve(shape: Shape | None, rest: Path) -> Shape | None:
    for token in rest:
        if shape is None:
            return None
        shape = shape.child(token)
    return shape


# ---------------------------------------------------------------------------------- the graph


@dataclass(frozen=True)
class Edge:
    target: str
    writes: Path | None
    writer: Writer
    # A Choice rule ``{"Variable": P, "IsPresent": true}``: along its edge, P is written.
    present: Path | None = None


def _result_path(state: dict[str, Any]) -> Path | None:
    if state["Type"] not in ("Task", "Pass", "Parallel", "Map"):
        return None
    path = state.get("ResultPath", "$")
    if path is None:
        return None
    return tokens(path)


def edges(name: str, state: dict[str, Any]) -> Iterator[Edge]:
    written = _result_path(state)
    if state.get("Next"):
        yield Edge(state["Next"], written, (name, "result"))
    for rule in state.get("Choices", []):
        present = tokens(rule["Variable"]) if rule.get("IsPresent") is True and "Variable" in rule else None
        yield Edge(rule["Next"], None, (name, "result"), present)
    if state.get("Default"):
        yield Edge(state["Default"], None, (name, "result"))
    for catcher in state.get("Catch", []):
        result_path = catcher.get("ResultPath", "$")
        yield Edge(catcher["Next"], tokens(result_path) if result_path else None, (name, "catch"))


Env = dict[Path, frozenset[Writer]]


def _write(env: Env, path: Path | None, writer: Writer) -> Env:
    if path is None:
        return env
    if path == ():
        raise ValueError(f"{writer[0]} replaces the whole state; the contracts cannot follow it")
    kept = {key: writers for key, writers in env.items() if key[: len(path)] != path}
    kept[path] = frozenset({writer})
    return kept


def _narrow(env: Env, present: Path) -> Env | None:
    """Past an IsPresent rule its path was written by someone: drop UNSET, or None where nobody can have.

    The path itself may not be tracked (a writer wrote an object above it): then the deepest tracked
    path above it stands for it.
    """
    tracked = [present[:length] for length in range(len(present), 0, -1) if present[:length] in env]
    if not tracked or env[tracked[0]] == frozenset({UNSET}):
        return None  # no path so far writes it: this edge is not taken along them
    narrowed = dict(env)
    for key in tracked:
        narrowed[key] = narrowed[key] - {UNSET} or narrowed[key]
    return narrowed


def _merge(left: Env, right: Env) -> Env:
    merged: Env = {}
    for key in left.keys() | right.keys():
        merged[key] = left.get(key, frozenset({UNSET})) | right.get(key, frozenset({UNSET}))
    return merged


def reaching_writers(definition: dict[str, Any], input_model: type[BaseModel]) -> dict[str, Env]:
    """For each state, who may have last written each path of its input (a fixed point)."""
    states = definition["States"]
    start: Env = {(field.alias or name,): frozenset({INPUT}) for name, field in input_model.model_fields.items()}
    incoming: dict[str, Env] = {definition["StartAt"]: start}
    work = [definition["StartAt"]]
    while work:
        name = work.pop()
        env = incoming[name]
        for edge in edges(name, states[name]):
            out: Env | None = _write(env, edge.writes, edge.writer)
            if edge.present is not None and out is not None:
                out = _narrow(out, edge.present)
            if out is None:
                continue
            before = incoming.get(edge.target)
            after = out if before is None else _merge(before, out)
            if after != before:
                incoming[edge.target] = after
                work.append(edge.target)
    return incoming


# ---------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Read:
    path: str
    where: str
    # Read by a Choice under IsPresent: a missing value is expected, not an error.
    guarded: bool = False
    # The string a Choice compares the value with (StringEquals), if any.
    compared_with: str | None = None


def _paths_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.startswith("$$"):
            return
        for match in _PATH_IN_TEXT.finditer(value):
            yield "$" + match.group(1)


def _document_reads(document: Any, where: str) -> Iterator[Read]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key.endswith(".$"):
                for path in _paths_in(value):
                    yield Read(path, f"{where}.{key}")
            else:
                yield from _document_reads(value, f"{where}.{key}")
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _document_reads(item, f"{where}[{index}]")


def _rule_reads(rule: dict[str, Any], where: str) -> Iterator[Read]:
    for nested in ("And", "Or"):
        for index, inner in enumerate(rule.get(nested, [])):
            yield from _rule_reads(inner, f"{where}.{nested}[{index}]")
    if "Not" in rule:
        yield from _rule_reads(rule["Not"], f"{where}.Not")
    if "Variable" in rule:
        yield Read(
            rule["Variable"], f"{where}.Variable", guarded="IsPresent" in rule, compared_with=rule.get("StringEquals")
        )
    for key, value in rule.items():
        if _COMPARATOR_PATHS.match(key):
            yield Read(value, f"{where}.{key}")


def reads(state: dict[str, Any]) -> Iterator[Read]:
    """Every path into the state's input that the state reads (not ResultSelector: that reads the result)."""
    if state.get("InputPath"):
        yield Read(state["InputPath"], "InputPath")
    if "Parameters" in state:
        yield from _document_reads(state["Parameters"], "Parameters")
    if "SecondsPath" in state:
        yield Read(state["SecondsPath"], "SecondsPath")
    for index, rule in enumerate(state.get("Choices", [])):
        yield from _rule_reads(rule, f"Choices[{index}]")


# ---------------------------------------------------------------------------------- writers' shapes


def writer_shape(states: dict[str, Any], writer: Writer, input_model: type[BaseModel], written: Path) -> Shape:
    """What ``writer`` put at ``written``."""
    if writer == INPUT:
        return ModelShape(input_model).child(written[0]) or AnyShape()
    name, how = writer
    state = states[name]
    if how == "catch":
        return DocumentShape({"Error": ScalarShape(), "Cause": ScalarShape()})
    if state["Type"] == "Pass":
        return document_shape(state.get("Parameters", {}))
    if "ResultSelector" in state:
        return document_shape(state["ResultSelector"])
    function = functions.by_resource(state["Resource"])
    if function is not None:
        return ModelShape(function.output_model)
    integration = integration_of(state["Resource"])
    if integration is None:
        return AnyShape()
    if integration == "dynamodb:getItem" and state["Parameters"].get("TableName") == "${HistoryTableName}":
        return _history_item_shape()
    return BotocoreShape(operation_output(integration))


def _history_item_shape() -> Shape:
    """GetItem on the history table answers a deployment record (the ``current`` pointer) in typed JSON."""
    from conveyor_core.release import history

    attributes = history.attribute_types(history.DeploymentRecord)
    item = DocumentShape({name: DocumentShape({letter: ScalarShape()}) for name, letter in attributes.items()})
    return DocumentShape({"Item": item})


def path_findings(definition: dict[str, Any], input_model: type[BaseModel]) -> list[str]:
    """Paths a state reads that a writer reaching it does not provide, or that may be unwritten."""
    states = definition["States"]
    incoming = reaching_writers(definition, input_model)
    findings: list[str] = []
    for name, state in states.items():
        env = incoming.get(name, {})
        for read in reads(state):
            path = tokens(read.path)
            prefixes = [path[:length] for length in range(len(path), 0, -1) if path[:length] in env]
            if not prefixes:
                findings.append(f"{name} {read.where} reads {read.path}, which no state before it writes")
                continue
            written = prefixes[0]
            for writer in sorted(env[written]):
                if writer == UNSET:
                    if not read.guarded:
                        findings.append(f"{name} {read.where} reads {read.path}, which some path leaves unwritten")
                    continue
                shape = resolve(writer_shape(states, writer, input_model, written), path[len(written) :])
                if shape is None:
                    findings.append(
                        f"{name} {read.where} reads {read.path}, which {writer[0]} ({writer[1]}) does not provide"
                    )
                elif (
                    isinstance(shape, LiteralShape)
                    and read.compared_with is not None
                    and read.compared_with not in shape.values
                ):
                    findings.append(
                        f"{name} {read.where} compares {read.path} with {read.compared_with!r}, which "
                        f"{writer[0]} never writes there (only {sorted(shape.values)})"
                    )
    return findings


def _optional_member(shape: Any, rest: Path) -> str | None:
    """The first member on the way down ``rest`` that the API may leave out of its answer, if any.

    Lists and maps count as present: the SDKs behind Step Functions answer an empty one.
    """
    for token in rest:
        if shape is None or token.startswith("["):
            shape = getattr(shape, "member", None)
            continue
        if shape.type_name == "structure":
            member = shape.members.get(token)
            if member is None:
                return None
            if token not in shape.required_members and member.type_name not in ("list", "map"):
                return token
            shape = member
        elif shape.type_name == "map":
            shape = shape.value
        else:
            return None
    return None


def selector_findings(definition: dict[str, Any]) -> list[str]:
    """ResultSelector paths the API's response lacks, or may leave out (States.Runtime, which no Catch handles)."""
    findings: list[str] = []
    for name, state in definition["States"].items():
        integration = integration_of(state.get("Resource", ""))
        if "ResultSelector" not in state or integration is None:
            continue
        output_shape = operation_output(integration)
        for read in _document_reads(state["ResultSelector"], "ResultSelector"):
            path = tokens(read.path)
            rest = tuple(token for token in path if token != "[*]")
            if resolve(BotocoreShape(output_shape), rest) is None:
                findings.append(f"{name} {read.where} reads {read.path}, which the {integration} response lacks")
            elif (member := _optional_member(output_shape, path)) is not None:
                findings.append(
                    f"{name} {read.where} reads {read.path}, but {member} is optional in the {integration} response"
                )
    return findings


def lambda_input_findings(definition: dict[str, Any]) -> list[str]:
    """Lambda task Parameters that their function's input model would refuse (unknown or missing fields)."""
    findings: list[str] = []
    for name, state in definition["States"].items():
        function = functions.by_resource(state.get("Resource", ""))
        if function is None or "Parameters" not in state:
            continue
        findings.extend(
            f"{name}: {problem}" for problem in document_findings(state["Parameters"], function.input_model)
        )
    return findings


def document_findings(document: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """Fields a document gives that ``model`` does not declare, and required fields it leaves out."""
    given = {key.removesuffix(".$") for key in document}
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    problems = [f"{key} is not a field of {model.__name__}" for key in sorted(given - known)]
    problems += [f"required field {key} of {model.__name__} is missing" for key in sorted(required - given)]
    return problems


def outcome_findings(definition: dict[str, Any], outcome_path: str = "$.outcome") -> list[str]:
    """Outcomes the formatter would refuse: unknown or missing fields, or an event that is not an EventType."""
    from conveyor_core.shared.contracts import NotificationInput
    from conveyor_core.shared.notifications import EventType

    events = {member.value for member in EventType}
    findings: list[str] = []
    for name, state in definition["States"].items():
        document = state.get("Parameters", {})
        if state["Type"] == "Pass" and state.get("ResultPath") == outcome_path:
            findings.extend(f"{name}: {problem}" for problem in document_findings(document, NotificationInput))
            if "event" not in document:
                findings.append(f"{name}: an outcome without a literal event")
        # Wherever an event is named (an outcome, or a notification formatted on the way), it is an EventType.
        if isinstance(document, dict) and "event" in document and document["event"] not in events:
            findings.append(f"{name}: event {document['event']!r} is not an EventType")
    return findings


def all_findings(definition: dict[str, Any], input_model: type[BaseModel]) -> list[str]:
    return (
        path_findings(definition, input_model)
        + selector_findings(definition)
        + lambda_input_findings(definition)
        + outcome_findings(definition)
    )
