"""The template offers exactly the model families the layer package defines."""

from __future__ import annotations

from pathlib import Path

from conveyor_core import families
from localcloud.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_model_family_parameter_lists_every_family_and_defaults_to_one() -> None:
    parameter = load_template(TEMPLATE.read_text())["Parameters"]["ModelFamily"]
    assert set(parameter["AllowedValues"]) == set(families.all_families())
    assert parameter["Default"] in families.all_families()


def test_the_preprocess_function_is_told_the_family_and_its_overrides() -> None:
    resources = load_template(TEMPLATE.read_text())["Resources"]
    variables = resources["PreprocessFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MODEL_FAMILY"] == {"Ref": "ModelFamily"}
    assert variables["FRAMEWORK_VERSION"] == {"Ref": "FrameworkVersion"}
    assert variables["TRAINING_IMAGE"] == {"Ref": "TrainingImage"}
