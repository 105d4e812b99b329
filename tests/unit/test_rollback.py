"""rollback.py: alarm times, the deployment history, the rollback target and the exactly-once plan."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conveyor_core.release.rollback import (
    RollbackPlan,
    choose_target,
    claim,
    claim_alarm,
    deployment_history,
    parse_time,
    plan_rollback,
    restored_at,
    went_live_at,
)

MODEL = "churn"
ENDPOINT = "churn-endpoint"
PARTITION = f"model#{MODEL}"
HISTORY_TABLE = "conveyor-test-history"
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


def deployed(at: str, config: str, package: str = "", run: str = "") -> dict[str, Any]:
    """The history item a retrain run records once its endpoint config serves (status InService)."""
    run = run or f"run-{config}"
    return {
        "pk": s(PARTITION),
        "sk": s(f"deployment#{at}#{run}"),
        "status": s("InService"),
        "endpoint": s(ENDPOINT),
        "endpoint_config": s(config),
        "model_package_arn": s(package or f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{config}"),
        "recorded_at": s(at),
    }


def alarm_rollback(at: str, bad: str, good: str) -> dict[str, Any]:
    """The history item the rollback state machine records: rolled away from ``bad``, ``good`` restored."""
    return {
        "pk": s(PARTITION),
        "sk": s(f"deployment#{at}#rollback-{bad}"),
        "status": s("AlarmRollback"),
        "endpoint": s(ENDPOINT),
        "endpoint_config": s(bad),
        "restored_config": s(good),
        "model_package_arn": s(f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{bad}"),
        "alarm": s("churn-5xx"),
        "recorded_at": s(at),
    }


def guardrail_rollback(at: str, config: str) -> dict[str, Any]:
    """The history item a retrain run records when SageMaker's guardrails rolled its update back."""
    return {
        "pk": s(PARTITION),
        "sk": s(f"deployment#{at}#run-{config}"),
        "status": s("RolledBack"),
        "endpoint": s(ENDPOINT),
        "endpoint_config": s(config),
        "model_package_arn": s(f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{config}"),
        "recorded_at": s(at),
    }


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


# --- deployment_history -------------------------------------------------------------------------


@pytest.fixture
def history_table(dynamodb: Any) -> str:
    """The deployment history table as the stack creates it: pk (HASH) + sk (RANGE)."""
    dynamodb.create_table(
        TableName=HISTORY_TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return HISTORY_TABLE


def test_deployment_history_is_newest_first_and_only_this_models_deployment_items(
    dynamodb: Any, history_table: str
) -> None:
    a, b = deployed(T1, "cfg-a"), deployed(T2, "cfg-b")
    rollback, c = alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T4, "cfg-c")
    current = {**c, "sk": s("current")}
    other_model = {**deployed(T5, "other-cfg"), "pk": s("model#other")}
    not_a_deployment = {**deployed(T5, "cfg-z"), "sk": s(f"note#{T5}")}
    # Written out of order: the order must come from the sort key, not from insertion.
    for item in (rollback, c, current, a, other_model, not_a_deployment, b):
        dynamodb.put_item(TableName=history_table, Item=item)

    history = deployment_history(dynamodb, history_table, MODEL)

    assert [item["sk"]["S"] for item in history] == [c["sk"]["S"], rollback["sk"]["S"], b["sk"]["S"], a["sk"]["S"]]
    assert history == [c, rollback, b, a]


def test_deployment_history_of_a_model_never_deployed_is_empty(dynamodb: Any, history_table: str) -> None:
    dynamodb.put_item(TableName=history_table, Item={**deployed(T1, "other-cfg"), "pk": s("model#other")})
    assert deployment_history(dynamodb, history_table, MODEL) == []


def test_deployment_history_without_deployments_ignores_the_current_pointer(dynamodb: Any, history_table: str) -> None:
    dynamodb.put_item(TableName=history_table, Item={**deployed(T1, "cfg-a"), "sk": s("current")})
    assert deployment_history(dynamodb, history_table, MODEL) == []


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
    assert plan.current_item == {**HISTORY[1], "sk": s("current")}
    assert plan.current_item["pk"] == s(PARTITION)
    assert "cfg-c" in plan.reason
    assert "cfg-b" in plan.reason


def test_plan_does_not_modify_the_history_item_it_restores() -> None:
    history = [deployed(T3, "cfg-c"), deployed(T2, "cfg-b")]
    plan_rollback(endpoint("cfg-c"), ENDPOINT, history, after(T3, hours=1), MODEL)
    assert history[1]["sk"] == s(f"deployment#{T2}#run-cfg-b")


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
    assert plan.current_item == {**history[3], "sk": s("current")}


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
        "current_item": {**HISTORY[1], "sk": s("current")},
    }
    assert RollbackPlan("stale", "r", ENDPOINT).as_output()["current_item"] == {}


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
