"""A large drop's key list travels by reference (a claim check) instead of inside the run's input."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conveyor_core.intake.s3_io import split_uri
from conveyor_core.shared.contracts import DatasetRef, PipelineInput

# Well under Step Functions' 256 KiB per execution input and state, which also carry the run's
# own results; a few hundred keys stay inline, where the console and the history show them.
INLINE_KEYS_MAX_BYTES = 16 * 1024
KEY_LISTS_PREFIX = "drops/"


class KeyListError(ValueError):
    """The key list a run refers to is missing or does not describe this drop."""


def _encoded_size(keys: list[str]) -> int:
    return len(json.dumps(keys).encode())


def key_list_key(run_id: str) -> str:
    return f"{KEY_LISTS_PREFIX}{run_id}/keys.json"


def by_reference(s3_client: Any, bucket: str, run_id: str, dataset: DatasetRef) -> DatasetRef:
    """``dataset`` itself when its keys are small enough to pass inline, else a copy pointing at a list in S3.

    Written once per run name, so a repeated admission rewrites the very same document.
    """
    if not dataset.keys or _encoded_size(dataset.keys) <= INLINE_KEYS_MAX_BYTES:
        return dataset
    key = key_list_key(run_id)
    document = {"bucket": dataset.bucket, "drop": dataset.uri, "keys": dataset.keys}
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json")
    return dataset.model_copy(update={"keys": [], "keys_uri": f"s3://{bucket}/{key}", "key_count": len(dataset.keys)})


@dataclass(frozen=True, slots=True)
class KeyListStore:
    """Where admissions put the key lists of large drops: the artifact bucket, under ``drops/``."""

    s3_client: Any
    bucket: str

    def by_reference(self, run_id: str, dataset: DatasetRef) -> DatasetRef:
        return by_reference(self.s3_client, self.bucket, run_id, dataset)


def load_keys(s3_client: Any, dataset: DatasetRef) -> list[str]:
    """The drop's keys, inline or fetched from ``keys_uri`` and checked against the drop they belong to."""
    if dataset.keys or not dataset.keys_uri:
        return dataset.keys
    bucket, key = split_uri(dataset.keys_uri)
    try:
        document = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3_client.exceptions.NoSuchKey as error:
        raise KeyListError(f"the key list {dataset.keys_uri} of {dataset.uri} is missing") from error
    keys = document.get("keys") if isinstance(document, dict) else None
    if (
        not isinstance(keys, list)
        or not all(isinstance(item, str) for item in keys)
        or document.get("drop") != dataset.uri
        or document.get("bucket") != dataset.bucket
        or (dataset.key_count and len(keys) != dataset.key_count)
    ):
        raise KeyListError(f"{dataset.keys_uri} is not the key list of {dataset.uri}")
    return keys


def with_keys_inline(s3_client: Any, run: PipelineInput) -> PipelineInput:
    """The run as its handler works on it: every key in hand, however it travelled."""
    if run.dataset.keys:
        return run
    keys = load_keys(s3_client, run.dataset)
    return run.model_copy(update={"dataset": run.dataset.model_copy(update={"keys": keys})})
