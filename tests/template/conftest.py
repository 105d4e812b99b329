"""Shared loading and analysis for the static tests of template.yaml and the state machines it deploys.

Nothing here talks to AWS. The template is parsed with CloudFormation's short-form tags, intrinsic
functions are evaluated against parameter defaults and plausible pseudo parameters and physical
ids, and every ``AWS::Serverless::StateMachine`` ASL file is loaded with its
``DefinitionSubstitutions`` applied.

Test modules cannot import this file (``conftest`` is not a unique module name once other test
folders have one), so everything reaches them through fixtures. Parametrization happens here in
``pytest_generate_tests``, keyed by fixture name, so each failure names the function, state,
bucket, statement or parameter at fault. A template or ASL that cannot be loaded must not break
collection for the rest of the suite: the affected tests get a single ``unloadable`` case that
fails with the real error.
"""

from __future__ import annotations

import functools
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from localcloud.template import load_template, merge_globals

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_STATE_MACHINE = "AWS::Serverless::StateMachine"

# A ${Name} placeholder as CloudFormation substitutes it in a DefinitionUri file.
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "conveyor-test",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/conveyor-test/0000",
}


class _NoValue:
    """``AWS::NoValue``: removes the list element or property it is resolved in."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --------------------------------------------------------------------------------------- parsing


def parse_template(text: str) -> dict[str, Any]:
    document = load_template(text)
    if not isinstance(document, dict):
        raise TypeError("template.yaml is not a mapping")
    return document


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in TemplateResolver.FUNCTIONS


# ------------------------------------------------------------------------------------ resolving


class TemplateResolver:
    """Evaluates intrinsic functions the way CloudFormation would for one set of parameter values.

    Parameters take their Default unless overridden; pseudo parameters come from
    ``PSEUDO_PARAMETERS``; ``Ref``/``GetAtt`` of a resource give a physical id or ARN shaped like
    the real one for that resource type.
    """

    FUNCTIONS = frozenset(
        {
            "Ref",
            "Condition",
            "Fn::GetAtt",
            "Fn::Sub",
            "Fn::Join",
            "Fn::If",
            "Fn::Equals",
            "Fn::Not",
            "Fn::And",
            "Fn::Or",
            "Fn::FindInMap",
            "Fn::Select",
            "Fn::Split",
            "Fn::Base64",
        }
    )

    def __init__(self, template: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.parameter_specs: dict[str, Any] = template.get("Parameters", {})
        self.parameters = {name: spec.get("Default") for name, spec in self.parameter_specs.items()}
        self.parameters.update(overrides or {})
        self.region = PSEUDO_PARAMETERS["AWS::Region"]
        self.account = PSEUDO_PARAMETERS["AWS::AccountId"]
        self.partition = PSEUDO_PARAMETERS["AWS::Partition"]

    # -- public

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = (self.resolve(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if isinstance(value, dict):
            if _is_intrinsic(value):
                ((function, argument),) = value.items()
                return self._call(function, argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        return value

    def resolve_string(self, value: Any) -> str:
        """What CloudFormation hands over where only a string fits (environment variables, substitutions)."""
        return to_cfn_string(self.resolve(value))

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    # -- intrinsic functions

    def _call(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self._ref(argument)
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(to_cfn_string(item) for item in self.resolve_list(items))
        if function == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        if function == "Fn::Equals":
            left, right = (to_cfn_string(self.resolve(side)) for side in argument)
            return left == right
        if function == "Fn::Not":
            return not self.resolve(argument[0])
        if function == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if function == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if function == "Fn::FindInMap":
            mapping, top, second = (self.resolve(item) for item in argument)
            return self.template["Mappings"][mapping][top][second]
        if function == "Fn::Select":
            index, items = argument
            return self.resolve_list(items)[int(self.resolve(index))]
        if function == "Fn::Split":
            delimiter, text = argument
            return to_cfn_string(self.resolve(text)).split(delimiter)
        if function == "Fn::Base64":
            return self.resolve(argument)
        raise ValueError(f"the template uses {function}, which this evaluator does not understand")

    def resolve_list(self, value: Any) -> list[Any]:
        resolved = self.resolve(value)
        if not isinstance(resolved, list):
            raise TypeError(f"expected a list, got {resolved!r}")
        return resolved

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            value = self.parameters[name]
            if value is None:
                raise KeyError(f"parameter {name} has no Default and no override")
            if self.parameter_specs.get(name, {}).get("Type") == "CommaDelimitedList":
                return [item.strip() for item in str(value).split(",")]
            return value
        if name in self.resources:
            return self._physical_ref(name)
        logical_id, _, generated = name.partition(".")
        if generated in ("Alias", "Version") and self.resources.get(logical_id, {}).get("Type") == SERVERLESS_FUNCTION:
            # What SAM's AutoPublishAlias generates: the function's ARN qualified by the alias (or version).
            alias = self.template.get("Globals", {}).get("Function", {}).get("AutoPublishAlias", "live")
            qualifier = alias if generated == "Alias" else "1"
            return f"{self._get_att(logical_id, 'Arn')}:{qualifier}"
        raise KeyError(f"Ref to unknown name {name!r}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return to_cfn_string(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return to_cfn_string(self._get_att(logical_id, attribute))
            return to_cfn_string(self._ref(name))

        return PLACEHOLDER.sub(replace, text)

    # -- plausible physical ids

    def physical_name(self, logical_id: str) -> str:
        return f"conveyor-test-{logical_id.lower()}"

    def _arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> str:
        region = self.region if regional else ""
        owner = self.account if account else ""
        return f"arn:{self.partition}:{service}:{region}:{owner}:{resource}"

    def _physical_ref(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        if resource_type == "AWS::SNS::Topic":
            return self._arn("sns", name)
        if resource_type in (SERVERLESS_STATE_MACHINE, "AWS::StepFunctions::StateMachine"):
            return self._arn("states", f"stateMachine:{name}")
        if resource_type in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return self._arn("lambda", f"layer:{name}:1")
        if resource_type == "AWS::KMS::Key":
            return "1234abcd-12ab-34cd-56ef-1234567890ab"
        return name

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise KeyError(f"GetAtt of unknown resource {logical_id!r}")
        resource_type = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        if attribute != "Arn":
            return f"{name}-{attribute.lower()}"
        arns: dict[str, Callable[[], str]] = {
            SERVERLESS_FUNCTION: lambda: self._arn("lambda", f"function:{name}"),
            "AWS::Lambda::Function": lambda: self._arn("lambda", f"function:{name}"),
            "AWS::S3::Bucket": lambda: self._arn("s3", name, regional=False, account=False),
            "AWS::DynamoDB::Table": lambda: self._arn("dynamodb", f"table/{name}"),
            "AWS::IAM::Role": lambda: self._arn("iam", f"role/{name}", regional=False),
            "AWS::KMS::Key": lambda: self._arn("kms", f"key/{self._physical_ref(logical_id)}"),
            "AWS::Logs::LogGroup": lambda: self._arn("logs", f"log-group:{name}:*"),
            SERVERLESS_STATE_MACHINE: lambda: self._physical_ref(logical_id),
        }
        if resource_type in arns:
            return arns[resource_type]()
        service = resource_type.split("::")[1].lower()
        return self._arn(service, name)


def to_cfn_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(to_cfn_string(item) for item in value)
    if isinstance(value, dict):
        raise TypeError(f"cannot turn a mapping into a string: {value!r}")
    return str(value)


# ------------------------------------------------------------------------------- state machines


@dataclass(frozen=True)
class Scope:
    """One ``States`` block: the top level of an ASL document, a Map's ItemProcessor or a Parallel branch."""

    machine_id: str
    path: tuple[str, ...]
    definition: dict[str, Any]
    enclosing: tuple[dict[str, Any], ...]

    @property
    def key(self) -> str:
        return self.machine_id + "".join(f"/{part}" for part in self.path)

    @property
    def is_top_level(self) -> bool:
        return not self.path

    @property
    def states(self) -> dict[str, Any]:
        return self.definition.get("States", {})

    @property
    def start_at(self) -> str | None:
        return self.definition.get("StartAt")


@dataclass(frozen=True)
class StateView:
    scope: Scope
    name: str

    @property
    def key(self) -> str:
        return f"{self.scope.key}:{self.name}"

    @property
    def definition(self) -> dict[str, Any]:
        return self.scope.states[self.name]

    @property
    def type(self) -> str | None:
        return self.definition.get("Type")

    @property
    def resource(self) -> str:
        return str(self.definition.get("Resource", ""))


def iter_scopes(
    machine_id: str,
    definition: dict[str, Any],
    path: tuple[str, ...] = (),
    enclosing: tuple[dict[str, Any], ...] = (),
) -> Iterator[Scope]:
    yield Scope(machine_id, path, definition, enclosing)
    for name, state in definition.get("States", {}).items():
        if not isinstance(state, dict):
            continue
        for field in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(field), dict):
                yield from iter_scopes(machine_id, state[field], (*path, name, field), (*enclosing, state))
        for index, branch in enumerate(state.get("Branches") or []):
            yield from iter_scopes(machine_id, branch, (*path, name, f"Branches[{index}]"), (*enclosing, state))


def scope_in(definition: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """Follow a Scope.path (state name, then ItemProcessor/Iterator/Branches[i], repeated) into ``definition``."""
    node = definition
    for name, field in zip(path[::2], path[1::2], strict=True):
        state = node["States"][name]
        branch = re.fullmatch(r"Branches\[(\d+)\]", field)
        node = state["Branches"][int(branch.group(1))] if branch else state[field]
    return node


def transitions(state: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (where, target) pair a state can move to: Next, Default, top-level Choice rules, Catch."""
    found: list[tuple[str, Any]] = []
    if "Next" in state:
        found.append(("Next", state["Next"]))
    if "Default" in state:
        found.append(("Default", state["Default"]))
    for index, rule in enumerate(state.get("Choices") or []):
        if isinstance(rule, dict) and "Next" in rule:
            found.append((f"Choices[{index}].Next", rule["Next"]))
    for index, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, dict) and "Next" in catcher:
            found.append((f"Catch[{index}].Next", catcher["Next"]))
    return found


def successors(states: dict[str, Any], name: str) -> set[str]:
    return {target for _, target in transitions(states[name]) if target in states}


def reachable(states: dict[str, Any], start: str | None, blocked: Iterable[str] = ()) -> set[str]:
    """States reachable from ``start`` over every transition, never entering a ``blocked`` state."""
    barrier = set(blocked)
    if start not in states or start in barrier:
        return set()
    seen = {start}
    queue = deque([start])
    while queue:
        for target in successors(states, queue.popleft()):
            if target not in seen and target not in barrier:
                seen.add(target)
                queue.append(target)
    return seen


def is_terminal(state: dict[str, Any]) -> bool:
    return state.get("Type") in ("Succeed", "Fail") or state.get("End") is True


def is_sns_publish(state: dict[str, Any]) -> bool:
    return state.get("Type") == "Task" and str(state.get("Resource", "")).endswith("sns:publish")


@dataclass(frozen=True)
class StateMachineDocument:
    """An ``AWS::Serverless::StateMachine`` with a ``DefinitionUri`` file."""

    machine_id: str
    path: Path
    text: str
    substitutions: dict[str, Any]

    def substitution_values(self, resolver: TemplateResolver) -> dict[str, str]:
        return {key: resolver.resolve_string(value) for key, value in self.substitutions.items()}

    def substituted_text(self, values: dict[str, str]) -> str:
        return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), self.text)

    def definition(self, resolver: TemplateResolver) -> dict[str, Any]:
        document = json.loads(self.substituted_text(self.substitution_values(resolver)))
        if not isinstance(document, dict):
            raise TypeError(f"{self.path} is not a JSON object")
        return document


# ------------------------------------------------------------------------------------ project


@dataclass(frozen=True)
class IamStatement:
    """One policy statement, with where it sits in the template."""

    owner: str
    location: str
    statement: dict[str, Any]
    identity_policy: bool

    @property
    def key(self) -> str:
        return f"{self.owner}:{self.location}"


IDENTITY_POLICY_OWNERS = frozenset(
    {SERVERLESS_FUNCTION, SERVERLESS_STATE_MACHINE, "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
)


def iter_statements(node: Any, location: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict anywhere under ``node`` that looks like a policy statement."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            label = node.get("Sid") or location
            yield str(label), node
            return
        for key, value in node.items():
            yield from iter_statements(value, f"{location}.{key}" if location else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from iter_statements(value, f"{location}[{index}]")


def statement_actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else [str(action) for action in actions]


class Project:
    """template.yaml, its state machines and everything the tests parametrize over."""

    def __init__(self, template_path: Path = TEMPLATE_PATH) -> None:
        self.template_path = template_path
        self.template = parse_template(template_path.read_text())
        self.resources: dict[str, Any] = self.template.get("Resources", {})
        self.parameters: dict[str, Any] = self.template.get("Parameters", {})
        self.function_globals: dict[str, Any] = self.template.get("Globals", {}).get("Function", {})
        self.state_machines = {
            machine_id: StateMachineDocument(
                machine_id=machine_id,
                path=template_path.parent / resource["Properties"]["DefinitionUri"],
                text=(template_path.parent / resource["Properties"]["DefinitionUri"]).read_text(),
                substitutions=resource["Properties"].get("DefinitionSubstitutions") or {},
            )
            for machine_id, resource in self.resources_of_type(SERVERLESS_STATE_MACHINE).items()
            if isinstance(resource.get("Properties", {}).get("DefinitionUri"), str)
        }

    # -- template

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def function_properties(self, function_id: str) -> dict[str, Any]:
        """A function's properties with Globals.Function merged in, as SAM does."""
        properties = self.resources[function_id].get("Properties", {})
        return merge_globals(self.function_globals, properties)

    def resolver(self, overrides: dict[str, Any] | None = None) -> TemplateResolver:
        return TemplateResolver(self.template, overrides)

    def iam_statements(self) -> list[IamStatement]:
        found: list[IamStatement] = []
        for logical_id, resource in self.resources.items():
            identity = resource.get("Type") in IDENTITY_POLICY_OWNERS
            properties = resource.get("Properties", {})
            for location, statement in iter_statements(properties, ""):
                found.append(IamStatement(logical_id, location, statement, identity))
        # Statement ids repeat across resources and, rarely, within one: make every key unique.
        counts: dict[str, int] = {}
        unique: list[IamStatement] = []
        for item in found:
            counts[item.key] = counts.get(item.key, 0) + 1
            location = item.location if counts[item.key] == 1 else f"{item.location}#{counts[item.key]}"
            unique.append(IamStatement(item.owner, location, item.statement, item.identity_policy))
        return unique

    # -- parameter scenarios

    def scenarios(self) -> dict[str, dict[str, Any]]:
        """Parameter sets that change what a state machine is deployed with.

        The defaults, then each other AllowedValue of a parameter (and a custom TrainingImage),
        one at a time, kept only where the DefinitionSubstitutions come out different.
        """
        candidates: dict[str, dict[str, Any]] = {}
        for name, spec in self.parameters.items():
            for value in spec.get("AllowedValues") or []:
                if str(value) != str(spec.get("Default")):
                    candidates[f"{name}={value}"] = {name: value}
        if "TrainingImage" in self.parameters:
            candidates["TrainingImage=custom"] = {
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/custom-xgboost:1"
            }
        scenarios: dict[str, dict[str, Any]] = {"defaults": {}}
        defaults = self.substitution_values({})
        for label, overrides in candidates.items():
            if self.substitution_values(overrides) != defaults:
                scenarios[label] = overrides
        return scenarios

    def substitution_values(self, overrides: dict[str, Any]) -> dict[str, dict[str, str]]:
        resolver = self.resolver(overrides)
        return {
            machine_id: machine.substitution_values(resolver) for machine_id, machine in self.state_machines.items()
        }

    # -- state machines

    @functools.cached_property
    def definitions(self) -> dict[str, dict[str, Any]]:
        resolver = self.resolver()
        return {machine_id: machine.definition(resolver) for machine_id, machine in self.state_machines.items()}

    @functools.cached_property
    def raw_definitions(self) -> dict[str, dict[str, Any]]:
        """The ASL files as written, placeholders intact (they sit inside JSON strings)."""
        return {machine_id: json.loads(machine.text) for machine_id, machine in self.state_machines.items()}

    def raw_state(self, view: StateView) -> dict[str, Any]:
        states: dict[str, Any] = scope_in(self.raw_definitions[view.scope.machine_id], view.scope.path)["States"]
        return states[view.name]

    def state_definition(self, view: StateView, overrides: dict[str, Any]) -> dict[str, Any]:
        """One state as deployed with the given parameter overrides."""
        machine = self.state_machines[view.scope.machine_id]
        states: dict[str, Any] = scope_in(machine.definition(self.resolver(overrides)), view.scope.path)["States"]
        return states[view.name]

    @functools.cached_property
    def scopes(self) -> dict[str, Scope]:
        return {
            scope.key: scope
            for machine_id, definition in self.definitions.items()
            for scope in iter_scopes(machine_id, definition)
        }

    @functools.cached_property
    def states(self) -> dict[str, StateView]:
        views = (StateView(scope, name) for scope in self.scopes.values() for name in scope.states)
        return {view.key: view for view in views}

    def states_where(self, predicate: Callable[[StateView], bool]) -> list[str]:
        return [key for key, view in self.states.items() if predicate(view)]


@functools.cache
def load_project() -> Project:
    return Project()


# ----------------------------------------------------------------------------- parametrization

UNLOADABLE = "unloadable"


# Optimized integrations whose Parameters are exactly the API request botocore models.
MODELED_OPTIMIZED_SERVICES = frozenset({"sagemaker", "dynamodb", "sns"})


def _service_task(view: StateView) -> bool:
    """A Task calling an API botocore models: any aws-sdk integration, or a modeled optimized one."""
    if view.type != "Task":
        return False
    integration = service_integration(view.resource)
    return ":states:::aws-sdk:" in view.resource or (
        integration is not None and integration[0] in MODELED_OPTIMIZED_SERVICES
    )


def service_integration(resource: str) -> tuple[str, str] | None:
    """(service, action) of an optimized integration such as ``sagemaker:createTrainingJob.sync``."""
    match = re.fullmatch(r"arn:[^:]+:states:::(?!aws-sdk:)([a-z0-9-]+):([A-Za-z0-9]+)(?:\.[A-Za-z]+)?", resource)
    return (match.group(1), match.group(2)) if match else None


_PARAMETRIZED: dict[str, Callable[[Project], Iterable[str]]] = {
    "function_id": lambda project: project.resources_of_type(SERVERLESS_FUNCTION),
    "state_machine_id": lambda project: project.state_machines,
    "bucket_id": lambda project: project.resources_of_type("AWS::S3::Bucket"),
    "parameter_name": lambda project: project.parameters,
    "scenario": lambda project: project.scenarios(),
    "asl_scope": lambda project: project.scopes,
    "any_state": lambda project: project.states,
    "task_state": lambda project: project.states_where(lambda view: view.type == "Task"),
    "choice_state": lambda project: project.states_where(lambda view: view.type == "Choice"),
    "terminal_state": lambda project: project.states_where(
        lambda view: view.scope.is_top_level and is_terminal(view.definition)
    ),
    "service_task_state": lambda project: project.states_where(_service_task),
    "iam_statement": lambda project: [item.key for item in project.iam_statements()],
    "identity_statement": lambda project: [item.key for item in project.iam_statements() if item.identity_policy],
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, collect in _PARAMETRIZED.items():
        if name not in metafunc.fixturenames:
            continue
        try:
            keys = list(collect(load_project()))
        except Exception:  # reported by the tests themselves: the fixture re-raises it
            keys = [UNLOADABLE]
        metafunc.parametrize(name, keys, ids=keys, indirect=True)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def project() -> Project:
    return load_project()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def function_id(request: pytest.FixtureRequest, project: Project) -> str:
    assert request.param in project.resources
    return str(request.param)


@pytest.fixture
def state_machine_id(request: pytest.FixtureRequest, project: Project) -> str:
    assert request.param in project.state_machines
    return str(request.param)


@pytest.fixture
def bucket_id(request: pytest.FixtureRequest, project: Project) -> str:
    assert request.param in project.resources
    return str(request.param)


@pytest.fixture
def parameter_name(request: pytest.FixtureRequest, project: Project) -> str:
    assert request.param in project.parameters
    return str(request.param)


@pytest.fixture
def scenario(request: pytest.FixtureRequest, project: Project) -> dict[str, Any]:
    """Parameter overrides for one deployment scenario (empty: all defaults)."""
    return project.scenarios()[request.param]


@pytest.fixture
def asl_scope(request: pytest.FixtureRequest, project: Project) -> Scope:
    return project.scopes[request.param]


def _state_fixture(request: pytest.FixtureRequest, project: Project) -> StateView:
    return project.states[request.param]


any_state = pytest.fixture(_state_fixture, name="any_state")
task_state = pytest.fixture(_state_fixture, name="task_state")
choice_state = pytest.fixture(_state_fixture, name="choice_state")
terminal_state = pytest.fixture(_state_fixture, name="terminal_state")
service_task_state = pytest.fixture(_state_fixture, name="service_task_state")


def _statement_fixture(request: pytest.FixtureRequest, project: Project) -> IamStatement:
    statements = {item.key: item for item in project.iam_statements()}
    return statements[request.param]


iam_statement = pytest.fixture(_statement_fixture, name="iam_statement")
identity_statement = pytest.fixture(_statement_fixture, name="identity_statement")


# Helpers the test modules need, handed over as fixtures (see the module docstring).


@pytest.fixture(scope="session")
def asl_graph() -> SimpleNamespace:
    """Graph helpers over one ``States`` block."""
    return SimpleNamespace(
        transitions=transitions,
        successors=successors,
        reachable=reachable,
        is_terminal=is_terminal,
        is_sns_publish=is_sns_publish,
    )


@pytest.fixture(scope="session")
def placeholder_pattern() -> re.Pattern[str]:
    return PLACEHOLDER


@pytest.fixture(scope="session")
def integration_of() -> Callable[[str], tuple[str, str] | None]:
    return service_integration


@pytest.fixture(scope="session")
def statement_action_list() -> Callable[[dict[str, Any]], list[str]]:
    return statement_actions
