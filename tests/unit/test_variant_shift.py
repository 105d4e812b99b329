"""deployment.py, variant-shift parts: the weight steps, the two-variant config and the plan's shift output."""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from conveyor_core.release.deployment import (
    CANDIDATE_VARIANT,
    MAX_RESOURCE_NAME,
    ServingEndpoint,
    build_deployment_config,
    build_production_variants,
    build_variant_shift,
    plan_deployment,
    shift_percentages,
)
from conveyor_core.shared.settings import DeploymentSettings

_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RUN_ID = "churn-0123456789abcdef01234567"
NEW_MODEL = RUN_ID
PRODUCTION_MODEL = "churn-fedcba9876543210fedcba98"
SERVING = ServingEndpoint("InService", "old-cfg", production_model=PRODUCTION_MODEL)
SHIFT_KEYS = {
    "shift_config_name",
    "shift_variants",
    "shift_steps",
    "shift_last_step",
    "shift_alarms",
    "shift_bake_seconds",
    "shift_abort_weights",
}


def make_settings(**overrides: Any) -> DeploymentSettings:
    values: dict[str, Any] = {
        "MODEL_NAME": "churn",
        "ENDPOINT_NAME": "churn-endpoint",
        "DATA_CAPTURE_URI": "s3://churn-artifacts/capture",
        "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
        "ENDPOINT_INSTANCE_COUNT": 2,
        "VARIANT_NAME": "primary",
        "DEPLOYMENT_STRATEGY": "variant-shift",
        "CANARY_PERCENT": 10,
        "LINEAR_STEP_PERCENT": 25,
        "BAKE_SECONDS": 300,
        "ROLLBACK_ALARMS": "churn-5xx,churn-latency",
        "CANDIDATE_ALARMS": "churn-candidate-5xx,churn-candidate-latency",
    }
    values.update(overrides)
    return DeploymentSettings(**values)


def candidate_weights(step: list[dict[str, Any]]) -> float:
    (weight,) = [entry["DesiredWeight"] for entry in step if entry["VariantName"] == CANDIDATE_VARIANT]
    return float(weight)


# --- botocore shapes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sagemaker_model() -> Any:
    return botocore.session.get_session().get_service_model("sagemaker")


@pytest.fixture(scope="module")
def update_weights_shape(sagemaker_model: Any) -> Shape:
    return sagemaker_model.operation_model("UpdateEndpointWeightsAndCapacities").input_shape


@pytest.fixture(scope="module")
def create_config_shape(sagemaker_model: Any) -> Shape:
    return sagemaker_model.operation_model("CreateEndpointConfig").input_shape


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
    elif shape.type_name in ("integer", "long", "float", "double"):
        if "max" in meta and value > meta["max"]:
            problems.append(f"{path}: {value} > max {meta['max']}")
    elif shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} not in the enum")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: length {len(value)} > max {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")
    return problems


def assert_valid(params: dict[str, Any], shape: Shape) -> None:
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    assert shape_violations(params, shape) == []


# --- shift_percentages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "step", "expected"),
    [
        (10, 25, [10, 35, 60, 85, 100]),
        (50, 50, [50, 100]),
        (20, 40, [20, 60, 100]),
        (99, 1, [99, 100]),
        (1, 99, [1, 100]),
        (25, 25, [25, 50, 75, 100]),
    ],
)
def test_shift_percentages_start_at_the_canary_and_step_linearly_to_100(
    first: int, step: int, expected: list[int]
) -> None:
    assert shift_percentages(first, step) == expected


def test_shift_percentages_for_every_allowed_setting_rise_strictly_to_exactly_100() -> None:
    for first, step in itertools.product(range(1, 100), range(1, 100)):
        shares = shift_percentages(first, step)
        assert shares[0] == first
        assert shares[-1] == 100
        assert all(0 < later - earlier <= step for earlier, later in itertools.pairwise(shares))
        # Full steps until the last, which may be shorter.
        assert all(later - earlier == step for earlier, later in itertools.pairwise(shares[:-1]))


# --- build_variant_shift ------------------------------------------------------------------------


def test_shift_config_has_the_production_variant_then_the_candidate() -> None:
    shift = build_variant_shift(make_settings(), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.variants == [
        {
            "VariantName": "primary",
            "ModelName": PRODUCTION_MODEL,
            "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 90.0,
        },
        {
            "VariantName": CANDIDATE_VARIANT,
            "ModelName": NEW_MODEL,
            "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": 10.0,
        },
    ]


def test_shift_production_variant_name_comes_from_the_settings() -> None:
    shift = build_variant_shift(make_settings(VARIANT_NAME="blue"), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert [v["VariantName"] for v in shift.variants] == ["blue", "candidate"]
    assert all(step[0]["VariantName"] == "blue" for step in shift.steps)


def test_shift_variants_share_the_instance_type_and_count() -> None:
    settings = make_settings(ENDPOINT_INSTANCE_TYPE="ml.g5.xlarge", ENDPOINT_INSTANCE_COUNT=3)
    shift = build_variant_shift(settings, RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert {(v["InstanceType"], v["InitialInstanceCount"]) for v in shift.variants} == {("ml.g5.xlarge", 3)}


def test_shift_steps_are_weight_lists_for_both_variants() -> None:
    shift = build_variant_shift(make_settings(), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.steps == [
        [
            {"VariantName": "primary", "DesiredWeight": float(100 - share)},
            {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": float(share)},
        ]
        for share in (10, 35, 60, 85, 100)
    ]


@pytest.mark.parametrize(("first", "step"), [(10, 25), (50, 50), (20, 40), (50, 10), (1, 10), (33, 33)])
def test_shift_steps_sum_to_100_and_move_the_candidate_up_to_all_traffic(first: int, step: int) -> None:
    settings = make_settings(CANARY_PERCENT=first, LINEAR_STEP_PERCENT=step)
    shift = build_variant_shift(settings, RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    names = {v["VariantName"] for v in shift.variants}
    for entries in shift.steps:
        assert {e["VariantName"] for e in entries} == names
        assert sum(e["DesiredWeight"] for e in entries) == 100
        assert all(isinstance(e["DesiredWeight"], float) for e in entries)
    candidate = [candidate_weights(entries) for entries in shift.steps]
    assert candidate == [float(share) for share in shift_percentages(first, step)]
    assert all(earlier < later for earlier, later in itertools.pairwise(candidate))
    assert candidate[-1] == 100.0


def test_the_first_step_matches_the_configs_initial_weights() -> None:
    shift = build_variant_shift(make_settings(CANARY_PERCENT=20), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    initial = {v["VariantName"]: v["InitialVariantWeight"] for v in shift.variants}
    assert {e["VariantName"]: e["DesiredWeight"] for e in shift.steps[0]} == initial


def test_shift_watches_the_rollback_alarms_then_the_candidate_alarms() -> None:
    shift = build_variant_shift(make_settings(), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.alarms == ["churn-5xx", "churn-latency", "churn-candidate-5xx", "churn-candidate-latency"]


def test_shift_alarms_fit_describe_alarms_limit_of_100_names() -> None:
    settings = make_settings(
        ROLLBACK_ALARMS=",".join(f"r{i}" for i in range(60)), CANDIDATE_ALARMS=",".join(f"c{i}" for i in range(60))
    )
    shift = build_variant_shift(settings, RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.alarms == [f"r{i}" for i in range(60)] + [f"c{i}" for i in range(40)]


def test_shift_bakes_each_step_for_the_configured_time() -> None:
    shift = build_variant_shift(make_settings(BAKE_SECONDS=123), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.bake_seconds == 123


@pytest.mark.parametrize("run_id", [RUN_ID, "r" * 57, "r" * 58, "r" * 80, "a" * 56 + "-" + "b" * 30])
def test_shift_config_name_ends_with_shift_and_fits_sagemaker(run_id: str) -> None:
    shift = build_variant_shift(make_settings(), run_id, NEW_MODEL, PRODUCTION_MODEL)
    assert shift.config_name.endswith("-shift")
    assert len(shift.config_name) <= MAX_RESOURCE_NAME
    assert _SAGEMAKER_NAME.fullmatch(shift.config_name), shift.config_name
    plan = plan_deployment(make_settings(), run_id, SERVING)
    assert len({plan.model_name, plan.endpoint_config_name, shift.config_name}) == 3


def test_shift_settings_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MODEL_NAME": "churn",
        "ENDPOINT_NAME": "churn-endpoint",
        "DATA_CAPTURE_URI": "s3://churn-artifacts/capture",
        "ENDPOINT_INSTANCE_TYPE": "ml.c5.xlarge",
        "DEPLOYMENT_STRATEGY": "variant-shift",
        "CANARY_PERCENT": "20",
        "LINEAR_STEP_PERCENT": "40",
        "BAKE_SECONDS": "60",
        "ROLLBACK_ALARMS": "e-5xx, e-latency",
        "CANDIDATE_ALARMS": "c-5xx,,c-latency ",
    }.items():
        monkeypatch.setenv(name, value)
    shift = build_variant_shift(DeploymentSettings(), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    assert [candidate_weights(step) for step in shift.steps] == [20.0, 60.0, 100.0]
    assert shift.alarms == ["e-5xx", "e-latency", "c-5xx", "c-latency"]
    assert shift.bake_seconds == 60
    assert shift.variants[0]["InstanceType"] == "ml.c5.xlarge"


# --- plan_deployment with variant-shift ---------------------------------------------------------


@pytest.mark.parametrize("production_model", [None, ""])
def test_a_variant_shift_on_an_existing_endpoint_needs_the_production_model(production_model: str | None) -> None:
    with pytest.raises(ValueError, match="production variant's model"):
        plan_deployment(make_settings(), RUN_ID, dataclasses.replace(SERVING, production_model=production_model))


def test_variant_shift_plan_output_carries_the_shift() -> None:
    settings = make_settings(BAKE_SECONDS=240)
    output = plan_deployment(settings, RUN_ID, SERVING).as_output()
    shift = build_variant_shift(settings, RUN_ID, RUN_ID, PRODUCTION_MODEL)
    assert set(output) >= SHIFT_KEYS
    assert output["strategy"] == "variant-shift"
    assert output["shift_config_name"] == f"{RUN_ID}-shift"
    assert output["shift_variants"] == shift.variants
    assert output["shift_variants"][1]["ModelName"] == output["model_name"]
    assert output["shift_variants"][0]["ModelName"] == PRODUCTION_MODEL
    assert output["shift_steps"] == shift.steps
    assert output["shift_last_step"] == len(output["shift_steps"]) - 1 == 4
    assert output["shift_alarms"] == shift.alarms
    assert output["shift_bake_seconds"] == 240
    assert output["shift_abort_weights"] == [
        {"VariantName": "primary", "DesiredWeight": 100.0},
        {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": 0.0},
    ]


def test_variant_shift_plan_still_ends_on_a_single_variant_config_of_the_new_model() -> None:
    settings = make_settings()
    plan = plan_deployment(settings, RUN_ID, SERVING)
    assert plan.production_variants == build_production_variants(settings, plan.model_name)
    assert plan.endpoint_config_name == f"{RUN_ID}-cfg"
    assert plan.previous_endpoint_config == "old-cfg"
    # The final swap from the shift config to the single-variant config is all-at-once.
    routing = plan.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE"


def test_first_deployment_with_variant_shift_creates_the_endpoint_without_a_shift() -> None:
    output = plan_deployment(make_settings(), RUN_ID, None).as_output()
    assert output["strategy"] == "create"
    assert not SHIFT_KEYS & set(output)
    assert output["deployment_config"] == {}


@pytest.mark.parametrize("strategy", ["canary", "linear", "all-at-once"])
def test_other_strategies_have_no_shift_even_given_a_production_model(strategy: str) -> None:
    plan = plan_deployment(make_settings(DEPLOYMENT_STRATEGY=strategy), RUN_ID, SERVING)
    assert not SHIFT_KEYS & set(plan.as_output())
    assert plan.shift is None


@pytest.mark.parametrize("instance_type", ["ml.inf1.xlarge", "ml.inf1.24xlarge"])
def test_variant_shift_on_inf1_still_plans_a_variant_shift(instance_type: str) -> None:
    settings = make_settings(ENDPOINT_INSTANCE_TYPE=instance_type)
    output = plan_deployment(settings, RUN_ID, SERVING).as_output()
    assert output["strategy"] == "variant-shift"
    assert set(output) >= SHIFT_KEYS
    assert {v["InstanceType"] for v in output["shift_variants"]} == {instance_type}
    assert build_deployment_config(settings)["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == (
        "ALL_AT_ONCE"
    )


# --- SageMaker request shapes -------------------------------------------------------------------


@pytest.mark.parametrize(("first", "step"), [(10, 25), (50, 50), (50, 10), (1, 50)])
@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.inf1.xlarge", "ml.g5.xlarge"])
def test_shift_requests_are_valid_for_sagemaker(
    update_weights_shape: Shape, create_config_shape: Shape, first: int, step: int, instance_type: str
) -> None:
    settings = make_settings(CANARY_PERCENT=first, LINEAR_STEP_PERCENT=step, ENDPOINT_INSTANCE_TYPE=instance_type)
    output = plan_deployment(settings, "r" * 80, SERVING).as_output()
    assert_valid(
        {"EndpointConfigName": output["shift_config_name"], "ProductionVariants": output["shift_variants"]},
        create_config_shape,
    )
    for weights in [*output["shift_steps"], output["shift_abort_weights"]]:
        assert_valid(
            {"EndpointName": output["endpoint_name"], "DesiredWeightsAndCapacities": weights}, update_weights_shape
        )


def test_the_sagemaker_shape_checks_catch_invalid_shift_requests(
    update_weights_shape: Shape, create_config_shape: Shape
) -> None:
    # Guard for the test above: the checks must be able to fail.
    shift = build_variant_shift(make_settings(), RUN_ID, NEW_MODEL, PRODUCTION_MODEL)
    bad_step = [{**shift.steps[0][0], "DesiredWeight": -1.0}, {"VariantName": "has space", "DesiredWeight": 1.0}]
    params = {"EndpointName": "churn-endpoint", "DesiredWeightsAndCapacities": bad_step}
    assert ParamValidator().validate(params, update_weights_shape).has_errors()
    assert [p.split(":")[0] for p in shape_violations(params, update_weights_shape)] == [
        ".DesiredWeightsAndCapacities[1].VariantName"
    ]
    bad_variants = [{**shift.variants[0], "InstanceType": "ml.bogus.large"}, {**shift.variants[1]}]
    del bad_variants[1]["VariantName"]
    params = {"EndpointConfigName": "x" * 64, "ProductionVariants": bad_variants}
    assert ParamValidator().validate(params, create_config_shape).has_errors()
    problems = shape_violations(params, create_config_shape)
    assert {problem.split(":")[0] for problem in problems} == {
        ".EndpointConfigName",
        ".ProductionVariants[0].InstanceType",
    }
