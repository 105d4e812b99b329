"""Model families: discovery by name, and what the built-in XGBoost family tells the pipeline."""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest

from conveyor_core import families
from conveyor_core.families.base import ModelFamily
from conveyor_core.families.xgboost import FAMILY as XGBOOST
from conveyor_core.shared.contracts import CompilationPlan, FamilySpec


def test_every_module_that_defines_a_family_is_found_by_its_name() -> None:
    modules = {info.name for info in pkgutil.iter_modules(families.__path__)} - {"base"}
    found = families.all_families()
    assert set(found) >= {"xgboost", "pytorch"}
    assert len(found) == len(modules)
    assert all(isinstance(family, ModelFamily) for family in found.values())
    assert families.get("xgboost") is XGBOOST


def test_an_unknown_family_is_refused_with_the_known_ones() -> None:
    with pytest.raises(families.UnknownFamilyError, match=r"no model family 'lightgbm'; known: \['pytorch', 'xgboost'"):
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
    # The default is the newest version whose models Neo compiles.
    assert XGBOOST.version("") == "1.3-1"
    assert XGBOOST.version("1.7-1") == "1.7-1"
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


COMPILED = CompilationPlan(compile=True, serve=True, target_device="ml_c5", reason="compiled")


def test_the_spec_is_what_the_state_machine_hands_sagemaker() -> None:
    spec = XGBOOST.spec("us-west-2", "1.7-1", feature_count=30, compilation=COMPILED)
    image = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert spec == FamilySpec(
        name="xgboost",
        version="1.7-1",
        # A built-in algorithm publishes its own metrics: no MetricDefinitions.
        algorithm_specification={"TrainingImage": image, "TrainingInputMode": "File"},
        serving_image=image,
        content_type="text/csv",
        neo_input={"Framework": "XGBOOST"},
        compilation=COMPILED,
    )


def test_a_custom_training_image_also_serves_the_uncompiled_model() -> None:
    custom = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-xgboost:7"
    spec = XGBOOST.spec("us-east-1", "1.5-1", feature_count=4, compilation=COMPILED, training_image=custom)
    assert spec.algorithm_specification["TrainingImage"] == custom
    assert spec.serving_image == custom
    assert spec.version == "1.5-1"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("cn-north-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.3-1"),
        ("us-gov-west-1", "414596584902.dkr.ecr.us-gov-west-1.amazonaws.com/sagemaker-xgboost:1.3-1"),
        ("us-iso-east-1", "833128469047.dkr.ecr.us-iso-east-1.c2s.ic.gov/sagemaker-xgboost:1.3-1"),
        ("us-isob-east-1", "281123927165.dkr.ecr.us-isob-east-1.sc2s.sgov.gov/sagemaker-xgboost:1.3-1"),
        ("us-isof-south-1", "124985052026.dkr.ecr.us-isof-south-1.csp.hci.ic.gov/sagemaker-xgboost:1.3-1"),
        ("il-central-1", "898809789911.dkr.ecr.il-central-1.amazonaws.com/sagemaker-xgboost:1.3-1"),
    ],
)
def test_every_partitions_image_uses_its_own_ecr_domain(region: str, expected: str) -> None:
    assert XGBOOST.training_image(region, "1.3-1") == expected


def test_the_image_table_covers_every_region_sagemaker_publishes_xgboost_in() -> None:
    # The SageMaker Python SDK's xgboost.json lists 37 regions for the 1.x images.
    published = 37
    covered = [region for region in _all_regions() if _has_image(region)]
    assert len(covered) == published


@pytest.mark.parametrize(
    ("version", "target", "refused"),
    [
        ("1.3-1", "ml_c5", None),
        ("1.3-1", "ml_m5", None),
        ("1.3-1", "jetson_nano", None),
        ("1.7-1", "ml_c5", "Neo compiles XGBoost 1.3.3 or earlier"),
        ("1.5-1", "ml_c5", "Neo compiles XGBoost 1.3.3 or earlier"),
        ("1.3-1", "ml_g4dn", "runs on CPU only"),
        ("1.3-1", "ml_inf1", "runs on CPU only"),
    ],
)
def test_neo_compiles_xgboost_only_for_versions_and_targets_it_supports(
    version: str, target: str, refused: str | None
) -> None:
    refusal = XGBOOST.neo_refusal(version, target)
    assert (refusal is None) == (refused is None)
    if refused:
        assert refused in str(refusal)


def _all_regions() -> list[str]:
    from conveyor_core.families import xgboost

    return list(xgboost._IMAGE_ACCOUNTS)


def _has_image(region: str) -> bool:
    try:
        XGBOOST.training_image(region, "1.3-1")
    except ValueError:
        return False
    return True
