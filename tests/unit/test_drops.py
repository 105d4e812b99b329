"""drops.py: key validation, key classification, manifests, _SUCCESS parts, idempotency and execution names."""

from __future__ import annotations

import json
import re

import pytest

from conveyor_core.intake.drops import (
    MAX_KEY_LENGTH,
    SKIPPED_LISTED,
    DropKind,
    InvalidDropError,
    KeyDecision,
    classify_key,
    execution_name,
    idempotency_key,
    is_folder_placeholder,
    is_safe_key,
    parse_manifest,
    pinned_version,
    select_success_parts,
    skipped_objects,
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
        # Keys people type: spaces, accents, any script, punctuation, even shell syntax (never run).
        "incoming/données de mars.csv",
        "incoming/sales Q3 (final).csv",
        "incoming/Продажи 2026.csv",
        "incoming/売上データ.csv",
        "incoming/مبيعات.csv",
        "incoming/گزارش\u200cها.csv",  # noqa: RUF001 (Persian needs the zero-width non-joiner)
        "incoming/family \U0001f468\u200d\U0001f469\u200d\U0001f467.csv",
        "incoming/a;rm -rf.csv",
        'incoming/x$(touch pwned)`id`&|<>"#%{}^~[]@=+,.csv',
        "incoming/2026 11 23/part 0.csv",
        "incoming/ leading and trailing .csv",
        "incoming/NFD donne\u0301es.csv",
    ],
)
def test_validate_key_accepts_every_key_people_write(key: str) -> None:
    validate_key(key, PREFIX)


def test_validate_key_accepts_a_key_of_exactly_the_maximum_length() -> None:
    key = PREFIX + "a" * (MAX_KEY_LENGTH - len(PREFIX) - 4) + ".csv"
    assert len(key) == MAX_KEY_LENGTH
    validate_key(key, PREFIX)


def test_validate_key_accepts_a_multibyte_key_of_exactly_the_maximum_bytes() -> None:
    key = PREFIX + "é" * ((MAX_KEY_LENGTH - len(PREFIX) - 4) // 2) + ".csv"
    assert len(key.encode()) == MAX_KEY_LENGTH - 1
    validate_key(key, PREFIX)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("other/data.csv", "key-outside-prefix"),
        ("incomingdata.csv", "key-outside-prefix"),
        ("Incoming/data.csv", "key-outside-prefix"),
        ("incoming/" + "a" * MAX_KEY_LENGTH + ".csv", "key-too-long"),
        ("incoming/lone \udc80 surrogate.csv", "key-not-utf8"),
        ("incoming/tab\tdata.csv", "key-control-characters"),
        ("incoming/new\nline.csv", "key-control-characters"),
        ("incoming/nul\x00.csv", "key-control-characters"),
        ("incoming/escape\x1b[31m.csv", "key-control-characters"),
        ("incoming/del\x7f.csv", "key-control-characters"),
        ("incoming/c1\x85.csv", "key-control-characters"),
        ("incoming/c1\x9b.csv", "key-control-characters"),
        ("incoming/\ufeffbom.csv", "key-control-characters"),
        ("incoming/\u202ecsv.exe", "key-control-characters"),
        ("incoming/report\u2066isolate\u2069.csv", "key-control-characters"),
        ("incoming/rlm\u200f.csv", "key-control-characters"),
        ("incoming/line\u2028separator.csv", "key-control-characters"),
        ("incoming/para\u2029separator.csv", "key-control-characters"),
        ("incoming/non\uffffcharacter.csv", "key-control-characters"),
        ("incoming/../secret.csv", "unsafe-key-path"),
        ("incoming/a/../b.csv", "unsafe-key-path"),
        ("incoming/./b.csv", "unsafe-key-path"),
        ("incoming/a//b.csv", "unsafe-key-path"),
        ("incoming//b.csv", "unsafe-key-path"),
        ("incoming/folder/", "unsafe-key-path"),
        ("incoming/", "unsafe-key-path"),
        ("incoming/données/../b.csv", "unsafe-key-path"),
    ],
)
def test_validate_key_refuses_only_traversal_control_characters_and_oversize(key: str, reason: str) -> None:
    with pytest.raises(InvalidDropError) as caught:
        validate_key(key, PREFIX)
    assert caught.value.reason == reason
    assert caught.value.detail
    assert str(caught.value).startswith(f"{reason}: ")


def test_a_refused_character_is_named_by_its_code_point_never_written_raw() -> None:
    with pytest.raises(InvalidDropError) as caught:
        validate_key("incoming/a\x1b[2Jb.csv", PREFIX)
    assert "U+001B" in caught.value.detail
    assert "character 10" in caught.value.detail
    assert "\x1b" not in str(caught.value)
    assert caught.value.detail.isprintable()


def test_validate_key_rejects_too_long_before_judging_characters() -> None:
    # A long key with a control character still reports the length, the first rule it breaks.
    with pytest.raises(InvalidDropError) as caught:
        validate_key("incoming/" + "\t" * MAX_KEY_LENGTH, PREFIX)
    assert caught.value.reason == "key-too-long"


def test_key_length_is_counted_in_utf8_bytes_as_s3_counts_it() -> None:
    key = PREFIX + "é" * (MAX_KEY_LENGTH // 2)
    assert len(key) <= MAX_KEY_LENGTH < len(key.encode())
    with pytest.raises(InvalidDropError) as caught:
        validate_key(key, PREFIX)
    assert caught.value.reason == "key-too-long"
    assert f"{len(key.encode())} bytes" in caught.value.detail


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("incoming/a.csv", True),
        ("other/a.csv", True),
        ("incoming/it's (1)!.csv", False),
        ("incoming/my data.csv", False),
        ("incoming/données.csv", False),
        ("incoming/tab\t.csv", False),
        ("incoming/../a.csv", False),
        ("incoming/" + "a" * MAX_KEY_LENGTH, False),
    ],
)
def test_is_safe_key_allows_only_plain_names_to_be_reused_verbatim(key: str, safe: bool) -> None:
    # Accepted keys with spaces or accents are processed, but a derived name uses their digest.
    assert is_safe_key(key) is safe


@pytest.mark.parametrize(
    ("version_id", "pinned"), [("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", True), ("null", False), (None, False), ("", False)]
)
def test_only_a_real_version_id_pins_a_drop(version_id: str | None, pinned: bool) -> None:
    assert pinned_version(version_id) is pinned


def test_execution_names_of_any_key_are_plain_and_short() -> None:
    for key in ("incoming/données de mars.csv", "incoming/a\udc80.csv", "incoming/x$(id).csv"):
        name = execution_name("tabular", f"bucket|{key}|v1")
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)


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


def test_parse_manifest_accepts_parts_named_as_people_name_them() -> None:
    body = json.dumps({"parts": ["my part.csv", "données été.csv.gz"]}).encode()
    assert parse_manifest(body, "incoming/d é/") == ["incoming/d é/my part.csv", "incoming/d é/données été.csv.gz"]


def test_parse_manifest_rejects_a_part_with_control_characters() -> None:
    body = json.dumps({"parts": ["my\u001b[2Jpart.csv"]}).encode()
    with pytest.raises(InvalidDropError) as caught:
        parse_manifest(body, "incoming/d/")
    assert caught.value.reason == "key-control-characters"


def test_a_bad_manifest_part_is_quoted_with_its_control_characters_escaped() -> None:
    body = json.dumps({"parts": ["evil\u001b[2J.txt"]}).encode()
    with pytest.raises(InvalidDropError) as caught:
        parse_manifest(body, "incoming/d/")
    assert caught.value.reason == "bad-manifest"
    assert "\x1b" not in caught.value.detail
    assert "evil\\x1b[2J.txt" in caught.value.detail


# --- select_success_parts -----------------------------------------------------------------------


def test_select_success_parts_keeps_only_direct_non_empty_data_children_sorted() -> None:
    listed = {
        "incoming/d/part-0002.csv": 10,
        "incoming/d/_SUCCESS": 0,
        "incoming/d/part-0000.csv.gz": 10,
        "incoming/d/readme.txt": 10,
        "incoming/d/nested/part-0009.csv": 10,
        "incoming/d/part-0001.csv": 10,
        "incoming/d/part-0003.csv": 0,
        "incoming/other/part-0000.csv": 10,
        "incoming/dx/part-0000.csv": 10,
    }
    assert select_success_parts(listed, "incoming/d/") == [
        "incoming/d/part-0000.csv.gz",
        "incoming/d/part-0001.csv",
        "incoming/d/part-0002.csv",
    ]
    assert skipped_objects(listed, "incoming/d/") == [
        "incoming/d/part-0003.csv: zero bytes",
        "incoming/d/readme.txt: not a .csv or .csv.gz file",
    ]


def test_select_success_parts_of_a_folder_with_no_data_is_empty() -> None:
    assert select_success_parts({"incoming/d/_SUCCESS": 0, "incoming/d/x.txt": 3}, "incoming/d/") == []


def test_skipped_objects_are_listed_up_to_a_bound_then_counted() -> None:
    listed = {f"incoming/d/notes-{n:02d}.txt": 1 for n in range(SKIPPED_LISTED + 5)}
    skipped = skipped_objects(listed, "incoming/d/")
    assert len(skipped) == SKIPPED_LISTED + 1
    assert skipped[-1] == "and 5 more"


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
