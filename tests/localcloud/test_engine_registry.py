"""The offline engines are found from the model families, never by a family's name."""

from __future__ import annotations

import pytest

from conveyor_core.families import all_families
from localcloud.sagemaker_engine import engines
from localcloud.sagemaker_engine.xgboost_engine import ENGINE as XGBOOST_ENGINE


def test_every_family_has_an_engine_keyed_by_its_image_repository() -> None:
    assert set(engines.by_repository()) == {family.image_repository for family in all_families().values()}


@pytest.mark.parametrize(
    "image",
    [
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost@sha256:0123abcd",
    ],
)
def test_a_training_image_selects_its_familys_engine(image: str) -> None:
    assert engines.for_training_image(image) is XGBOOST_ENGINE


def test_an_image_no_family_owns_is_refused_with_a_reason() -> None:
    with pytest.raises(
        engines.NoEngineError, match=r"no engine for the image .*/my-own:1; it runs .*sagemaker-xgboost"
    ):
        engines.for_training_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own:1")


def test_a_neo_framework_selects_the_engine_that_compiles_it() -> None:
    assert engines.for_framework("xgboost") is XGBOOST_ENGINE
    assert engines.for_framework("PYTORCH").neo_frameworks == ("PYTORCH",)
    with pytest.raises(engines.NoEngineError, match="handles PYTORCH, XGBOOST; got MXNET"):
        engines.for_framework("MXNET")


def test_an_artefact_is_loaded_by_the_engine_that_wrote_it() -> None:
    assert engines.for_artefact({"xgboost-model": b"..."}) is XGBOOST_ENGINE
    assert engines.for_artefact({"compiled.json": b"{}", "model.so": b""}) is XGBOOST_ENGINE
    with pytest.raises(engines.NoEngineError, match=r"holding \['model.pt'\]"):
        engines.for_artefact({"model.pt": b""})
