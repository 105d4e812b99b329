"""The pytorch family: images per region and processor, what Neo takes, staged script-mode code."""

from __future__ import annotations

import io
import re
import tarfile
from typing import Any

import boto3
import pytest

from conveyor_core import families
from conveyor_core.families.pytorch import FAMILY as PYTORCH
from conveyor_core.families.pytorch import source_archive
from conveyor_core.intake.training_code import stage_training_code
from conveyor_core.release.compilation import plan_compilation


def test_the_family_is_found_by_name() -> None:
    assert families.get("pytorch") is PYTORCH


@pytest.mark.parametrize(
    ("instance_type", "tag"), [("ml.g4dn.xlarge", "2.0.1-gpu-py310"), ("ml.c5.xlarge", "2.0.1-cpu-py310")]
)
def test_the_uncompiled_model_is_served_by_the_dlc_image_for_the_instances_processor(
    instance_type: str, tag: str
) -> None:
    assert PYTORCH.serving_image("eu-west-1", "2.0", instance_type) == (
        f"763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:{tag}"
    )
    assert PYTORCH.training_image("cn-north-1", "2.0") == (
        "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training:2.0.1-cpu-py310"
    )


def test_neo_input_names_the_framework_version_and_the_input_shape_from_the_feature_count() -> None:
    assert PYTORCH.neo_input("2.0", 30) == {
        "Framework": "PYTORCH",
        "FrameworkVersion": "2.0",
        "DataInputConfig": '{"input0": [1, 30]}',
    }


@pytest.mark.parametrize(
    ("instance_type", "target", "compiles"),
    [
        ("ml.g4dn.xlarge", "", True),
        ("ml.p3.2xlarge", "", True),
        ("ml.c5.xlarge", "", True),
        ("ml.inf1.xlarge", "", False),
        ("ml.c5.xlarge", "jetson_nano", False),
    ],
)
def test_neo_compiles_for_cpu_and_gpu_instances_not_inferentia_nor_edge(
    instance_type: str, target: str, compiles: bool
) -> None:
    plan = plan_compilation(PYTORCH, "2.0", instance_type, target, region="us-east-1")
    assert plan.compile is compiles, plan.reason


def test_no_compile_where_neo_has_no_pytorch_image() -> None:
    plan = plan_compilation(PYTORCH, "2.0", "ml.g4dn.xlarge", region="ap-south-2")
    assert not plan.compile
    assert "no Neo PyTorch inference image in ap-south-2" in plan.reason


def test_metric_definitions_read_what_the_training_script_prints() -> None:
    line = "epoch 3/3 train:auc=0.999765 validation:auc=0.996501 validation:rmse=1e-3"
    found = {d["Name"]: float(m.group(1)) for d in PYTORCH.metric_definitions() if (m := re.search(d["Regex"], line))}
    assert found == {"train:auc": 0.999765, "validation:auc": 0.996501, "validation:rmse": 0.001}


def test_predictions_are_one_value_or_one_vector_per_row() -> None:
    assert PYTORCH.parse_predictions("0.25\n0.75\n", 2) == [0.25, 0.75]
    assert PYTORCH.parse_predictions("0.1,0.9\n0.8,0.2", 2) == [[0.1, 0.9], [0.8, 0.2]]
    assert PYTORCH.parse_predictions('{"predictions": [1]}', 1) is None
    assert PYTORCH.parse_predictions("0.5", 2) is None, "one answer for two rows is not the family's format"


def test_the_source_archive_holds_the_training_and_serving_scripts_and_is_named_by_their_content() -> None:
    files = PYTORCH.training_code()
    archive, digest = source_archive(files)
    _again, same_digest = source_archive(dict(reversed(list(files.items()))))
    with tarfile.open(fileobj=io.BytesIO(archive)) as opened:
        assert sorted(opened.getnames()) == ["inference.py", "train.py"]
    assert digest == same_digest
    assert source_archive({**files, "train.py": files["train.py"] + b"\n"})[1] != digest


def test_the_code_is_staged_once_and_named_in_the_hyperparameters(aws: None) -> None:
    s3: Any = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    first = stage_training_code(s3, "artifacts", PYTORCH)
    second = stage_training_code(s3, "artifacts", PYTORCH)
    assert first == second
    assert first["sagemaker_program"] == "train.py"
    uri = first["sagemaker_submit_directory"]
    assert re.fullmatch(r"s3://artifacts/code/pytorch/[0-9a-f]{16}/sourcedir\.tar\.gz", uri)
    versions = s3.list_object_versions(Bucket="artifacts").get("Versions", [])
    assert len(versions) == 1, "the second run found the archive and wrote nothing"
    assert stage_training_code(s3, "artifacts", families.get("xgboost")) == {}
