"""drops.py: key validation, key classification, manifests, _SUCCESS parts, idempotency and execution names."""

from __future__ import annotations

import json
import re

import pytest

from conveyor_core.intake.drops import (
    MAX_KEY_LENGTH,
    DropKind,
    InvalidDropError,
    KeyDecision,
    classify_key,
    execution_name,
    idempotency_key,
    is_folder_placeholder,
    is_safe_key,
    parse_manifest,
    select_success_parts,
    validate_key,
)

PREFIX = "incoming/"


# --- validate_key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "incoming/churn-2026-11-23.csv",
        "incoming/churn_2026.csv.gz",
        "incoming/2026-11-23/part-0000.csv",
        "incoming/a/b/c/_SUCCESS",
        "incoming/batch(1)/manifest.json",
        "incoming/it's!*.csv",
        "incoming/x." + "a" * 100 + ".csv",
    ],
)
def test_validate_key_accepts_safe_keys_under_the_prefix(key: str) -> None:
    validate_key(key, PREFIX)


def test_validate_key_accepts_a_key_of_exactly_the_maximum_length() -> None:
    key = PREFIX + "a" * (MAX_KEY_LENGTH - len(PREFIX) - 4) + ".csv"
    assert len(key) == MAX_KEY_LENGTH
    validate_key(key, PREFIX)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("other/data.csv", "key-outside-prefix"),
        ("incomingdata.csv", "key-outside-prefix"),
        ("Incoming/data.csv", "key-outside-prefix"),
        ("incoming/" + "a" * MAX_KEY_LENGTH + ".csv", "key-too-long"),
        ("incoming/my data.csv", "unsafe-key-characters"),
        ("incoming/tab\tdata.csv", "unsafe-key-characters"),
        ("incoming/données.csv", "unsafe-key-characters"),
        ("incoming/\u202ecsv.exe", "unsafe-key-characters"),
        ("incoming/a;rm -rf.csv", "unsafe-key-characters"),
        ("incoming/a$b.csv", "unsafe-key-characters"),
        ("incoming/../secret.csv", "unsafe-key-path"),
        ("incoming/a/../b.csv", "unsafe-key-path"),
        ("incoming/./b.csv", "unsafe-key-path"),
        ("incoming/a//b.csv", "unsafe-key-path"),
        ("incoming//b.csv", "unsafe-key-path"),
        ("incoming/folder/", "unsafe-key-path"),
        ("incoming/", "unsafe-key-path"),
    ],
)
def test_validate_key_rejects_unsafe_keys_with_a_machine_readable_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidDropError) as caught:
        validate_key(key, PREFIX)
    assert caught.value.reason == reason
    assert caught.value.detail
    assert str(caught.value).startswith(f"{reason}: ")


def test_validate_key_rejects_too_long_before_judging_characters() -> None:
    # A long key with a space still reports the length, the first rule it breaks.
    with pytest.raises(InvalidDropError) as caught:
        validate_key("incoming/" + " " * MAX_KEY_LENGTH, PREFIX)
    assert caught.value.reason == "key-too-long"


def test_key_length_is_counted_in_utf8_bytes_as_s3_counts_it() -> None:
    key = PREFIX + "é" * (MAX_KEY_LENGTH // 2)
    assert len(key) <= MAX_KEY_LENGTH < len(key.encode())
    with pytest.raises(InvalidDropError) as caught:
        validate_key(key, PREFIX)
    assert caught.value.reason == "key-too-long"


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("incoming/a.csv", True),
        ("other/a.csv", True),
        ("incoming/my data.csv", False),
        ("incoming/../a.csv", False),
        ("incoming/" + "a" * MAX_KEY_LENGTH, False),
    ],
)
def test_is_safe_key_judges_a_key_wherever_it_lives(key: str, safe: bool) -> None:
    assert is_safe_key(key) is safe


@pytest.mark.parametrize(
    ("key", "size", "placeholder"),
    [("incoming/2026/", 0, True), ("incoming/", 0, True), ("incoming/2026/", 3, False), ("incoming/a.csv", 0, False)],
)
def test_folder_placeholders_are_empty_keys_ending_in_a_slash(key: str, size: int, placeholder: bool) -> None:
    assert is_folder_placeholder(key, size) is placeholder


def test_invalid_drop_error_is_a_value_error() -> None:
    assert issubclass(InvalidDropError, ValueError)


# --- classify_key -------------------------------------------------------------------------------


def test_classify_single_object_at_top_level_starts_a_single_object_drop() -> None:
    result = classify_key("incoming/churn.csv", PREFIX)
    assert result.decision is KeyDecision.START
    assert result.kind is DropKind.SINGLE_OBJECT
    assert result.drop_prefix == "incoming/churn.csv"


def test_classify_gzipped_single_object_starts_a_drop() -> None:
    result = classify_key("incoming/churn.csv.gz", PREFIX)
    assert (result.decision, result.kind) == (KeyDecision.START, DropKind.SINGLE_OBJECT)


@pytest.mark.parametrize("key", ["incoming/2026-11-23/part-0000.csv", "incoming/2026-11-23/part-0001.csv.gz"])
def test_classify_part_in_a_folder_waits_for_the_marker(key: str) -> None:
    result = classify_key(key, PREFIX)
    assert result.decision is KeyDecision.PART_OF_FOLDER
    assert result.kind is None
    assert result.drop_prefix == "incoming/2026-11-23/"


def test_classify_success_marker_starts_a_folder_drop() -> None:
    result = classify_key("incoming/2026-11-23/_SUCCESS", PREFIX)
    assert result.decision is KeyDecision.START
    assert result.kind is DropKind.SUCCESS_MARKER
    assert result.drop_prefix == "incoming/2026-11-23/"


def test_classify_manifest_starts_a_manifest_drop_with_its_nested_folder_as_prefix() -> None:
    result = classify_key("incoming/a/b/manifest.json", PREFIX)
    assert result.decision is KeyDecision.START
    assert result.kind is DropKind.MANIFEST
    assert result.drop_prefix == "incoming/a/b/"


@pytest.mark.parametrize(
    "key",
    ["incoming/readme.txt", "incoming/data.json", "incoming/data.CSV", "incoming/_SUCCESS", "incoming/manifest.json"],
)
def test_classify_top_level_non_data_files_are_unsupported(key: str) -> None:
    # Nothing would ever complete them, so they must not wait silently.
    result = classify_key(key, PREFIX)
    assert result.decision is KeyDecision.UNSUPPORTED
    assert result.kind is None
    assert result.drop_prefix == key


@pytest.mark.parametrize(
    ("key", "drop_prefix"),
    [
        ("incoming/folder/notes.txt", "incoming/folder/"),
        ("incoming/folder/data.csv.bak", "incoming/folder/"),
        ("incoming/folder/_success", "incoming/folder/"),
    ],
)
def test_classify_non_data_files_in_a_folder_are_not_data(key: str, drop_prefix: str) -> None:
    result = classify_key(key, PREFIX)
    assert result.decision is KeyDecision.NOT_DATA
    assert result.kind is None
    assert result.drop_prefix == drop_prefix


# --- parse_manifest -----------------------------------------------------------------------------


def test_parse_manifest_returns_full_keys_in_manifest_order() -> None:
    body = json.dumps({"parts": ["part-0001.csv", "part-0000.csv.gz"], "note": "ignored"}).encode()
    assert parse_manifest(body, "incoming/d/") == ["incoming/d/part-0001.csv", "incoming/d/part-0000.csv.gz"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'"parts"',
        b"{}",
        b'{"parts": []}',
        b'{"parts": "part-0000.csv"}',
        b'{"parts": [1, 2]}',
        b'{"parts": null}',
        b'{"Parts": ["part-0000.csv"]}',
    ],
)
def test_parse_manifest_rejects_bad_json_or_a_missing_parts_list(body: bytes) -> None:
    with pytest.raises(InvalidDropError) as caught:
        parse_manifest(body, "incoming/d/")
    assert caught.value.reason == "bad-manifest"


@pytest.mark.parametrize(
    "part",
    ["sub/part-0000.csv", "../part-0000.csv", "/abs.csv", "part-0000.txt", "part-0000.csv.zip", "part.CSV", ""],
)
def test_parse_manifest_rejects_nested_paths_and_wrong_suffixes(part: str) -> None:
    body = json.dumps({"parts": ["ok.csv", part]}).encode()
    with pytest.raises(InvalidDropError) as caught:
        parse_manifest(body, "incoming/d/")
    assert caught.value.reason == "bad-manifest"
    assert repr(part)[1:-1] in caught.value.detail


def test_parse_manifest_rejects_a_part_with_unsafe_characters() -> None:
    body = json.dumps({"parts": ["my part.csv"]}).encode()
    with pytest.raises(InvalidDropError) as caught:
        parse_manifest(body, "incoming/d/")
    assert caught.value.reason == "unsafe-key-characters"


# --- select_success_parts -----------------------------------------------------------------------


def test_select_success_parts_keeps_only_direct_data_children_sorted() -> None:
    listed = [
        "incoming/d/part-0002.csv",
        "incoming/d/_SUCCESS",
        "incoming/d/part-0000.csv.gz",
        "incoming/d/readme.txt",
        "incoming/d/nested/part-0009.csv",
        "incoming/d/part-0001.csv",
        "incoming/other/part-0000.csv",
        "incoming/dx/part-0000.csv",
    ]
    assert select_success_parts(listed, "incoming/d/") == [
        "incoming/d/part-0000.csv.gz",
        "incoming/d/part-0001.csv",
        "incoming/d/part-0002.csv",
    ]


def test_select_success_parts_of_a_folder_with_no_data_is_empty() -> None:
    assert select_success_parts(["incoming/d/_SUCCESS", "incoming/d/x.txt"], "incoming/d/") == []


# --- idempotency_key ----------------------------------------------------------------------------


def test_idempotency_key_is_identical_for_identical_input() -> None:
    for args in [
        ("bucket", "incoming/a.csv", "v1", '"etag1"', "0055AED6DCD90281E5"),
        ("bucket", "incoming/a.csv", None, '"etag1"', "0055AED6DCD90281E5"),
    ]:
        assert idempotency_key(*args) == idempotency_key(*args)


@pytest.mark.parametrize(
    "changed",
    [
        ("other-bucket", "incoming/a.csv", "v1", "e1", "s1"),
        ("bucket", "incoming/b.csv", "v1", "e1", "s1"),
        ("bucket", "incoming/a.csv", "v2", "e1", "s1"),
        ("bucket", "incoming/a.csv", None, "e1", "s1"),
    ],
)
def test_idempotency_key_differs_for_another_bucket_key_or_version(changed: tuple[str | None, ...]) -> None:
    base = idempotency_key("bucket", "incoming/a.csv", "v1", "e1", "s1")
    assert idempotency_key(*changed) != base  # type: ignore[arg-type]


def test_idempotency_key_of_a_versioned_write_ignores_etag_and_sequencer() -> None:
    # A re-delivered event for the same object version is the same write, whatever else it carries.
    assert idempotency_key("b", "incoming/a.csv", "v1", "e1", "s1") == idempotency_key(
        "b", "incoming/a.csv", "v1", None, "s2"
    )


@pytest.mark.parametrize("version_id", [None, "", "null"])
@pytest.mark.parametrize(
    ("etag", "sequencer"),
    [("e2", "s1"), ("e1", "s2"), (None, "s1"), ("e1", None)],
)
def test_idempotency_key_of_an_unversioned_write_differs_when_etag_or_sequencer_differs(
    version_id: str | None, etag: str | None, sequencer: str | None
) -> None:
    base = idempotency_key("b", "incoming/a.csv", version_id, "e1", "s1")
    assert idempotency_key("b", "incoming/a.csv", version_id, etag, sequencer) != base


def test_null_version_id_counts_as_unversioned() -> None:
    # S3 reports objects written before versioning was enabled with the version id "null".
    assert idempotency_key("b", "incoming/a.csv", "null", "e", "s") == idempotency_key(
        "b", "incoming/a.csv", None, "e", "s"
    )


# --- execution_name -----------------------------------------------------------------------------

_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def test_execution_name_is_deterministic() -> None:
    assert execution_name("churn", "b|k|v|e|s") == execution_name("churn", "b|k|v|e|s")


def test_execution_name_differs_for_different_identities() -> None:
    assert execution_name("churn", "b|k|v1|e|s") != execution_name("churn", "b|k|v2|e|s")


@pytest.mark.parametrize(
    "model_name",
    ["m", "churn", "a" * 31, "churn-model-2026", "x" * 40, "y" * 200],
)
@pytest.mark.parametrize("identity", ["", "b|incoming/a b c/ü.csv|v|e|s", "z" * 5000])
def test_execution_name_is_at_most_80_safe_characters(model_name: str, identity: str) -> None:
    name = execution_name(model_name, identity)
    assert _EXECUTION_NAME.fullmatch(name), name
    assert name.startswith(model_name[:40] + "-")
