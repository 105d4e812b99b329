"""The offline interpreter parses a state machine's definition once, and its executions share it.

moto's interpreter parsed the ASL before every execution (0.3-0.8 s of pure-Python ANTLR for the
retrain state machine). ``localcloud.stepfunctions`` keeps the parsed program per definition, so
executions, sequential or simultaneous, run one program object: these tests check that each still
keeps its own data, loop counters and retry attempts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from localcloud.cloud import ACCOUNT_ID
from localcloud.moto_patches.stepfunctions import parse_uncached
from localcloud.runtime import Runtime, current
from localcloud.stepfunctions import ParsedDefinitions

REGION = "us-east-1"
TABLE = "counters"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/states"
RETRIES = 2
# Each execution counts to its own target in a loop, through a DynamoDB item of its own, then calls
# a table that does not exist: RETRIES retries (counted per execution, in the interpreter's heap) and
# a Catch. A program that kept any of this between executions would mix up their results.
DEFINITION = json.dumps(
    {
        "StartAt": "Init",
        "States": {
            "Init": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$.id",
                    "target.$": "$.target",
                    "greeting.$": "States.Format('run {}', $.id)",
                    "count": 0,
                },
                "Next": "Count",
            },
            "Count": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": TABLE,
                    "Key": {"id": {"S.$": "$.id"}},
                    "UpdateExpression": "ADD #n :one",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                    "ReturnValues": "UPDATED_NEW",
                },
                "ResultSelector": {"value.$": "States.StringToJson($.Attributes.n.N)"},
                "ResultPath": "$.count",
                "Next": "Done?",
            },
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.count.value", "NumericEqualsPath": "$.target", "Next": "Pause"}],
                "Default": "Count",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Flaky"},
            "Flaky": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                "Parameters": {"TableName": "missing", "Key": {"id": {"S.$": "$.id"}}},
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": RETRIES}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Report"}],
                "End": True,
            },
            "Report": {
                "Type": "Pass",
                "Parameters": {"id.$": "$.id", "greeting.$": "$.greeting", "count.$": "$.count.value"},
                "End": True,
            },
        },
    }
)


@pytest.fixture
def parses() -> list[str]:
    """Every definition moto's parser really parsed (the cache's misses)."""
    return []


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch, parses: list[str]) -> Iterator[Any]:
    with Runtime(time_scale=0.001) as runtime:

        def counted(definition: str) -> tuple[Any, Any]:
            parses.append(definition)
            return parse_uncached(definition)

        # A cache of our own that counts its misses: the tests see the program every execution gets.
        runtime.definitions = ParsedDefinitions(counted)
        for variable, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", REGION),
        ):
            monkeypatch.setenv(variable, value)
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            boto3.client("dynamodb", region_name=REGION).create_table(
                TableName=TABLE,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            )
            yield boto3.client("stepfunctions", region_name=REGION)


def _machine(sfn: Any) -> str:
    return str(sfn.create_state_machine(name="counter", definition=DEFINITION, roleArn=ROLE_ARN)["stateMachineArn"])


def _start(sfn: Any, machine: str, run: str, target: int) -> str:
    document = json.dumps({"id": run, "target": target})
    return str(sfn.start_execution(stateMachineArn=machine, name=run, input=document)["executionArn"])


def _finished(sfn: Any, execution: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.02)
    raise TimeoutError(f"{execution} still running after {timeout}s")


def _check(sfn: Any, execution: str, run: str, target: int) -> None:
    described = _finished(sfn, execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"id": run, "greeting": f"run {run}", "count": target}
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert entered == ["Init", *["Count", "Done?"] * target, "Pause", "Flaky", "Report"]
    attempts = [event for event in events if event["type"] == "TaskFailed"]
    assert len(attempts) == RETRIES + 1


def test_sequential_executions_share_one_parse_and_keep_their_own_state(sfn: Any, parses: list[str]) -> None:
    machine = _machine(sfn)
    for run, target in (("first", 3), ("second", 5)):
        _check(sfn, _start(sfn, machine, run, target), run, target)

    # CreateStateMachine's validation parsed it; neither execution parsed it again.
    assert parses == [DEFINITION]


def test_simultaneous_executions_of_one_program_keep_their_own_state(sfn: Any, parses: list[str]) -> None:
    machine = _machine(sfn)
    runs = {f"run-{index}": 2 + index for index in range(6)}
    started: dict[str, str] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(runs))

    def start(run: str, target: int) -> None:
        barrier.wait()
        execution = _start(sfn, machine, run, target)
        with lock:
            started[run] = execution

    threads = [threading.Thread(target=start, args=item) for item in runs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for run, target in runs.items():
        _check(sfn, started[run], run, target)
    assert parses == [DEFINITION]


def test_a_cold_cache_stops_parsing_once_one_parse_is_kept(sfn: Any, parses: list[str]) -> None:
    machine = _machine(sfn)
    current().definitions.clear()  # as after a restart with the state machine already defined

    executions = {run: _start(sfn, machine, run, 2) for run in ("a", "b", "c")}

    for run, execution in executions.items():
        _check(sfn, execution, run, 2)
    # Executions that start before the first parse is kept may each parse; the later ones never do.
    parsed = len(parses)
    assert 2 <= parsed <= 1 + len(executions)
    _check(sfn, _start(sfn, machine, "d", 2), "d", 2)
    assert len(parses) == parsed


def test_every_component_has_its_heap_key_before_executions_share_it(sfn: Any) -> None:
    # Retry counters live under a component's heap key, which moto otherwise draws on first use.
    program, _ = AmazonStateLanguageParser.parse(DEFINITION)

    components = [program, *program.states.states.values()]
    flaky = program.states.states["Flaky"]
    components += [
        flaky.retry,
        *flaky.retry.retriers,
        flaky.retry.retriers[0].max_attempts,
        flaky.retry.retriers[0].backoff_rate,
    ]
    for component in components:
        assert isinstance(component, EvalComponent)
        assert vars(component).get("_EvalComponent__heap_key"), component

    assert AmazonStateLanguageParser.parse(DEFINITION)[0] is program
