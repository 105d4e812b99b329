"""Model families: discovery by name, and what the built-in XGBoost family tells the pipeline."""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest

from conveyor_core import families
from conveyor_core.families.base import ModelFamily
from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.shared.contracts import FamilySpec


def test_every_module_that_defines_a_family_is_found_by_its_name() -> None:
    modules = {info.name for info in pkgutil.iter_modules(families.__path__)} - {"base"}
    found = families.all_families()
    assert set(found) >= {"xgboost"}
    assert len(found) == len(modules)
    assert all(isinstance(family, ModelFamily) for family in found.values())
    assert families.get("xgboost") is XGBOOST


def test_an_unknown_family_is_refused_with_the_known_ones() -> None:
    with pytest.raises(families.UnknownFamilyError, match=r"no model family 'lightgbm'; known: \['xgboost'"):
        families.get("lightgbm")


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
        ("eu-west-1", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
    ],
)
def test_the_built_in_image_is_the_regions_own(region: str, expected: str) -> None:
    assert XGBOOST.training_image(region, "1.7-1") == expected
    # SageMaker's built-in XGBoost serves with the image it trains with.
    assert XGBOOST.serving_image(region, "1.7-1") == expected


def test_a_region_without_a_mapped_image_asks_for_one() -> None:
    with pytest.raises(ValueError, match="set TrainingImage"):
        XGBOOST.training_image("xx-nowhere-1", "1.7-1")


def test_the_version_defaults_to_the_familys_first_and_an_unknown_one_is_refused() -> None:
    assert XGBOOST.version("") == "1.7-1"
    assert XGBOOST.version("1.3-1") == "1.3-1"
    with pytest.raises(ValueError, match=r"no framework version '2\.0-1'"):
        XGBOOST.version("2.0-1")


@pytest.mark.parametrize(
    ("objective", "kind"),
    [
        ("binary:logistic", "binary"),
        ("binary:hinge", "binary"),
        ("multi:softprob", "multiclass"),
        ("multi:softmax", "multiclass"),
        ("reg:squarederror", "regression"),
        ("count:poisson", "regression"),
    ],
)
def test_the_objective_decides_what_the_label_means(objective: str, kind: str) -> None:
    task = XGBOOST.label_task({"objective": objective})
    assert (task.kind, task.described_as) == (kind, f"objective {objective}")
    assert task.is_classification == (kind != "regression")


def test_without_an_objective_xgboost_regresses() -> None:
    assert XGBOOST.label_task({}).kind == "regression"


def test_a_multi_class_objective_gets_num_class_from_the_largest_label() -> None:
    derived = XGBOOST.derived_hyperparameters({"objective": "multi:softprob"}, {"0": 3, "4": 2})
    assert derived == {"objective": "multi:softprob", "num_class": "5"}


def test_other_objectives_and_explicit_num_class_are_left_alone() -> None:
    assert XGBOOST.derived_hyperparameters({"objective": "binary:logistic"}, {"0": 1, "1": 1}) == {
        "objective": "binary:logistic"
    }
    assert XGBOOST.derived_hyperparameters({"objective": "multi:softmax", "num_class": "9"}, {"0": 1, "2": 1}) == {
        "objective": "multi:softmax",
        "num_class": "9",
    }


@pytest.mark.parametrize(
    ("body", "rows", "expected"),
    [
        ("0.1\n0.9\n", 2, [0.1, 0.9]),
        ("0.1,0.9", 2, [0.1, 0.9]),
        ("0.25", 1, [0.25]),
        ("0.1,0.9\n0.8,0.2\n", 2, [[0.1, 0.9], [0.8, 0.2]]),
        ("body", 1, None),
    ],
)
def test_predictions_parse_both_xgboost_answer_shapes(body: str, rows: int, expected: Any) -> None:
    assert XGBOOST.parse_predictions(body, rows) == expected


def test_the_spec_is_what_the_state_machine_hands_sagemaker() -> None:
    spec = XGBOOST.spec("us-west-2", "", feature_count=30)
    image = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert spec == FamilySpec(
        name="xgboost",
        version="1.7-1",
        # A built-in algorithm publishes its own metrics: no MetricDefinitions.
        algorithm_specification={"TrainingImage": image, "TrainingInputMode": "File"},
        serving_image=image,
        content_type="text/csv",
        neo_input={"Framework": "XGBOOST"},
    )


def test_a_custom_training_image_also_serves_the_uncompiled_model() -> None:
    custom = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-xgboost:7"
    spec = XGBOOST.spec("us-east-1", "1.5-1", feature_count=4, training_image=custom)
    assert spec.algorithm_specification["TrainingImage"] == custom
    assert spec.serving_image == custom
    assert spec.version == "1.5-1"
