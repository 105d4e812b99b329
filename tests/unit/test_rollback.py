"""rollback.py: alarm times, the rollback target, the exactly-once plan and its state table markers.

The history is read as ``release.history`` records; reading it from DynamoDB is tested in test_history.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conveyor_core.release.history import (
    AlarmRollbackRecord,
    DeploymentRecord,
    DeploymentStatus,
    deployment_sort_key,
    partition,
)
from conveyor_core.release.rollback import (
    RollbackPlan,
    across_instance_types,
    choose_target,
    claim,
    claim_alarm,
    parse_time,
    plan_rollback,
    restored_at,
    rolled_away_by,
    variant_instance_types,
    went_live_at,
)
from conveyor_core.shared.state_items import MARKER_TTL_SECONDS, AlarmClaim, RestoreClaim, RollbackClaim

MODEL = "churn"
ENDPOINT = "churn-endpoint"
PARTITION = partition(MODEL)
STATE_TABLE = "conveyor-test-rollback-state"
UTC = dt.UTC

# Step Functions' $$.State.EnteredTime, as the state machines write recorded_at and the sort key.
T1 = "2026-11-20T10:00:00.000Z"
T2 = "2026-11-21T10:00:00.000Z"
T3 = "2026-11-22T10:00:00.000Z"
T4 = "2026-11-23T10:00:00.000Z"
T5 = "2026-11-24T10:00:00.000Z"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def deployed(at: str, config: str, package: str = "", run: str = "", **changes: Any) -> DeploymentRecord:
    """The history record a retrain run writes once its endpoint config serves (status InService)."""
    run = run or f"run-{config}"
    fields: dict[str, Any] = {
        "pk": PARTITION,
        "sk": deployment_sort_key(at, run),
        "status": DeploymentStatus.IN_SERVICE,
        "run_id": run,
        "trigger": "data-arrival",
        "endpoint": ENDPOINT,
        "endpoint_config": config,
        "previous_endpoint_config": "",
        "model_name": f"{config}-model",
        "model_package_arn": package or package_of(config),
        "metric_name": "validation:auc",
        "metric_value": 0.9,
        "dataset_uri": f"s3://data/incoming/{config}.csv",
        "dataset_sha256": "ab" * 32,
        "dataset_identity": f"data|incoming/{config}.csv|v1",
        "compiled": False,
        "strategy": "canary",
        "recorded_at": at,
    }
    return DeploymentRecord(**{**fields, **changes})


def alarm_rollback(at: str, bad: str, good: str) -> AlarmRollbackRecord:
    """The history record the rollback state machine writes: rolled away from ``bad``, ``good`` restored."""
    return AlarmRollbackRecord(
        pk=PARTITION,
        sk=deployment_sort_key(at, f"rollback-{bad}"),
        endpoint=ENDPOINT,
        endpoint_config=bad,
        restored_config=good,
        model_package_arn=package_of(bad),
        alarm="churn-5xx",
        recorded_at=at,
    )


def guardrail_rollback(at: str, config: str) -> DeploymentRecord:
    """The history record a retrain run writes when SageMaker's guardrails rolled its update back."""
    return deployed(at, config, status=DeploymentStatus.ROLLED_BACK)


def endpoint(config: str, status: str = "InService") -> dict[str, Any]:
    return {"EndpointName": ENDPOINT, "EndpointConfigName": config, "EndpointStatus": status}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def after(text: str, **delta: float) -> dt.datetime:
    return at(text) + dt.timedelta(**delta)


def package_of(config: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{config}"


# --- parse_time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CloudWatch alarm state timestamps: millis and a "+0000" offset without a colon.
        ("2019-10-02T17:04:40.989+0000", dt.datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)),
        # Step Functions EnteredTime / StartTime: millis and "Z".
        ("2019-10-02T17:04:40.989Z", dt.datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)),
        ("2019-10-02T17:04:40Z", dt.datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC)),
        ("2019-10-02T17:04:40.989+00:00", dt.datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_cloudwatch_and_step_functions_utc_timestamps(text: str, expected: dt.datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2019-10-02T19:04:40.989+0200", dt.timedelta(hours=2)),
        ("2019-10-02T11:34:40.989-0530", dt.timedelta(hours=-5, minutes=-30)),
        ("2019-10-02T22:49:40.989+05:45", dt.timedelta(hours=5, minutes=45)),
    ],
)
def test_parse_time_keeps_non_utc_offsets_and_the_instant(text: str, offset: dt.timedelta) -> None:
    parsed = parse_time(text)
    assert parsed.utcoffset() == offset
    assert parsed == dt.datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)


def test_cloudwatch_and_step_functions_spellings_of_one_instant_compare_equal() -> None:
    cloudwatch = parse_time("2026-11-22T10:00:00.123+0000")
    step_functions = parse_time("2026-11-22T10:00:00.123Z")
    assert cloudwatch == step_functions
    assert not cloudwatch < step_functions
    assert parse_time("2026-11-22T10:00:00.124+0000") > step_functions


# --- went_live_at -------------------------------------------------------------------------------


def test_went_live_at_is_the_recorded_time_of_the_configs_deployment() -> None:
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert went_live_at(history, "cfg-b") == at(T2)
    assert went_live_at(history, "cfg-c") == at(T3)


def test_went_live_at_prefers_a_later_alarm_rollback_that_restored_the_config() -> None:
    history = [alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert went_live_at(history, "cfg-a") == at(T3)


def test_went_live_at_prefers_a_deployment_newer_than_a_restore() -> None:
    history = [deployed(T4, "cfg-a", run="redeploy"), alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T1, "cfg-a")]
    assert went_live_at(history, "cfg-a") == at(T4)


def test_went_live_at_ignores_rollbacks_away_from_the_config_and_guardrail_rollbacks() -> None:
    # cfg-b appears only as a config that was rolled away from, or rolled back by the guardrails.
    history = [alarm_rollback(T3, "cfg-b", "cfg-a"), guardrail_rollback(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert went_live_at(history, "cfg-b") is None


def test_went_live_at_of_an_unknown_config_is_none() -> None:
    assert went_live_at([deployed(T1, "cfg-a")], "cfg-x") is None
    assert went_live_at([], "cfg-a") is None


# --- choose_target ------------------------------------------------------------------------------


def test_choose_target_is_the_newest_in_service_config_other_than_the_bad_one() -> None:
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert choose_target(history, "cfg-c") == history[1]


def test_choose_target_skips_a_config_a_rollback_has_claimed_to_leave_before_its_record_exists() -> None:
    # Rollback 1 left cfg-c for cfg-b and has not written its history record yet when a second alarm
    # about cfg-b arrives: cfg-c is still the newest "served" deployment, but it is the bad one.
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert choose_target(history, "cfg-b", claimed_away=lambda config: config == "cfg-c") == history[2]
    assert choose_target(history, "cfg-b", claimed_away=lambda config: config in ("cfg-c", "cfg-a")) is None


def test_choose_target_skips_the_bad_config_wherever_it_is_in_the_history() -> None:
    # The endpoint serves an older config (restored earlier) and the newest entry is the bad one's.
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    assert choose_target(history, "cfg-b") == history[0]


def test_choose_target_skips_configs_that_were_rolled_away_from_by_an_alarm() -> None:
    history = [
        deployed(T4, "cfg-c"),
        alarm_rollback(T3, "cfg-b", "cfg-a"),
        deployed(T2, "cfg-b"),
        deployed(T1, "cfg-a"),
    ]
    assert choose_target(history, "cfg-c") == history[3]


def test_choose_target_skips_configs_the_guardrails_rolled_back() -> None:
    history = [
        deployed(T4, "cfg-c"),
        guardrail_rollback(T3, "cfg-b"),
        deployed(T2, "cfg-b"),
        deployed(T1, "cfg-a"),
    ]
    assert choose_target(history, "cfg-c") == history[3]


def test_choose_target_never_returns_a_rollback_entry() -> None:
    history = [alarm_rollback(T3, "cfg-b", "cfg-a"), guardrail_rollback(T2, "cfg-x")]
    assert choose_target(history, "cfg-c") is None


def test_choose_target_is_none_when_only_the_bad_config_ever_served() -> None:
    assert choose_target([deployed(T1, "cfg-a")], "cfg-a") is None
    assert choose_target([], "cfg-a") is None


# --- plan_rollback ------------------------------------------------------------------------------

HISTORY = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]


def test_plan_for_a_missing_endpoint_is_impossible() -> None:
    plan = plan_rollback(None, ENDPOINT, HISTORY, after(T3, hours=1), MODEL)
    assert plan.action == "impossible"
    assert plan.endpoint == ENDPOINT
    assert ENDPOINT in plan.reason
    assert "does not exist" in plan.reason
    assert (plan.bad_config, plan.good_config, plan.current_item) == ("", "", {})


@pytest.mark.parametrize("status", ["Updating", "RollingBack", "SystemUpdating", "Creating"])
def test_plan_defers_to_the_guardrails_while_sagemaker_changes_the_endpoint(status: str) -> None:
    plan = plan_rollback(endpoint("cfg-c", status), ENDPOINT, HISTORY, after(T3, hours=1), MODEL)
    assert plan.action == "deferred"
    assert status in plan.reason
    assert (plan.good_config, plan.current_item) == ("", {})


def test_plan_defers_to_the_variant_shifts_own_alarm_checks() -> None:
    history = [deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    plan = plan_rollback(endpoint("run-d-shift"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert plan.action == "deferred"
    assert plan.bad_config == "run-d-shift"
    assert "variant shift" in plan.reason
    assert (plan.good_config, plan.current_item) == ("", {})


def test_plan_does_not_defer_a_config_that_only_contains_shift_before_its_end() -> None:
    # A model named "churn-shift" gives run configs like "churn-shift-<digest>-cfg".
    history = [deployed(T3, "churn-shift-0123-cfg"), deployed(T2, "cfg-b")]
    plan = plan_rollback(endpoint("churn-shift-0123-cfg"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert plan.action == "rollback"
    assert plan.good_config == "cfg-b"


@pytest.mark.parametrize("alarm_time", [after(T3, minutes=-5), at(T3)], ids=["before", "same-instant"])
def test_an_alarm_not_newer_than_the_current_configs_go_live_is_stale(alarm_time: dt.datetime) -> None:
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, HISTORY, alarm_time, MODEL)
    assert plan.action == "stale"
    assert plan.bad_config == "cfg-c"
    assert (plan.good_config, plan.current_item) == ("", {})


def test_an_alarm_one_millisecond_after_go_live_is_not_stale() -> None:
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, HISTORY, after(T3, milliseconds=1), MODEL)
    assert plan.action == "rollback"


def test_staleness_compares_a_cloudwatch_alarm_time_with_a_step_functions_recorded_time() -> None:
    history = [deployed("2026-11-22T10:00:00.500Z", "cfg-c"), deployed(T2, "cfg-b")]
    same = plan_rollback(endpoint("cfg-c"), ENDPOINT, history, parse_time("2026-11-22T10:00:00.500+0000"), MODEL)
    later = plan_rollback(endpoint("cfg-c"), ENDPOINT, history, parse_time("2026-11-22T10:00:00.501+0000"), MODEL)
    assert (same.action, later.action) == ("stale", "rollback")


def test_an_alarm_older_than_the_restore_of_the_current_config_is_stale() -> None:
    # cfg-a went live twice: deployed at T1, restored at T3. An alarm from T2 is about cfg-b.
    history = [alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    plan = plan_rollback(endpoint("cfg-a"), ENDPOINT, history, after(T2, hours=1), MODEL)
    assert plan.action == "stale"
    assert at(T3).isoformat() in plan.reason


def test_plan_is_impossible_without_an_earlier_good_config_and_names_the_bad_package() -> None:
    history = [deployed(T1, "cfg-a")]
    plan = plan_rollback(endpoint("cfg-a"), ENDPOINT, history, after(T1, hours=1), MODEL)
    assert plan.action == "impossible"
    assert plan.bad_config == "cfg-a"
    assert plan.bad_package == package_of("cfg-a")
    assert plan.good_config == ""
    assert plan.current_item == {}


def test_plan_is_impossible_when_every_earlier_config_was_rolled_away_from() -> None:
    # cfg-a was restored by a rollback away from cfg-b, and now alarms itself.
    history = [alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T2, "cfg-b"), deployed(T1, "cfg-a")]
    plan = plan_rollback(endpoint("cfg-a"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert plan.action == "impossible"
    assert plan.bad_package == package_of("cfg-a")


def test_plan_rolls_back_to_the_previous_good_config() -> None:
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, HISTORY, after(T3, hours=1), MODEL)
    assert plan.action == "rollback"
    assert plan.endpoint == ENDPOINT
    assert plan.bad_config == "cfg-c"
    assert plan.good_config == "cfg-b"
    assert plan.bad_package == package_of("cfg-c")
    assert plan.current_item == {**HISTORY[1].to_item(), "sk": s("current")}
    assert plan.current_item["pk"] == s(PARTITION)
    assert DeploymentRecord.from_item(plan.current_item) == HISTORY[1].as_current()
    assert "cfg-c" in plan.reason
    assert "cfg-b" in plan.reason


def test_plan_does_not_modify_the_history_item_it_restores() -> None:
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b")]
    plan_rollback(endpoint("cfg-c"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert history[1].sk == f"deployment#{T2}#run-cfg-b"
    assert history[1].to_item()["sk"] == s(f"deployment#{T2}#run-cfg-b")


def test_plan_restores_a_deployment_recorded_before_dataset_identity_exactly_as_it_was_written() -> None:
    legacy = deployed(T2, "cfg-b").to_item()
    del legacy["dataset_identity"]
    history = [deployed(T3, "cfg-c"), DeploymentRecord.from_item(legacy)]
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert plan.action == "rollback"
    assert plan.current_item == {**legacy, "sk": s("current")}
    assert "dataset_identity" not in plan.current_item


def test_plan_skips_an_earlier_config_that_was_itself_rolled_back_from() -> None:
    history = [
        deployed(T4, "cfg-c"),
        alarm_rollback(T3, "cfg-b", "cfg-a"),
        deployed(T2, "cfg-b"),
        deployed(T1, "cfg-a"),
    ]
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, history, after(T4, hours=1), MODEL)
    assert plan.action == "rollback"
    assert plan.good_config == "cfg-a"
    assert plan.current_item == {**history[3].to_item(), "sk": s("current")}


def test_plan_for_a_config_missing_from_the_history_rolls_back_with_no_bad_package() -> None:
    plan = plan_rollback(endpoint("manual-cfg"), ENDPOINT, HISTORY, at(T1), MODEL)
    assert plan.action == "rollback"
    assert plan.good_config == "cfg-c"
    assert plan.bad_package == ""


def test_plan_as_output_carries_every_field() -> None:
    plan = plan_rollback(endpoint("cfg-c"), ENDPOINT, HISTORY, after(T3, hours=1), MODEL)
    assert plan.as_output() == {
        "action": "rollback",
        "reason": plan.reason,
        "endpoint": ENDPOINT,
        "bad_config": "cfg-c",
        "good_config": "cfg-b",
        "bad_package": package_of("cfg-c"),
        "current_item": {**HISTORY[1].to_item(), "sk": s("current")},
        "retain_variant_properties": True,
        "deregister_autoscaling": False,
        "notes": [],
    }
    assert RollbackPlan("stale", "r", ENDPOINT).as_output()["current_item"] == {}


# --- instance types -----------------------------------------------------------------------------

C5, M5 = "ml.c5.xlarge", "ml.m5.xlarge"


def _rollback_plan() -> RollbackPlan:
    return plan_rollback(endpoint("cfg-c"), ENDPOINT, HISTORY, after(T3, hours=1), MODEL)


def test_a_restore_on_the_serving_instance_type_keeps_autoscaling_and_the_autoscaled_counts() -> None:
    plan = _rollback_plan()
    assert across_instance_types(plan, serving={"primary": C5}, restored={"primary": C5}) == plan
    assert (plan.retain_variant_properties, plan.deregister_autoscaling, plan.notes) == (True, False, [])


def test_a_restore_to_another_instance_type_deregisters_autoscaling_and_does_not_retain_the_counts() -> None:
    # The stack moved from ml.c5 to ml.m5; the last good config still runs on ml.c5.
    plan = across_instance_types(_rollback_plan(), serving={"primary": M5}, restored={"primary": C5})
    assert plan.deregister_autoscaling is True
    assert plan.retain_variant_properties is False
    assert plan.notes == [
        f"the instance type changes from {M5} to {C5}: autoscaling is deregistered for the restore and "
        "registered again after it"
    ]
    assert (plan.action, plan.good_config, plan.bad_config) == ("rollback", "cfg-b", "cfg-c")
    output = plan.as_output()
    assert (output["deregister_autoscaling"], output["retain_variant_properties"]) == (True, False)


def test_a_restore_that_drops_a_serving_variant_deregisters_autoscaling() -> None:
    plan = across_instance_types(_rollback_plan(), serving={"primary": C5}, restored={"blue": C5})
    assert plan.deregister_autoscaling is True
    assert "variant primary is removed" in plan.notes[0]


def test_a_variant_the_restore_adds_changes_no_serving_instance_type() -> None:
    plan = _rollback_plan()
    assert across_instance_types(plan, serving={"primary": C5}, restored={"primary": C5, "extra": M5}) == plan


@pytest.fixture
def sagemaker(aws: None) -> Any:
    client = boto3.client("sagemaker")
    client.create_model(
        ModelName="churn-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"},
    )
    return client


def test_variant_instance_types_reads_each_production_variant_of_a_config(sagemaker: Any) -> None:
    variants = [
        {"VariantName": "primary", "ModelName": "churn-model", "InstanceType": M5, "InitialInstanceCount": 2},
        {"VariantName": "candidate", "ModelName": "churn-model", "InstanceType": C5, "InitialInstanceCount": 1},
    ]
    sagemaker.create_endpoint_config(EndpointConfigName="cfg-m5", ProductionVariants=variants)
    assert variant_instance_types(sagemaker, "cfg-m5") == {"primary": M5, "candidate": C5}


def test_variant_instance_types_leaves_out_a_serverless_variant(sagemaker: Any) -> None:
    serverless = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    variants = [{"VariantName": "primary", "ModelName": "churn-model", "ServerlessConfig": serverless}]
    sagemaker.create_endpoint_config(EndpointConfigName="cfg-serverless", ProductionVariants=variants)
    assert variant_instance_types(sagemaker, "cfg-serverless") == {}


# --- claim --------------------------------------------------------------------------------------


@pytest.fixture
def state_table(dynamodb: Any) -> str:
    dynamodb.create_table(
        TableName=STATE_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return STATE_TABLE


def test_the_first_claim_on_a_bad_config_wins_and_the_second_loses(dynamodb: Any, state_table: str) -> None:
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1") is True
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-2") is False
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1") is False


def test_a_lost_claim_keeps_the_winning_execution(dynamodb: Any, state_table: str) -> None:
    claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1")
    claim(dynamodb, state_table, MODEL, "cfg-c", "exec-2")
    items = dynamodb.scan(TableName=state_table)["Items"]
    assert len(items) == 1
    assert items[0]["id"] == s(f"rollback#{MODEL}#cfg-c")
    assert items[0]["execution"] == s("exec-1")


def test_a_claim_writes_a_rollback_marker_that_never_expires_and_a_restore_marker_that_does(
    dynamodb: Any, state_table: str
) -> None:
    moment = at("2026-11-20T10:00:00Z")
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1", "cfg-b", now=moment) is True
    items = {item["id"]["S"]: item for item in dynamodb.scan(TableName=state_table)["Items"]}
    assert items == {
        f"rollback#{MODEL}#cfg-c": {
            "id": s(f"rollback#{MODEL}#cfg-c"),
            "execution": s("exec-1"),
            "restored_config": s("cfg-b"),
            "claimed_at": s("2026-11-20T10:00:00+00:00"),
        },
        f"restored#{MODEL}#cfg-b": {
            "id": s(f"restored#{MODEL}#cfg-b"),
            "execution": s("exec-1"),
            "claimed_at": s("2026-11-20T10:00:00+00:00"),
            "expiration": {"N": str(int(moment.timestamp()) + 30 * 24 * 3600)},
        },
    }
    assert RollbackClaim.from_item(items[f"rollback#{MODEL}#cfg-c"]) == RollbackClaim.new(
        MODEL, "cfg-c", "exec-1", "cfg-b", moment
    )
    assert RestoreClaim.from_item(items[f"restored#{MODEL}#cfg-b"]).claimed_at == moment


def test_a_claim_without_a_config_to_restore_writes_only_the_rollback_marker(dynamodb: Any, state_table: str) -> None:
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1") is True
    [item] = dynamodb.scan(TableName=state_table)["Items"]
    assert RollbackClaim.from_item(item).restored_config == ""


def test_rolled_away_by_names_the_execution_that_won_the_claim(dynamodb: Any, state_table: str) -> None:
    assert rolled_away_by(dynamodb, state_table, MODEL, "cfg-c") is None
    claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1", "cfg-b")
    claim(dynamodb, state_table, MODEL, "cfg-c", "exec-2", "cfg-a")
    assert rolled_away_by(dynamodb, state_table, MODEL, "cfg-c") == "exec-1"
    assert rolled_away_by(dynamodb, state_table, MODEL, "cfg-b") is None
    assert rolled_away_by(dynamodb, state_table, "other", "cfg-c") is None


def test_an_alarm_claim_marker_expires_after_thirty_days(dynamodb: Any, state_table: str) -> None:
    stamp = "2026-11-20T10:00:00.000+0000"
    before = int(dt.datetime.now(UTC).timestamp())
    assert claim_alarm(dynamodb, state_table, MODEL, "m-5xx", stamp, "exec-1") is True
    [item] = dynamodb.scan(TableName=state_table)["Items"]
    assert set(item) == {"id", "execution", "expiration"}
    marker = AlarmClaim.from_item(item)
    assert marker.id == f"alarm#{MODEL}#m-5xx#{stamp}"
    assert marker.execution == "exec-1"
    assert (
        before + MARKER_TTL_SECONDS <= marker.expiration <= int(dt.datetime.now(UTC).timestamp()) + MARKER_TTL_SECONDS
    )
    assert MARKER_TTL_SECONDS == 30 * 24 * 3600


def test_a_winning_claim_records_when_the_good_config_was_claimed_for_restoring(
    dynamodb: Any, state_table: str
) -> None:
    moment = at("2026-11-20T10:00:00Z")
    assert restored_at(dynamodb, state_table, MODEL, "cfg-b") is None
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1", "cfg-b", now=moment) is True
    assert restored_at(dynamodb, state_table, MODEL, "cfg-b") == moment
    # The loser records nothing: the restore it would have claimed is not happening.
    assert (
        claim(dynamodb, state_table, MODEL, "cfg-c", "exec-2", "cfg-a", now=after("2026-11-20T10:00:00Z", seconds=5))
        is False
    )
    assert restored_at(dynamodb, state_table, MODEL, "cfg-a") is None


def test_one_alarm_transition_is_claimed_once_but_its_own_retry_may_claim_again(
    dynamodb: Any, state_table: str
) -> None:
    stamp = "2026-11-20T10:00:00.000+0000"
    assert claim_alarm(dynamodb, state_table, MODEL, "m-5xx", stamp, "exec-1") is True
    assert claim_alarm(dynamodb, state_table, MODEL, "m-5xx", stamp, "exec-2") is False
    assert claim_alarm(dynamodb, state_table, MODEL, "m-5xx", stamp, "exec-1") is True
    assert claim_alarm(dynamodb, state_table, MODEL, "m-5xx", "2026-11-20T10:05:00.000+0000", "exec-3") is True
    assert claim_alarm(dynamodb, state_table, MODEL, "m-latency", stamp, "exec-4") is True


def test_an_alarm_planned_after_a_restore_but_before_its_record_is_stale() -> None:
    # The rollback from cfg-c to cfg-b has updated the endpoint but not yet written its history item.
    history = [deployed("2026-11-20T09:00:00Z", "cfg-c"), deployed("2026-11-19T09:00:00Z", "cfg-b")]
    claimed = at("2026-11-20T10:00:05Z")
    plan = plan_rollback(
        endpoint("cfg-b"), ENDPOINT, history, at("2026-11-20T10:00:00Z"), MODEL, restored_since=claimed
    )
    assert plan.action == "stale"
    # Without the claim time, the same alarm would have rolled back to the bad config.
    assert plan_rollback(endpoint("cfg-b"), ENDPOINT, history, at("2026-11-20T10:00:00Z"), MODEL).action == "rollback"


def test_an_alarm_after_the_restore_claim_is_about_the_restored_config() -> None:
    history = [deployed("2026-11-20T09:00:00Z", "cfg-c"), deployed("2026-11-19T09:00:00Z", "cfg-b")]
    plan = plan_rollback(
        endpoint("cfg-b"),
        ENDPOINT,
        history,
        at("2026-11-20T11:00:00Z"),
        MODEL,
        restored_since=at("2026-11-20T10:00:05Z"),
    )
    assert plan.action != "stale"


def test_claims_on_different_bad_configs_are_independent(dynamodb: Any, state_table: str) -> None:
    assert claim(dynamodb, state_table, MODEL, "cfg-c", "exec-1") is True
    assert claim(dynamodb, state_table, MODEL, "cfg-d", "exec-2") is True
    assert claim(dynamodb, state_table, "other", "cfg-c", "exec-3") is True
    assert claim(dynamodb, state_table, MODEL, "cfg-d", "exec-4") is False


def test_claim_raises_errors_other_than_a_lost_race(dynamodb: Any, state_table: str) -> None:
    with pytest.raises(ClientError) as caught:
        claim(dynamodb, "no-such-table", MODEL, "cfg-c", "exec-1")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
