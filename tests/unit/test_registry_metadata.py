"""Model package metadata within CreateModelPackage's limits, checked against botocore's own model."""

from __future__ import annotations

import re

import botocore.session
import pytest

from conveyor_core.release.registry import MAX_VALUE_LENGTH, customer_metadata, escape, unescape

_METADATA_SHAPE = (
    botocore.session.get_session()
    .get_service_model("sagemaker")
    .operation_model("CreateModelPackage")
    .input_shape.members["CustomerMetadataProperties"]
)


def _violations(metadata: dict[str, str]) -> list[str]:
    key_shape, value_shape = _METADATA_SHAPE.key, _METADATA_SHAPE.value
    problems = []
    for key, value in metadata.items():
        if not key_shape.metadata["min"] <= len(key) <= key_shape.metadata["max"]:
            problems.append(f"key length {key}")
        if not value_shape.metadata["min"] <= len(value) <= value_shape.metadata["max"]:
            problems.append(f"value length {key}")
        # The documented class [\p{L}\p{Z}\p{N}_.:/=+\-@]: \w is letters, digits and "_" in Unicode.
        if not re.fullmatch(r"[\w\s.:/=+\-@]*", value):
            problems.append(f"value characters {key}")
    return problems


@pytest.mark.parametrize(
    "uri",
    [
        "s3://data/incoming/sales (Q3).csv",
        "s3://data/incoming/données de mars.csv",
        "s3://data/incoming/" + "deep/" * 80 + "part-0.csv",
        "s3://data/incoming/a&b$c#d%e!f*g?h;i,j'k[l]m{n}o~p^q|r\"s<t>u.csv",
        "s3://data/incoming/=already=escaped=.csv",
    ],
)
def test_metadata_built_from_any_s3_key_fits_sagemakers_limits(uri: str) -> None:
    metadata = customer_metadata({"dataset_uri": uri, "run_id": "churn-0123"})
    assert _violations(metadata) == []
    assert len(metadata["dataset_uri"]) <= MAX_VALUE_LENGTH


def test_the_escape_is_reversible_and_leaves_ordinary_text_alone() -> None:
    uri = "s3://data/incoming/sales (Q3) = 100%.csv"
    assert escape("s3://data/incoming/données de mars.csv") == "s3://data/incoming/données de mars.csv"
    assert escape(uri) == "s3://data/incoming/sales =28Q3=29 =3D 100=25.csv"
    assert unescape(escape(uri)) == uri


def test_a_long_value_is_cut_without_splitting_an_escape() -> None:
    value = customer_metadata({"k": "x" * 254 + "(("})["k"]
    assert value == "x" * 254
    assert len(customer_metadata({"k": "y" * 300})["k"]) == MAX_VALUE_LENGTH


def test_empty_values_are_left_out_and_too_many_entries_are_refused() -> None:
    assert customer_metadata({"a": "1", "b": ""}) == {"a": "1"}
    with pytest.raises(ValueError, match="at most 50"):
        customer_metadata({f"k{i}": "v" for i in range(51)})


def test_the_check_above_finds_what_sagemaker_refuses() -> None:
    assert _violations({"k": "sales (Q3).csv"}) == ["value characters k"]
    assert _violations({"k": "x" * 257}) == ["value length k"]
