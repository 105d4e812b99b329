"""dataset_keys.py: a large drop's key list goes to S3 and comes back intact, or fails loudly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from conveyor_core.intake.dataset_keys import (
    INLINE_KEYS_MAX_BYTES,
    KeyListError,
    KeyListStore,
    by_reference,
    key_list_key,
    load_keys,
    with_keys_inline,
)
from conveyor_core.shared.contracts import DatasetRef, PipelineInput

DROP_URI = "s3://data/incoming/big/"


def dataset(keys: list[str]) -> DatasetRef:
    return DatasetRef(bucket="data", keys=keys, uri=DROP_URI, kind="success-marker", identity="data|k|v")


def many_keys(count: int) -> list[str]:
    return [f"incoming/big/part-{index:05d}.csv" for index in range(count)]


def test_a_dataset_must_name_its_objects_one_way_or_the_other() -> None:
    with pytest.raises(ValidationError, match="keys_uri"):
        DatasetRef(bucket="data", uri=DROP_URI, kind="success-marker")
    assert DatasetRef(bucket="data", uri=DROP_URI, kind="k", keys_uri="s3://a/drops/r/keys.json").keys == []


def test_small_key_lists_stay_inline_and_nothing_is_written(s3: Any, artifact_bucket: str) -> None:
    small = dataset(many_keys(10))
    assert by_reference(s3, artifact_bucket, "run-1", small) is small
    assert "Contents" not in s3.list_objects_v2(Bucket=artifact_bucket)


def test_the_threshold_is_on_the_encoded_size(s3: Any, artifact_bucket: str) -> None:
    keys = many_keys(1)
    while len(json.dumps(keys)) <= INLINE_KEYS_MAX_BYTES:
        keys = many_keys(len(keys) + 1)
    just_under = dataset(keys[:-1])
    assert by_reference(s3, artifact_bucket, "run-1", just_under) is just_under
    passed = by_reference(s3, artifact_bucket, "run-1", dataset(keys))
    assert passed.keys == []
    assert passed.key_count == len(keys)


def test_large_key_lists_round_trip_through_s3(s3: Any, artifact_bucket: str) -> None:
    original = dataset(many_keys(10_000))
    passed = KeyListStore(s3, artifact_bucket).by_reference("run-1", original)
    assert passed.keys_uri == f"s3://{artifact_bucket}/{key_list_key('run-1')}"
    assert passed.key_count == 10_000
    assert passed.model_copy(update={"keys": original.keys, "keys_uri": None, "key_count": 0}) == original
    # What travels is a few hundred bytes, whatever the drop's size.
    assert len(passed.model_dump_json()) < 1024
    assert load_keys(s3, passed) == original.keys


def test_a_handler_gets_the_run_with_every_key_in_hand(s3: Any, artifact_bucket: str) -> None:
    original = dataset(many_keys(3000))
    run = PipelineInput(model="churn", run_id="run-1", dataset=by_reference(s3, artifact_bucket, "run-1", original))
    assert with_keys_inline(s3, run).dataset.keys == original.keys
    inline = PipelineInput(model="churn", run_id="run-2", dataset=dataset(["incoming/a.csv"]))
    assert with_keys_inline(s3, inline) is inline


def test_a_missing_key_list_is_a_clear_error(s3: Any, artifact_bucket: str) -> None:
    passed = by_reference(s3, artifact_bucket, "run-1", dataset(many_keys(3000)))
    s3.delete_object(Bucket=artifact_bucket, Key=key_list_key("run-1"))
    with pytest.raises(KeyListError, match="is missing"):
        load_keys(s3, passed)


@pytest.mark.parametrize(
    "document",
    [
        {"bucket": "data", "drop": "s3://data/incoming/other/", "keys": ["incoming/other/a.csv"]},
        {"bucket": "elsewhere", "drop": DROP_URI, "keys": many_keys(3000)},
        {"bucket": "data", "drop": DROP_URI, "keys": many_keys(2999)},
        {"bucket": "data", "drop": DROP_URI, "keys": [1, 2]},
        ["not", "an", "object"],
    ],
)
def test_a_key_list_for_another_drop_is_refused(s3: Any, artifact_bucket: str, document: Any) -> None:
    passed = by_reference(s3, artifact_bucket, "run-1", dataset(many_keys(3000)))
    s3.put_object(Bucket=artifact_bucket, Key=key_list_key("run-1"), Body=json.dumps(document).encode())
    with pytest.raises(KeyListError, match="is not the key list"):
        load_keys(s3, passed)
