"""The payloads in events/ are real AWS shapes that the handlers and state machines accept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

from conveyor_core.intake.drops import KeyDecision, classify_key
from conveyor_core.release.rollback import parse_time
from conveyor_core.shared.contracts import AlarmStateChangeEvent, ModelPackageStateChangeEvent, ScheduledInvocation

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    "name",
    ["s3_object_created_single.json", "s3_object_created_success_marker.json", "s3_object_created_manifest.json"],
)
def test_s3_object_created_payloads_parse_and_complete_a_drop(name: str) -> None:
    event = S3EventNotificationEventBridgeModel.model_validate(load(name))

    assert event.detail_type == "Object Created"
    assert event.detail.object.version_id
    assert classify_key(event.detail.object.key, "incoming/").decision is KeyDecision.START


def test_alarm_state_change_payload_has_what_the_rollback_state_machine_reads() -> None:
    event = load("cloudwatch_alarm_state_change.json")

    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["detail"]["alarmName"]
    assert parse_time(event["detail"]["state"]["timestamp"]).utcoffset() is not None


def test_scheduler_payload_parses_as_the_scheduled_function_input() -> None:
    invocation = ScheduledInvocation.model_validate(load("scheduler_retrain.json"))

    assert invocation.scheduled_time.endswith("Z")
    assert invocation.schedule_arn.startswith("arn:aws:scheduler:")


def test_drift_alarm_payload_parses_as_the_drift_actions_input() -> None:
    event = AlarmStateChangeEvent.model_validate(load("cloudwatch_drift_alarm_state_change.json"))
    assert event.detail.state.value == "ALARM"
    assert event.time.endswith("Z")


def test_model_package_state_change_parses_as_the_approval_resolvers_input() -> None:
    event = ModelPackageStateChangeEvent.model_validate(load("sagemaker_model_package_approved.json"))
    assert event.detail.model_approval_status == "Approved"
    assert event.detail.model_package_arn.startswith("arn:aws:sagemaker:")


def test_every_event_file_is_covered_here() -> None:
    covered = {
        "cloudwatch_drift_alarm_state_change.json",
        "sagemaker_model_package_approved.json",
        "s3_object_created_single.json",
        "s3_object_created_success_marker.json",
        "s3_object_created_manifest.json",
        "cloudwatch_alarm_state_change.json",
        "scheduler_retrain.json",
    }
    assert {p.name for p in EVENTS.glob("*.json")} == covered
