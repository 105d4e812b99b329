"""The state machines against the Python on either side of them, and the generated files against the builder.

The ASL is written by ``statemachines/builder`` and committed; these tests fail when the committed
JSON is stale, when a path the ASL reads is not provided by whatever writes it (a Lambda's output
model, an API's response, a Pass state, the execution input), when a Lambda task's parameters or
an outcome would fail validation, and when the names both sides share (events, run endings,
history fields, wait schedules) drift apart. Each check is also shown to fail on a broken copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from conveyor_core.release import history, polling
from conveyor_core.runs import watch
from conveyor_core.shared.notifications import RETRAIN_SUCCEEDS_ON, ROLLBACK_FAILS_ON, EventType, RunError
from statemachines import builder
from statemachines.builder import contracts

MACHINES = {machine.file_name: machine for machine in builder.machines()}
RETRAIN = MACHINES["retrain.asl.json"]
ROLLBACK = MACHINES["rollback.asl.json"]


@pytest.fixture(params=sorted(MACHINES), ids=lambda name: name.removesuffix(".asl.json"))
def machine(request: pytest.FixtureRequest) -> builder.GeneratedMachine:
    return MACHINES[request.param]


def states(machine: builder.GeneratedMachine) -> dict[str, Any]:
    return dict(machine.build()["States"])


# ------------------------------------------------------------------------------ generated files


def test_committed_asl_files_are_what_the_builder_writes() -> None:
    assert builder.stale_files() == [], "run `make asl` and commit statemachines/*.asl.json"


def test_a_change_in_the_builder_makes_the_committed_file_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = builder.GeneratedMachine(
        RETRAIN.file_name, lambda: {**RETRAIN.build(), "Comment": "changed"}, RETRAIN.input_model
    )
    monkeypatch.setattr(builder, "machines", lambda: [changed, ROLLBACK])
    assert builder.stale_files() == [RETRAIN.file_name]


# ------------------------------------------------------------------------------ paths and documents


def test_every_path_a_state_reads_is_provided_by_every_state_that_can_write_it_last(
    machine: builder.GeneratedMachine,
) -> None:
    assert contracts.path_findings(machine.build(), machine.input_model) == []


def test_result_selectors_read_only_members_of_the_api_response(machine: builder.GeneratedMachine) -> None:
    assert contracts.selector_findings(machine.build()) == []


def test_lambda_task_parameters_are_valid_input_for_their_function(machine: builder.GeneratedMachine) -> None:
    assert contracts.lambda_input_findings(machine.build()) == []


def test_every_outcome_is_a_valid_notification_with_an_event_type(machine: builder.GeneratedMachine) -> None:
    assert contracts.outcome_findings(machine.build()) == []


Mutation = Callable[[dict[str, Any]], None]

BROKEN_COPIES: dict[str, tuple[Mutation, str]] = {
    "misspelt field of a lambda's output": (
        lambda s: s["Promote"]["Choices"][0].__setitem__("Variable", "$.gate.promotee"),
        "QualityGate (result) does not provide",
    ),
    "path left unwritten on the fallback path": (
        lambda s: s["CreateModel"]["Parameters"]["PrimaryContainer"].__setitem__("Image.$", "$.compile_outcome.reason"),
        "some path leaves unwritten",
    ),
    "path no state writes": (
        lambda s: s["Train"]["Parameters"].__setitem__("HyperParameters.$", "$.hyperparameters"),
        "which no state before it writes",
    ),
    "history attribute the record does not have": (
        lambda s: s["HasProductionModel"]["Choices"][0].__setitem__("Variable", "$.production.Item.dataset_hash.S"),
        "ReadProductionModel (result) does not provide",
    ),
    "history attribute read as the wrong type": (
        lambda s: s["DatasetUnchanged"]["Choices"][0].__setitem__("Variable", "$.production.Item.dataset_sha256.N"),
        "ReadProductionModel (result) does not provide",
    ),
    "member the api response lacks": (
        lambda s: s["DescribeShiftEndpoint"]["ResultSelector"].__setitem__("EndpointStatus.$", "$.Status"),
        "response lacks",
    ),
    "member the api response may leave out, read by a selector": (
        lambda s: s["DescribeShiftEndpoint"]["ResultSelector"].__setitem__("Config.$", "$.EndpointConfigName"),
        "EndpointConfigName is optional in the aws-sdk:sagemaker:describeEndpoint response",
    ),
    "comparison with a value the writer never writes": (
        lambda s: s["DatasetAccepted"]["Choices"][0].__setitem__("StringEquals", "accepted"),
        "never writes there",
    ),
    "lambda parameter its model does not declare": (
        lambda s: s["QualityGate"]["Parameters"].__setitem__("job.$", "$.training.TrainingJobName"),
        "job is not a field of GateInput",
    ),
    "lambda parameter its model requires": (
        lambda s: s["QualityGate"]["Parameters"].pop("run_id.$"),
        "required field run_id of GateInput is missing",
    ),
    "outcome event that is not an EventType": (
        lambda s: s["SucceededOutcome"]["Parameters"].__setitem__("event", "pipeline.succeded"),
        "is not an EventType",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_COPIES))
def test_the_contract_checks_find_a_broken_copy(case: str) -> None:
    mutate, expected = BROKEN_COPIES[case]
    definition = copy.deepcopy(RETRAIN.build())
    assert contracts.all_findings(definition, RETRAIN.input_model) == []
    mutate(definition["States"])
    findings = contracts.all_findings(definition, RETRAIN.input_model)
    assert any(expected in finding for finding in findings), findings


# ------------------------------------------------------------------------------ names shared with Python


def _listed_events(rule: dict[str, Any]) -> set[str]:
    comparisons = rule.get("Or", [rule])
    assert {inner["Variable"] for inner in comparisons} == {"$.outcome.event"}
    return {inner["StringEquals"] for inner in comparisons}


@pytest.mark.parametrize(
    ("machine_name", "ending", "listed", "when_listed"),
    [
        ("retrain.asl.json", "EndRun", RETRAIN_SUCCEEDS_ON, "RunSucceeded"),
        ("rollback.asl.json", "EndRollback", ROLLBACK_FAILS_ON, "RollbackFailed"),
    ],
)
def test_a_run_ends_as_the_python_ending_sets_say(
    machine_name: str, ending: str, listed: frozenset[EventType], when_listed: str
) -> None:
    choice = states(MACHINES[machine_name])[ending]
    (rule,) = choice["Choices"]
    assert _listed_events(rule) == {event.value for event in listed}
    assert rule["Next"] == when_listed


def test_fail_states_use_run_errors_and_the_watch_treats_only_reported_ones_as_notified() -> None:
    fails = {
        name: state["Error"]
        for machine in MACHINES.values()
        for name, state in states(machine).items()
        if state["Type"] == "Fail"
    }
    assert set(fails.values()) == {error.value for error in RunError}
    # The run's own Fail states come after its outcome was published; NotificationFailed does not.
    assert {fails["RunFailed"], fails["RollbackFailed"]} == watch.NOTIFIED_ERRORS
    assert fails["NotificationFailed"] not in watch.NOTIFIED_ERRORS


def test_fixed_waits_come_from_the_polling_schedule() -> None:
    expected = {
        "WaitForTrainingJob": polling.TRAINING_POLL_SECONDS,
        "WaitForProcessingJob": polling.PROCESSING_POLL_SECONDS,
        "WaitForEndpointDeletion": polling.DELETE_POLL_SECONDS,
        "WaitForShiftStep": polling.SHIFT_POLL_SECONDS,
        "WaitBeforeRemovingCandidate": polling.ABORT_SETTLE_SECONDS,
        "WaitForRestore": polling.RESTORE_POLL_SECONDS,
        "WaitBeforeKeepingProduction": polling.ABORT_SETTLE_SECONDS,
        "WaitForProductionConfig": polling.SHIFT_POLL_SECONDS,
    }
    fixed = {
        name: state["Seconds"]
        for machine in MACHINES.values()
        for name, state in states(machine).items()
        if state["Type"] == "Wait" and "Seconds" in state
    }
    assert fixed == expected


def test_compilation_polls_follow_the_compile_schedule() -> None:
    retrain = states(RETRAIN)
    selector = retrain["CompileModel"]["ResultSelector"]
    assert selector["waits"] == list(polling.COMPILE_WAITS)
    assert selector["wait"] == polling.COMPILE_WAITS[0]
    assert retrain["CompileModel"]["Parameters"]["StoppingCondition"] == {
        "MaxRuntimeInSeconds": polling.COMPILE_MAX_RUNTIME_SECONDS
    }
    # The last poll lands past the job's own time limit, so it always sees a final status.
    assert sum(polling.COMPILE_WAITS) > polling.COMPILE_MAX_RUNTIME_SECONDS
    (last_attempt,) = [
        rule["NumericGreaterThanEquals"]
        for rule in retrain["CompilationDone"]["Choices"]
        if rule.get("Variable") == "$.compile.attempt"
    ]
    assert last_attempt == len(polling.COMPILE_WAITS) - 1


def test_variant_shift_and_restore_polls_are_bounded_by_the_schedule() -> None:
    def bound(machine: builder.GeneratedMachine, choice: str, counter: str) -> int:
        (limit,) = [
            rule["NumericGreaterThanEquals"]
            for rule in states(machine)[choice]["Choices"]
            if rule.get("Variable") == counter
        ]
        return int(limit)

    assert bound(RETRAIN, "ShiftStepApplied", "$.shift.attempt") == polling.SHIFT_MAX_POLLS
    assert bound(RETRAIN, "EndpointDeleted", "$.deletion.attempt") == polling.DELETE_MAX_POLLS
    assert bound(RETRAIN, "TrainingJobDone", "$.adoption.attempt") == polling.TRAINING_MAX_POLLS
    assert bound(RETRAIN, "ProcessingJobDone", "$.adoption.attempt") == polling.PROCESSING_MAX_POLLS
    assert bound(ROLLBACK, "RestoreSettled", "$.restore.attempt") == polling.RESTORE_MAX_POLLS


# ------------------------------------------------------------------------------ history items
# Each record state writes exactly its record's fields, types and keys: tests/unit/test_history.py.


def test_the_pointer_to_production_is_the_deployment_re_keyed_as_current() -> None:
    written, pointer = (
        put["Put"]["Item"] for put in states(RETRAIN)["RecordDeployment"]["Parameters"]["TransactItems"]
    )
    assert pointer["sk"] == {"S": history.CURRENT_SORT_KEY}
    assert {k: v for k, v in pointer.items() if k != "sk"} == {k: v for k, v in written.items() if k != "sk"}
