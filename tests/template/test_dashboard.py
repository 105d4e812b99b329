"""The operations dashboard names only metrics that exist: every outcome, the stack's own resources."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from conveyor_core.shared.notifications import EventType
from conveyor_core.shared.outcome_metrics import OUTCOME_METRIC
from tests.template.conftest import Project

# Not an outcome: a run that falls back goes on to end in one of the others.
_NOT_OUTCOMES = {EventType.COMPILE_FALLBACK}


def dashboard_body(project: Project) -> dict[str, Any]:
    [resource] = project.resources_of_type("AWS::CloudWatch::Dashboard").values()
    template, _variables = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    # The body is JSON once its ${...} references are substituted; any placeholder string will do.
    document: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", template))
    return document


def widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    [found] = [w for w in body["widgets"] if w["properties"].get("title") == title]
    return dict(found)


def test_the_outcome_panel_lists_every_outcome_a_notification_can_carry(project: Project) -> None:
    lines = widget(dashboard_body(project), "Run outcomes")["properties"]["metrics"]
    assert {tuple(line[:2]) for line in lines} == {("Conveyor", OUTCOME_METRIC)}
    outcomes = [dict(zip(line[2::2], line[3::2], strict=False))["Outcome"] for line in lines]
    assert sorted(outcomes) == sorted(e.value for e in EventType if e not in _NOT_OUTCOMES)


def test_every_alarm_of_the_stack_that_guards_an_endpoint_or_the_dead_letters_is_on_the_alarm_panel(
    project: Project,
) -> None:
    [resource] = project.resources_of_type("AWS::CloudWatch::Dashboard").values()
    template = resource["Properties"]["DashboardBody"]["Fn::Sub"][0]
    shown = set(re.findall(r"\$\{(\w+)\.Arn\}", template))
    alarms = {
        name
        for name, alarm in project.resources_of_type("AWS::CloudWatch::Alarm").items()
        if "Condition" not in alarm  # the quality alarm exists only with a threshold set
    }
    assert alarms <= shown, f"alarms missing from the dashboard: {sorted(alarms - shown)}"


@pytest.mark.parametrize("alarm", ["DeadLetterQueueDepthAlarm", "DeadLetterArchiveAlarm"])
def test_dead_letter_alarms_publish_to_the_topic_directly(project: Project, alarm: str) -> None:
    properties = project.resources[alarm]["Properties"]
    assert properties["AlarmActions"] == [{"Ref": "NotificationTopic"}]
    assert properties["Namespace"] == "AWS/SQS"


def test_every_metric_the_experiment_evaluator_emits_is_on_the_experiment_panels(project: Project) -> None:
    from pathlib import Path

    source = (Path(__file__).parents[2] / "functions" / "evaluate_experiment" / "app.py").read_text()
    emitted = set(re.findall(r'add_metric\(name="([a-z_]+)"', source))
    body = dashboard_body(project)
    shown = {
        line[1]
        for w in body["widgets"]
        if w["properties"].get("title", "").startswith("Experiment:")
        for line in w["properties"]["metrics"]
        if line[0] == "Conveyor/Experiments"
    }
    assert emitted - {"unmatched_outcomes"} == shown, "unmatched outcomes are in the run's report, not a panel"
