"""The state machines are well-formed graphs once their DefinitionSubstitutions are applied."""

from __future__ import annotations

import json
from typing import Any

import pytest

# Rule fields a Choice rule may carry besides its comparison; only top-level rules have Next.
BOOLEAN_COMBINATORS = ("And", "Or", "Not")
STATES_WITH_NEXT_OR_END = ("Task", "Pass", "Wait", "Map", "Parallel")
KNOWN_TYPES = (*STATES_WITH_NEXT_OR_END, "Choice", "Succeed", "Fail")


def test_asl_is_valid_json_after_substitution(project: Any, state_machine_id: str, scenario: dict[str, Any]) -> None:
    machine = project.state_machines[state_machine_id]
    text = machine.substituted_text(machine.substitution_values(project.resolver(scenario)))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        line = text.splitlines()[error.lineno - 1] if error.lineno <= len(text.splitlines()) else ""
        pytest.fail(f"{machine.path.name} with parameters {scenario or 'defaults'} is not JSON: {error}\n{line}")
    assert isinstance(document, dict)
    assert isinstance(document.get("States"), dict)
    assert document["States"], f"{machine.path.name} has no states"


def test_start_at_names_an_existing_state(asl_scope: Any) -> None:
    assert asl_scope.start_at in asl_scope.states, (
        f"{asl_scope.key}: StartAt {asl_scope.start_at!r} is not one of its states {sorted(asl_scope.states)}"
    )


def test_state_transitions_name_existing_states(any_state: Any, asl_graph: Any) -> None:
    """Next, Default, every top-level Choice rule's Next and every Catch Next."""
    states = any_state.scope.states
    dangling = [
        f"{where} -> {target!r}"
        for where, target in asl_graph.transitions(any_state.definition)
        if target not in states
    ]
    assert not dangling, f"{any_state.key} moves to states that do not exist: {dangling}"


def test_state_is_reachable_from_start_at(any_state: Any, asl_graph: Any) -> None:
    scope = any_state.scope
    assert any_state.name in asl_graph.reachable(scope.states, scope.start_at), (
        f"{any_state.key} cannot be reached from StartAt {scope.start_at!r}"
    )


def test_state_has_a_known_type(any_state: Any) -> None:
    assert any_state.type in KNOWN_TYPES, f"{any_state.key}: unknown Type {any_state.type!r}"


def test_state_has_a_way_forward(any_state: Any) -> None:
    """Task/Pass/Wait/Map/Parallel: exactly one of Next or End; Choice: rules and a Default; Succeed/Fail: neither."""
    state = any_state.definition
    has_next = "Next" in state
    ends = state.get("End") is True
    if any_state.type in STATES_WITH_NEXT_OR_END:
        assert has_next != ends, f"{any_state.key} ({any_state.type}) needs exactly one of Next or End: true"
    elif any_state.type == "Choice":
        assert state.get("Choices"), f"{any_state.key}: a Choice state needs at least one rule"
        assert not has_next, f"{any_state.key}: a Choice state moves on through its rules, not Next"
        assert not ends, f"{any_state.key}: a Choice state cannot End"
    else:
        assert not has_next, f"{any_state.key}: a {any_state.type} state is terminal and cannot have Next"
        assert not ends, f"{any_state.key}: a {any_state.type} state is terminal; End is not allowed"


def test_choice_state_has_a_default(choice_state: Any) -> None:
    """Rules over runtime data are never provably exhaustive, and no match fails the run with States.NoChoiceMatched."""
    assert "Default" in choice_state.definition, (
        f"{choice_state.key}: no Default, so an unmatched input fails the execution with States.NoChoiceMatched"
    )


def test_choice_rule_next_only_on_top_level_rules(choice_state: Any) -> None:
    problems: list[str] = []
    for index, rule in enumerate(choice_state.definition.get("Choices", [])):
        if "Next" not in rule:
            problems.append(f"Choices[{index}] has no Next")
        problems += [f"Choices[{index}]{path} has Next" for path in nested_rules_with_next(rule)]
    assert not problems, f"{choice_state.key}: " + "; ".join(problems)


def nested_rules_with_next(rule: dict[str, Any], path: str = "") -> list[str]:
    found: list[str] = []
    for combinator in BOOLEAN_COMBINATORS:
        if combinator not in rule:
            continue
        children = rule[combinator] if isinstance(rule[combinator], list) else [rule[combinator]]
        for index, child in enumerate(children):
            child_path = f"{path}.{combinator}[{index}]"
            if isinstance(child, dict):
                if "Next" in child:
                    found.append(child_path)
                found += nested_rules_with_next(child, child_path)
    return found


def test_state_can_reach_the_end_of_the_run(any_state: Any, asl_graph: Any) -> None:
    """No loop without an exit: from every state some path leads to End, Succeed or Fail."""
    states = any_state.scope.states
    ahead = asl_graph.reachable(states, any_state.name)
    assert any(asl_graph.is_terminal(states[name]) for name in ahead), (
        f"{any_state.key} can never reach End, Succeed or Fail: {sorted(ahead)}"
    )


def test_state_does_not_use_the_legacy_map_iterator(any_state: Any) -> None:
    assert "Iterator" not in any_state.definition, f"{any_state.key}: Map states must use ItemProcessor, not Iterator"
    if any_state.type == "Map":
        assert "ItemProcessor" in any_state.definition, f"{any_state.key}: a Map state needs an ItemProcessor"
