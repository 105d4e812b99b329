"""contracts.py narrows on ``IsPresent``: along a Choice rule ``{"Variable": P, "IsPresent": true}``, P is written.

Small synthetic state machines: ``$.x`` is written on one branch only, the branches join, and a
Choice guards the read of ``$.x.y`` (or does not). The findings are the texts ``path_findings``
reports for the committed machines, so a change in narrowing shows here before it hides a real
``States.Runtime`` there.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from statemachines.builder import contracts

WRITE_X: contracts.Writer = ("WriteX", "result")


class Input(BaseModel):
    flag: bool


def unwritten(state: str, path: str = "$.x.y", where: str = "Parameters.v.$") -> str:
    return f"{state} {where} reads {path}, which some path leaves unwritten"


def machine(check: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``$.x`` written only when ``$.flag``; both branches join, then ``check`` (a Choice) decides."""
    return {
        "StartAt": "Branch",
        "States": {
            "Branch": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.flag", "BooleanEquals": True, "Next": "WriteX"}],
                "Default": "Skip",
            },
            "WriteX": {"Type": "Pass", "Parameters": {"y": 1}, "ResultPath": "$.x", "Next": "Join"},
            "Skip": {"Type": "Pass", "Parameters": {"why": "no flag"}, "ResultPath": "$.note", "Next": "Join"},
            "Join": {"Type": "Pass", "ResultPath": None, "Next": "Check"},
            "Check": {"Type": "Choice", **check},
            "UseX": {"Type": "Pass", "Parameters": {"v.$": "$.x.y"}, "ResultPath": "$.v", "Next": "Later"},
            # The narrowing holds past the state right after the Choice.
            "Later": {"Type": "Pass", "Parameters": {"again.$": "$.x.y"}, "ResultPath": "$.again", "Next": "Done"},
            "Done": {"Type": "Succeed"},
            **(extra or {}),
        },
    }


def present(path: str, target: str) -> dict[str, Any]:
    return {"Variable": path, "IsPresent": True, "Next": target}


GUARDED = machine({"Choices": [present("$.x", "UseX")], "Default": "Done"})


def test_the_join_may_leave_x_unwritten() -> None:
    incoming = contracts.reaching_writers(GUARDED, Input)
    assert incoming["Join"][("x",)] == frozenset({WRITE_X, contracts.UNSET})
    assert incoming["Join"][("note",)] == frozenset({("Skip", "result"), contracts.UNSET})
    assert incoming["Check"][("x",)] == frozenset({WRITE_X, contracts.UNSET})
    assert incoming["Join"][("flag",)] == frozenset({contracts.INPUT})


def test_a_read_behind_is_present_is_written_along_the_guarded_edge() -> None:
    incoming = contracts.reaching_writers(GUARDED, Input)
    assert incoming["UseX"][("x",)] == frozenset({WRITE_X})
    assert incoming["Later"][("x",)] == frozenset({WRITE_X})
    # Only the guarded path is narrowed: the rest of the state is as the join left it.
    assert incoming["UseX"][("note",)] == frozenset({("Skip", "result"), contracts.UNSET})
    assert contracts.path_findings(GUARDED, Input) == []


def test_the_guarded_edge_is_what_narrows_not_the_choice_itself() -> None:
    [edge_to_use, default] = list(contracts.edges("Check", GUARDED["States"]["Check"]))
    assert (edge_to_use.target, edge_to_use.writes, edge_to_use.present) == ("UseX", None, ("x",))
    assert (default.target, default.present) == ("Done", None)


def test_the_same_read_through_the_default_is_a_finding() -> None:
    definition = machine(
        {"Choices": [present("$.x", "UseX")], "Default": "ReadAnyway"},
        {"ReadAnyway": {"Type": "Pass", "Parameters": {"v.$": "$.x.y"}, "ResultPath": "$.v", "Next": "Done"}},
    )
    assert contracts.path_findings(definition, Input) == [unwritten("ReadAnyway")]
    incoming = contracts.reaching_writers(definition, Input)
    assert incoming["ReadAnyway"][("x",)] == frozenset({WRITE_X, contracts.UNSET})


def test_without_the_is_present_rule_every_read_of_x_is_a_finding() -> None:
    definition = machine(
        {"Choices": [{"Variable": "$.flag", "BooleanEquals": True, "Next": "UseX"}], "Default": "Done"}
    )
    assert contracts.path_findings(definition, Input) == [
        unwritten("UseX"),
        unwritten("Later", where="Parameters.again.$"),
    ]


def test_a_default_that_joins_the_guarded_target_undoes_the_narrowing() -> None:
    definition = machine({"Choices": [present("$.x", "UseX")], "Default": "UseX"})
    assert contracts.reaching_writers(definition, Input)["UseX"][("x",)] == frozenset({WRITE_X, contracts.UNSET})
    assert unwritten("UseX") in contracts.path_findings(definition, Input)


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.x", "IsPresent": False, "Next": "UseX"},
        {"Variable": "$.x", "IsNull": False, "Next": "UseX"},
        {"Variable": "$.flag", "IsPresent": True, "Next": "UseX"},
    ],
    ids=["is-present-false", "is-null", "another-path"],
)
def test_only_is_present_true_on_the_path_itself_narrows(rule: dict[str, Any]) -> None:
    definition = machine({"Choices": [rule], "Default": "Done"})
    assert unwritten("UseX") in contracts.path_findings(definition, Input)


def test_a_comparison_in_the_same_choice_is_not_guarded_by_an_earlier_is_present_rule() -> None:
    # Step Functions evaluates the second rule exactly when $.x is missing: States.Runtime.
    definition = machine(
        {
            "Choices": [present("$.x", "UseX"), {"Variable": "$.x.y", "NumericEquals": 1, "Next": "Done"}],
            "Default": "Done",
        }
    )
    assert contracts.path_findings(definition, Input) == [
        unwritten("Check", where="Choices[1].Variable"),
    ]


def test_is_present_on_a_path_below_what_was_written_narrows_the_written_object() -> None:
    definition = machine({"Choices": [present("$.x.y", "UseX")], "Default": "Done"})
    assert contracts.reaching_writers(definition, Input)["UseX"][("x",)] == frozenset({WRITE_X})
    assert contracts.path_findings(definition, Input) == []


def test_narrowing_says_the_path_is_written_not_that_the_writer_provides_what_is_read() -> None:
    definition = machine({"Choices": [present("$.x", "UseX")], "Default": "Done"})
    definition["States"]["UseX"]["Parameters"] = {"v.$": "$.x.z"}
    assert contracts.path_findings(definition, Input) == [
        "UseX Parameters.v.$ reads $.x.z, which WriteX (result) does not provide",
    ]


GUARD_NEVER_WRITTEN = "Check Choices[0].Variable reads $.never, which no state before it writes"


def never_written(default: str) -> dict[str, Any]:
    """An IsPresent on ``$.never``, which no path before the Choice writes."""
    definition = machine({"Choices": [present("$.never", "Target")], "Default": default})
    for unreachable in ("UseX", "Later"):
        del definition["States"][unreachable]
    definition["States"].update(
        {
            "WriteNever": {"Type": "Pass", "Parameters": {"y": 2}, "ResultPath": "$.never", "Next": "Target"},
            "Target": {"Type": "Pass", "Parameters": {"v.$": "$.never.y"}, "ResultPath": "$.v", "Next": "Done"},
        }
    )
    return definition


def test_is_present_on_a_path_no_branch_writes_is_an_edge_never_taken() -> None:
    # Target is also reached through WriteNever: only that edge's writer reaches it.
    definition = never_written(default="WriteNever")
    incoming = contracts.reaching_writers(definition, Input)
    assert incoming["Target"][("never",)] == frozenset({("WriteNever", "result")})
    # The guard itself reads a path nobody wrote before it (it can never hold): that is reported,
    # but the guarded edge adds no "unwritten" to Target.
    assert contracts.path_findings(definition, Input) == [GUARD_NEVER_WRITTEN]


def test_a_state_reached_only_through_an_edge_never_taken_gets_no_writers_from_it() -> None:
    definition = never_written(default="Done")
    incoming = contracts.reaching_writers(definition, Input)
    assert "Target" not in incoming
    findings = contracts.path_findings(definition, Input)
    assert unwritten("Target", path="$.never.y") not in findings
    assert findings == [GUARD_NEVER_WRITTEN, "Target Parameters.v.$ reads $.never.y, which no state before it writes"]


def test_the_analysis_does_not_change_the_definition() -> None:
    definition = copy.deepcopy(GUARDED)
    contracts.path_findings(definition, Input)
    assert definition == GUARDED
