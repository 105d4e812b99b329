"""Where a promoted model serves: the stack's instance, or the target advisor's, from training's latencies."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor_core import families
from conveyor_core.release.compilation import plan_compilation
from conveyor_core.release.serving_target import choose
from conveyor_core.release.target_advisor import latency_metric_name, latency_metric_names, measurements_from_metrics
from conveyor_core.shared.settings import ServingTargetSettings

REGION = "us-east-1"
PYTORCH = families.get("pytorch")


def settings(**values: Any) -> ServingTargetSettings:
    defaults: dict[str, Any] = {
        "MODEL_NAME": "tabular",
        "AWS_REGION": REGION,
        "ENDPOINT_INSTANCE_TYPE": "ml.g4dn.xlarge",
        "LATENCY_OBJECTIVE_US": "500000",
    }
    return ServingTargetSettings(**{**defaults, **values})


def spec(instance_type: str = "ml.g4dn.xlarge") -> Any:
    plan = plan_compilation(PYTORCH, "2.0", instance_type, "", REGION)
    return PYTORCH.spec(REGION, "2.0", 30, plan, instance_type=instance_type)


def timings(processor: str, p50: float, p99: float) -> list[dict[str, Any]]:
    return [
        {"MetricName": latency_metric_name(processor, batch, quantile), "Value": value * batch**0.5}  # type: ignore[arg-type]
        for batch in (1, 64, 1024)
        for quantile, value in (("p50", p50), ("p99", p99))
    ]


SCORES = [{"MetricName": "validation:auc", "Value": 0.98}]


def test_latency_metrics_fit_the_pytorch_familys_metric_definitions() -> None:
    names = {d["Name"] for d in PYTORCH.metric_definitions()}
    assert set(latency_metric_names()) <= names
    assert len(PYTORCH.metric_definitions()) <= 40, "CreateTrainingJob takes at most 40 MetricDefinitions"


def test_measurements_need_both_quantiles_and_a_positive_value() -> None:
    reported = [
        {"MetricName": "latency:cpu:b1:p50_us", "Value": 10.0},
        {"MetricName": "latency:cpu:b1:p99_us", "Value": 20.0},
        {"MetricName": "latency:cpu:b64:p50_us", "Value": 50.0},  # no p99: not a measurement
        {"MetricName": "latency:gpu:b1:p50_us", "Value": float("nan")},
        {"MetricName": "latency:gpu:b1:p99_us", "Value": 3.0},
        *SCORES,
    ]
    [only] = measurements_from_metrics(reported)
    assert (only.processor, only.batch, only.p50_us, only.p99_us) == ("cpu", 1, 10.0, 20.0)


def test_configuration_serves_where_the_stack_says_and_reports_the_advice() -> None:
    chosen = choose(PYTORCH, spec(), SCORES + timings("cpu", 30, 60), settings())
    assert (chosen.instance_type, chosen.chosen_by) == ("ml.g4dn.xlarge", "configuration")
    assert chosen.compilation.target_device == "ml_g4dn"
    assert (chosen.recommended_instance_type, chosen.recommended_target) == ("ml.c5.large", "ml_c5")
    assert chosen.advice.startswith("ml.c5.large (Neo target ml_c5) is the cheapest instance")


def test_the_advisor_moves_the_model_to_the_recommended_instance_and_replans_its_compilation() -> None:
    chosen = choose(PYTORCH, spec(), SCORES + timings("cpu", 30, 60), settings(TARGET_SELECTION="advisor"))
    assert (chosen.instance_type, chosen.chosen_by) == ("ml.c5.large", "advisor")
    assert (chosen.compilation.compile, chosen.compilation.target_device) == (True, "ml_c5")
    assert chosen.serving_image.endswith("/pytorch-inference:2.0.1-cpu-py310"), "the uncompiled fallback's CPU image"


def test_a_gpu_that_alone_meets_a_large_batch_objective_is_chosen() -> None:
    measured = timings("cpu", 4000, 9000) + timings("gpu", 100, 150)
    chosen = choose(
        PYTORCH,
        spec("ml.c5.xlarge"),
        measured,
        settings(
            TARGET_SELECTION="advisor",
            ENDPOINT_INSTANCE_TYPE="ml.c5.xlarge",
            LATENCY_OBJECTIVE_US="10000",
            REQUEST_ROWS="1024",
        ),
    )
    assert (chosen.instance_type, chosen.compilation.target_device) == ("ml.g4dn.xlarge", "ml_g4dn")
    assert chosen.serving_image.endswith("/pytorch-inference:2.0.1-gpu-py310")


def test_with_nothing_fast_enough_the_advisor_keeps_the_configured_instance() -> None:
    chosen = choose(
        PYTORCH, spec(), SCORES + timings("cpu", 30, 60), settings(TARGET_SELECTION="advisor", LATENCY_OBJECTIVE_US="1")
    )
    assert (chosen.instance_type, chosen.chosen_by) == ("ml.g4dn.xlarge", "configuration")
    assert chosen.recommended_instance_type == ""
    assert chosen.advice.startswith("no measured processor meets p99 <= 1 us at batch 1")


def test_a_family_whose_training_times_nothing_keeps_the_configured_instance_and_says_why() -> None:
    xgboost = families.get("xgboost")
    version = xgboost.version("")
    plan = plan_compilation(xgboost, version, "ml.c5.xlarge", "", REGION)
    chosen = choose(
        xgboost,
        xgboost.spec(REGION, version, 30, plan, instance_type="ml.c5.xlarge"),
        SCORES,
        settings(TARGET_SELECTION="advisor", ENDPOINT_INSTANCE_TYPE="ml.c5.xlarge"),
    )
    assert (chosen.instance_type, chosen.chosen_by) == ("ml.c5.xlarge", "configuration")
    assert chosen.advice.startswith("no advice: the training job reported no latency (xgboost's training container")


def test_an_edge_target_stays_published_when_the_advisor_moves_the_endpoint() -> None:
    configured = plan_compilation(PYTORCH, "2.0", "ml.g4dn.xlarge", "jetson_xavier", REGION)
    chosen = choose(
        PYTORCH,
        PYTORCH.spec(REGION, "2.0", 30, configured, instance_type="ml.g4dn.xlarge"),
        timings("cpu", 30, 60),
        settings(TARGET_SELECTION="advisor", NEO_TARGET_DEVICE="jetson_xavier"),
    )
    assert chosen.instance_type == "ml.c5.large"
    assert (chosen.compilation.target_device, chosen.compilation.serve) == ("jetson_xavier", False)


@pytest.mark.parametrize("rows", ["2", "100"])
def test_request_rows_must_be_a_measured_batch(rows: str) -> None:
    with pytest.raises(ValueError, match="REQUEST_ROWS"):
        settings(REQUEST_ROWS=rows)
