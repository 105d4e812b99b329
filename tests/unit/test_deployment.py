"""deployment.py: the blue/green DeploymentConfig, the create/update plan and the polling schedule."""

from __future__ import annotations

import itertools
import re
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from conveyor_core.release.deployment import (
    MAX_RESOURCE_NAME,
    InfeasibleRolloutError,
    ServingEndpoint,
    build_deployment_config,
    minimum_rollout_seconds,
    plan_deployment,
)
from conveyor_core.release.polling import (
    CREATE_BUDGET_SECONDS,
    CREATE_FIRST_POLL_SECONDS,
    FIRST_POLL_SECONDS,
    FOLLOW_UP_POLL_SECONDS,
    MAX_POLL_SECONDS,
    ROLLOUT_POLL_SLACK_SECONDS,
    poll_schedule,
)
from conveyor_core.shared.settings import DeploymentSettings

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RUN_ID = "churn-0123456789abcdef01234567"


def make_settings(**overrides: Any) -> DeploymentSettings:
    values: dict[str, Any] = {
        "MODEL_NAME": "churn",
        "ENDPOINT_NAME": "churn-endpoint",
        "DATA_CAPTURE_URI": "s3://churn-artifacts/capture",
        "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
        # Two instances: the smallest fleet a canary (at most half of it) fits.
        "ENDPOINT_INSTANCE_COUNT": 2,
        "DEPLOYMENT_STRATEGY": "canary",
        "BAKE_SECONDS": 300,
        "MAX_DEPLOYMENT_SECONDS": 3600,
        "ROLLBACK_ALARMS": "churn-5xx,churn-latency",
    }
    values.update(overrides)
    return DeploymentSettings(**values)


@pytest.fixture(scope="module")
def update_endpoint_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model("UpdateEndpoint").input_shape


def shape_violations(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What botocore's ParamValidator does not check: max bounds, enums and patterns."""
    problems: list[str] = []
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member_value in value.items():
            problems += shape_violations(member_value, shape.members[name], f"{path}.{name}")
    elif shape.type_name == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items > max {meta['max']}")
        for index, item in enumerate(value):
            problems += shape_violations(item, shape.member, f"{path}[{index}]")
    elif shape.type_name in ("integer", "long"):
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} > max {meta['max']}")
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: length {len(value)} > max {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
    return problems


def assert_valid_update_endpoint(params: dict[str, Any], shape: Shape) -> None:
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    assert shape_violations(params, shape) == []


# --- build_deployment_config --------------------------------------------------------------------


def test_canary_config_has_the_exact_structure() -> None:
    config = build_deployment_config(make_settings(DEPLOYMENT_STRATEGY="canary", CANARY_PERCENT=20))
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
                "WaitIntervalInSeconds": 300,
            },
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-5xx"}, {"AlarmName": "churn-latency"}]},
    }


def test_linear_config_has_the_exact_structure() -> None:
    config = build_deployment_config(
        make_settings(
            DEPLOYMENT_STRATEGY="linear", LINEAR_STEP_PERCENT=33, BAKE_SECONDS=120, MAX_DEPLOYMENT_SECONDS=7200
        )
    )
    assert config == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 33},
                "WaitIntervalInSeconds": 120,
            },
            "TerminationWaitInSeconds": 120,
            "MaximumExecutionTimeoutInSeconds": 7200,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-5xx"}, {"AlarmName": "churn-latency"}]},
    }


def test_all_at_once_config_has_no_step_size() -> None:
    config = build_deployment_config(make_settings(DEPLOYMENT_STRATEGY="all-at-once", BAKE_SECONDS=0))
    assert config["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": 3600,
    }


@pytest.mark.parametrize("requested", [1, 49, 50])
def test_a_canary_of_at_most_half_the_fleet_is_used_as_asked(requested: int) -> None:
    config = build_deployment_config(make_settings(CANARY_PERCENT=requested, ENDPOINT_INSTANCE_COUNT=4))
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["CanarySize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": requested,
    }


@pytest.mark.parametrize(
    ("variable", "value"), [("CANARY_PERCENT", 51), ("LINEAR_STEP_PERCENT", 9), ("LINEAR_STEP_PERCENT", 51)]
)
def test_traffic_steps_sagemaker_refuses_are_refused_by_the_settings(variable: str, value: int) -> None:
    with pytest.raises(ValueError, match=variable):
        make_settings(**{variable: value})


def test_a_linear_step_of_half_the_fleet_is_used_as_asked() -> None:
    config = build_deployment_config(make_settings(DEPLOYMENT_STRATEGY="linear", LINEAR_STEP_PERCENT=50))
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["LinearStepSize"]["Value"] == 50


@pytest.mark.parametrize("strategy", ["canary", "linear", "all-at-once"])
@pytest.mark.parametrize("instance_type", ["ml.inf1.xlarge", "ml.inf1.24xlarge"])
def test_inf1_instances_fall_back_to_all_at_once(strategy: str, instance_type: str) -> None:
    config = build_deployment_config(make_settings(DEPLOYMENT_STRATEGY=strategy, ENDPOINT_INSTANCE_TYPE=instance_type))
    routing = config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}


@pytest.mark.parametrize("instance_type", ["ml.inf2.xlarge", "ml.m5.large", "ml.g5.xlarge", "ml.c5.inf1"])
def test_non_inf1_instances_keep_the_configured_strategy(instance_type: str) -> None:
    config = build_deployment_config(make_settings(ENDPOINT_INSTANCE_TYPE=instance_type))
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "CANARY"


def test_no_alarms_means_no_auto_rollback_configuration() -> None:
    config = build_deployment_config(make_settings(ROLLBACK_ALARMS=""))
    assert "AutoRollbackConfiguration" not in config


def test_alarm_list_from_cloudformation_is_split_and_trimmed() -> None:
    config = build_deployment_config(make_settings(ROLLBACK_ALARMS=" a , b,, c "))
    assert config["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "a"}, {"AlarmName": "b"}, {"AlarmName": "c"}]
    }


def test_at_most_ten_alarms_are_passed_in_the_configured_order() -> None:
    names = [f"alarm-{i:02d}" for i in range(14)]
    config = build_deployment_config(make_settings(ROLLBACK_ALARMS=",".join(names)))
    assert config["AutoRollbackConfiguration"]["Alarms"] == [{"AlarmName": n} for n in names[:10]]


@pytest.mark.parametrize("strategy", ["canary", "linear", "all-at-once"])
@pytest.mark.parametrize("alarm_count", [0, 1, 10, 14])
@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.inf1.xlarge"])
@pytest.mark.parametrize("timing", [(0, 600), (600, 3600), (3600, 28800)], ids=["bake0", "bake600", "bake3600"])
def test_deployment_config_is_valid_for_sagemaker_update_endpoint(
    update_endpoint_shape: Shape, strategy: str, alarm_count: int, instance_type: str, timing: tuple[int, int]
) -> None:
    bake, maximum = timing
    settings = make_settings(
        DEPLOYMENT_STRATEGY=strategy,
        ROLLBACK_ALARMS=",".join(f"alarm-{i}" for i in range(alarm_count)),
        ENDPOINT_INSTANCE_TYPE=instance_type,
        CANARY_PERCENT=50,
        LINEAR_STEP_PERCENT=50,
        BAKE_SECONDS=bake,
        MAX_DEPLOYMENT_SECONDS=maximum,
    )
    plan = plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "previous-cfg"))
    params = {
        "EndpointName": plan.endpoint_name,
        "EndpointConfigName": plan.endpoint_config_name,
        "DeploymentConfig": plan.deployment_config,
    }
    assert_valid_update_endpoint(params, update_endpoint_shape)


def test_the_sagemaker_shape_check_catches_an_invalid_config(update_endpoint_shape: Shape) -> None:
    # Guard for the test above: the checks must be able to fail.
    config = build_deployment_config(make_settings())
    config["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] = 3601
    config["AutoRollbackConfiguration"]["Alarms"] = [{"AlarmName": f"a{i}"} for i in range(11)]
    params = {"EndpointName": "e", "EndpointConfigName": "c", "DeploymentConfig": config}
    assert len(shape_violations(params, update_endpoint_shape)) == 2
    del config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
    assert ParamValidator().validate(params, update_endpoint_shape).has_errors()


# --- plan_deployment ----------------------------------------------------------------------------


def test_plan_for_a_new_endpoint_creates_it_without_a_deployment_config() -> None:
    plan = plan_deployment(make_settings(), RUN_ID, None)
    assert plan.endpoint_exists is False
    assert plan.previous_endpoint_config == ""
    assert plan.deployment_config == {}
    assert plan.strategy == "create"
    assert plan.poll_waits == poll_schedule(CREATE_BUDGET_SECONDS, CREATE_FIRST_POLL_SECONDS)
    assert plan.endpoint_name == "churn-endpoint"
    assert plan.model_name == RUN_ID
    assert plan.endpoint_config_name == f"{RUN_ID}-cfg"


def test_plan_for_an_existing_endpoint_updates_it_with_blue_green() -> None:
    settings = make_settings(BAKE_SECONDS=600, MAX_DEPLOYMENT_SECONDS=3600)
    plan = plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old-cfg"))
    assert plan.endpoint_exists is True
    assert plan.previous_endpoint_config == "old-cfg"
    assert plan.deployment_config == build_deployment_config(settings)
    assert plan.strategy == "canary"
    # A canary bakes its share, then the old fleet waits out its termination: 2 x 600 s at least.
    assert plan.poll_waits == poll_schedule(3600 + 600, 2 * 600 + ROLLOUT_POLL_SLACK_SECONDS)


def test_plan_for_an_endpoint_without_a_config_name_records_an_empty_previous_config() -> None:
    assert plan_deployment(make_settings(), RUN_ID, ServingEndpoint("InService")).previous_endpoint_config == ""


@pytest.mark.parametrize("current", [None, ServingEndpoint("InService", "old")])
def test_production_variant_uses_the_constant_variant_name(current: ServingEndpoint | None) -> None:
    settings = make_settings(ENDPOINT_INSTANCE_COUNT=3, VARIANT_NAME="primary")
    plan = plan_deployment(settings, RUN_ID, current)
    assert plan.production_variants == [
        {
            "VariantName": "primary",
            "ModelName": plan.model_name,
            "InitialInstanceCount": 3,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 1.0,
        }
    ]


def test_variant_name_does_not_depend_on_the_run() -> None:
    first = plan_deployment(make_settings(), "run-a", ServingEndpoint("InService", "x"))
    second = plan_deployment(make_settings(), "run-b", ServingEndpoint("InService", "x"))
    assert first.production_variants[0]["VariantName"] == second.production_variants[0]["VariantName"]
    assert first.model_name != second.model_name


@pytest.mark.parametrize("run_id", [RUN_ID, "r" * 63, "r" * 64, "a" * 40 + "-" + "0123456789abcdef01234567" + "x" * 30])
def test_resource_names_fit_sagemaker_limits_and_differ(run_id: str) -> None:
    plan = plan_deployment(make_settings(), run_id, None)
    for name in (plan.model_name, plan.endpoint_config_name):
        assert len(name) <= MAX_RESOURCE_NAME
        assert _SAGEMAKER_NAME.fullmatch(name), name
    assert plan.model_name != plan.endpoint_config_name
    assert plan.endpoint_config_name.endswith("-cfg")


def test_plan_output_exposes_max_polls_as_the_last_index_the_state_machine_may_read() -> None:
    output = plan_deployment(make_settings(), RUN_ID, ServingEndpoint("InService", "x")).as_output()
    assert output["max_polls"] == len(output["poll_waits"]) - 1
    assert set(output) == {
        "endpoint_name",
        "endpoint_exists",
        "previous_endpoint_config",
        "model_name",
        "endpoint_config_name",
        "production_variants",
        "deployment_config",
        "strategy",
        "poll_waits",
        "recreate",
        "retain_variant_properties",
        "deregister_autoscaling",
        "data_capture_config",
        "notes",
        "max_polls",
    }


def test_data_capture_samples_requests_and_answers_as_csv_under_the_stacks_key() -> None:
    settings = make_settings(DATA_CAPTURE_PERCENT=20, DATA_CAPTURE_KMS_KEY="arn:aws:kms:us-east-1:1:key/k")
    config = plan_deployment(settings, RUN_ID, None).as_output()["data_capture_config"]
    assert config == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://churn-artifacts/capture",
        "KmsKeyId": "arn:aws:kms:us-east-1:1:key/k",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("DataCaptureConfig")
    assert shape_violations(config, shape) == []


def test_zero_percent_switches_capture_off_and_still_names_its_destination() -> None:
    config = plan_deployment(make_settings(DATA_CAPTURE_PERCENT=0), RUN_ID, None).as_output()["data_capture_config"]
    assert (config["EnableCapture"], config["InitialSamplingPercentage"]) == (False, 0)
    assert "KmsKeyId" not in config


# --- poll_schedule ------------------------------------------------------------------------------


def test_poll_schedule_for_the_create_budget() -> None:
    assert poll_schedule(1800, CREATE_FIRST_POLL_SECONDS) == [420, 60, 120, 240, 300, 300, 300, 300, 300]


@pytest.mark.parametrize("first", [FIRST_POLL_SECONDS, 240, 1230])
@pytest.mark.parametrize("budget", [1, 30, 31, 449, 450, 451, 1800, 4200, 28800 + 3600])
def test_poll_schedule_waits_the_first_then_doubles_caps_covers_the_budget_and_has_one_spare_entry(
    budget: int, first: int
) -> None:
    waits = poll_schedule(budget, first)
    assert waits[0] == first
    assert waits[1] == FOLLOW_UP_POLL_SECONDS
    for previous, current in itertools.pairwise(waits[1:]):
        assert current == min(previous * 2, MAX_POLL_SECONDS)
    polled = waits[:-1]
    assert sum(polled) >= budget
    # Minimal: one poll fewer would not cover the budget (the expected wait itself always stays).
    assert len(polled) == 1 or sum(polled[:-1]) < budget


def test_poll_schedule_for_a_zero_budget_is_the_first_wait_and_the_spare_entry() -> None:
    assert poll_schedule(0) == [FIRST_POLL_SECONDS, FOLLOW_UP_POLL_SECONDS]


@pytest.mark.parametrize(
    ("strategy", "bake", "step", "expected"),
    [
        ("canary", 600, 25, 1200),  # the canary's bake, then the termination wait
        ("all-at-once", 600, 25, 1200),  # the whole fleet's bake, then the termination wait
        ("linear", 600, 25, 4 * 600),  # 25, 50, 75 each bake; 100 waits out the termination
        ("linear", 100, 10, 10 * 100),
        ("linear", 100, 30, 4 * 100),  # 30, 60, 90, then 100
        ("linear", 100, 50, 2 * 100),  # 50, then 100
        ("canary", 0, 25, 0),
    ],
)
def test_minimum_rollout_is_every_bake_the_strategy_must_sit_through(
    strategy: str, bake: int, step: int, expected: int
) -> None:
    settings = make_settings(DEPLOYMENT_STRATEGY=strategy, BAKE_SECONDS=bake, LINEAR_STEP_PERCENT=step)
    assert minimum_rollout_seconds(settings) == expected
    plan = plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old"))
    assert plan.poll_waits[0] == expected + ROLLOUT_POLL_SLACK_SECONDS


# --- plans SageMaker accepts, whatever the stack says ---------------------------------------------


@pytest.mark.parametrize("strategy", ["canary", "linear"])
def test_a_one_instance_fleet_is_rolled_out_all_at_once_and_the_plan_says_why(strategy: str) -> None:
    settings = make_settings(DEPLOYMENT_STRATEGY=strategy, ENDPOINT_INSTANCE_COUNT=1)
    plan = plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old"))
    assert plan.strategy == "all-at-once"
    assert plan.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == "ALL_AT_ONCE"
    assert any(
        note.startswith(f"{strategy} rollout planned all at once") and "more than half" in note for note in plan.notes
    )


@pytest.mark.parametrize(
    ("count", "percent", "expected"),
    [(2, 10, "canary"), (2, 50, "canary"), (3, 50, "all-at-once"), (4, 50, "canary"), (10, 10, "canary")],
)
def test_a_canary_runs_when_its_share_in_whole_instances_is_at_most_half_the_fleet(
    count: int, percent: int, expected: str
) -> None:
    settings = make_settings(ENDPOINT_INSTANCE_COUNT=count, CANARY_PERCENT=percent)
    assert plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old")).strategy == expected


def test_a_timeout_shorter_than_the_rollouts_waits_is_lengthened_and_the_plan_says_so() -> None:
    settings = make_settings(BAKE_SECONDS=1800, MAX_DEPLOYMENT_SECONDS=3600)
    plan = plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old"))
    policy = plan.deployment_config["BlueGreenUpdatePolicy"]
    # The canary bakes 1800 s, then the old fleet waits 1800 s: the timeout must exceed 3600 s.
    assert policy["MaximumExecutionTimeoutInSeconds"] == 3600 + 600
    assert any(
        "DeploymentTimeoutSeconds 3600 is not longer than the rollout's waits (3600 s)" in note for note in plan.notes
    )


def test_a_rollout_longer_than_sagemaker_allows_is_refused_with_the_reason() -> None:
    settings = make_settings(
        DEPLOYMENT_STRATEGY="linear", LINEAR_STEP_PERCENT=10, ENDPOINT_INSTANCE_COUNT=10, BAKE_SECONDS=3600
    )
    with pytest.raises(InfeasibleRolloutError, match="more than SageMaker's longest deployment"):
        plan_deployment(settings, RUN_ID, ServingEndpoint("InService", "old"))


def test_a_new_endpoint_has_no_rollout_and_no_notes() -> None:
    plan = plan_deployment(make_settings(ENDPOINT_INSTANCE_COUNT=1), RUN_ID, None)
    assert (plan.strategy, plan.notes, plan.recreate) == ("create", [], False)


def test_a_failed_endpoint_is_deleted_and_created_again() -> None:
    failed = ServingEndpoint("Failed", "bad-cfg", failure_reason="the model did not load")
    plan = plan_deployment(make_settings(), RUN_ID, failed)
    assert plan.recreate is True
    assert plan.endpoint_exists is False
    assert plan.strategy == "create"
    assert plan.deployment_config == {}
    # Nothing serves on a failed endpoint: there is no previous config to roll back to.
    assert plan.previous_endpoint_config == ""
    assert plan.notes == [
        "endpoint churn-endpoint was Failed (the model did not load): "
        "it is deleted and created again with the new model"
    ]


def test_an_unchanged_instance_type_keeps_the_autoscaled_fleet() -> None:
    serving = ServingEndpoint("InService", "old", production_model="m", instance_type="ml.m5.large")
    plan = plan_deployment(make_settings(), RUN_ID, serving)
    assert (plan.retain_variant_properties, plan.deregister_autoscaling) == (True, False)


def test_a_changed_instance_type_deregisters_autoscaling_for_the_update() -> None:
    serving = ServingEndpoint("InService", "old", production_model="m", instance_type="ml.c5.xlarge")
    plan = plan_deployment(make_settings(), RUN_ID, serving)
    assert (plan.retain_variant_properties, plan.deregister_autoscaling) == (False, True)
    assert any("from ml.c5.xlarge to ml.m5.large" in note for note in plan.notes)


def test_a_fleet_autoscaled_to_one_instance_takes_its_canary_all_at_once() -> None:
    # RetainAllVariantProperties keeps the one instance autoscaling left; a canary of it is the whole fleet.
    serving = ServingEndpoint(
        "InService", "old", production_model="m", instance_type="ml.m5.large", current_instance_count=1
    )
    plan = plan_deployment(make_settings(ENDPOINT_INSTANCE_COUNT=2, CANARY_PERCENT=50), RUN_ID, serving)
    assert plan.retain_variant_properties is True
    assert plan.strategy == "all-at-once"
    assert any("step of 1 instance(s)" in note for note in plan.notes)


def test_a_fleet_autoscaled_out_is_sized_by_its_current_count() -> None:
    serving = ServingEndpoint(
        "InService", "old", production_model="m", instance_type="ml.m5.large", current_instance_count=4
    )
    plan = plan_deployment(make_settings(ENDPOINT_INSTANCE_COUNT=3, CANARY_PERCENT=50), RUN_ID, serving)
    # Three instances could not take a 50 % canary (2 > 1); the four autoscaling runs can.
    assert plan.strategy == "canary"
    assert plan.notes == []


def test_a_new_instance_type_is_sized_by_the_stacks_count() -> None:
    serving = ServingEndpoint(
        "InService", "old", production_model="m", instance_type="ml.c5.xlarge", current_instance_count=1
    )
    plan = plan_deployment(make_settings(ENDPOINT_INSTANCE_COUNT=2, CANARY_PERCENT=50), RUN_ID, serving)
    assert plan.strategy == "canary"
