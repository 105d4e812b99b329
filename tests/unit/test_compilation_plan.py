"""Whether a run compiles with Neo, for which target, and what the endpoint then serves."""

from __future__ import annotations

import pytest

from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.release.compilation import is_cloud_target, plan_compilation, target_for_instance


@pytest.mark.parametrize(
    ("instance_type", "target"),
    [
        ("ml.c5.xlarge", "ml_c5"),
        ("ml.g4dn.2xlarge", "ml_g4dn"),
        ("ml.m5.large", "ml_m5"),
        ("ml.inf1.xlarge", "ml_inf1"),
    ],
)
def test_the_target_is_the_instance_family(instance_type: str, target: str) -> None:
    assert target_for_instance(instance_type) == target


def test_a_name_that_is_not_an_instance_type_is_refused() -> None:
    with pytest.raises(ValueError, match="not a SageMaker instance type"):
        target_for_instance("c5.xlarge")


def test_an_empty_target_compiles_for_the_endpoints_instance_family_and_serves_it() -> None:
    plan = plan_compilation(XGBOOST, "1.3-1", "ml.c5.xlarge")
    assert (plan.compile, plan.serve, plan.target_device) == (True, True, "ml_c5")
    assert "served on ml.c5.xlarge with Neo's inference image" in plan.reason


def test_a_cloud_target_of_another_family_is_not_compiled_because_it_could_never_be_served() -> None:
    plan = plan_compilation(XGBOOST, "1.3-1", "ml.c5.xlarge", "ml_m5")
    assert (plan.compile, plan.serve) == (False, False)
    assert "ml_m5 is not the endpoint's instance family (ml.c5.xlarge)" in plan.reason


def test_an_edge_target_is_compiled_and_published_while_the_endpoint_serves_the_uncompiled_model() -> None:
    plan = plan_compilation(XGBOOST, "1.3-1", "ml.c5.xlarge", "jetson_nano")
    assert (plan.compile, plan.serve, plan.target_device) == (True, False, "jetson_nano")
    assert "published" in plan.reason
    assert "uncompiled model on ml.c5.xlarge" in plan.reason


@pytest.mark.parametrize(("version", "instance_type"), [("1.7-1", "ml.c5.xlarge"), ("1.3-1", "ml.g4dn.xlarge")])
def test_what_neo_does_not_compile_for_the_family_is_not_compiled_and_the_reason_says_why(
    version: str, instance_type: str
) -> None:
    plan = plan_compilation(XGBOOST, version, instance_type)
    assert (plan.compile, plan.serve) == (False, False)
    assert plan.reason.startswith("not compiled: ")
    assert plan.reason.removeprefix("not compiled: ") == XGBOOST.neo_refusal(
        version, target_for_instance(instance_type)
    )


def test_cloud_targets_are_the_ml_ones() -> None:
    assert is_cloud_target("ml_c5")
    assert not is_cloud_target("jetson_nano")


def test_no_cloud_compile_where_neo_has_no_inference_image_for_the_family() -> None:
    plan = plan_compilation(XGBOOST, "1.3-1", "ml.c5.xlarge", region="ca-west-1")
    assert (plan.compile, plan.serve) == (False, False)
    assert "no xgboost-neo inference image in ca-west-1" in plan.reason
    assert plan_compilation(XGBOOST, "1.3-1", "ml.c5.xlarge", region="eu-west-1").compile
