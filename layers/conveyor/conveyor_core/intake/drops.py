"""Dataset drops: which uploaded objects make up one dataset, and when it is complete.

A drop is either
* one object directly under the incoming prefix (``incoming/churn-2026-11-23.csv``), or
* a folder (``incoming/2026-11-23/part-0000.csv`` ...) that is complete once a marker lands in it:
  ``_SUCCESS`` (every data object in the folder) or ``manifest.json`` (exactly the listed parts).

Part files inside a folder never start a run by themselves, so a burst of 10,000 parts starts
exactly one run: the one for the marker.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

SUCCESS_MARKER = "_SUCCESS"
MANIFEST_MARKER = "manifest.json"
DATA_SUFFIXES = (".csv", ".csv.gz")
# S3 allows keys of 1024 bytes of UTF-8. Half of that leaves room for what a key is carried into:
# a plain key's quarantine copy keeps its name under ``quarantine/<execution name, <= 80>/``, and
# the ``s3://<bucket, <= 63>/<key>`` URI a run records stays within the 1024 characters that S3
# keys and SageMaker's S3Uri fields allow. No dataset name people type comes near it.
MAX_KEY_LENGTH = 512

# S3's "safe characters" (letters, digits, ! - _ . * ' ( ) and /): a key made only of these is
# reused verbatim inside another name (a quarantine copy's); any other key is named by a digest.
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")

# Invisible characters that make a name read differently from what it is ("Trojan Source"): the
# byte order mark and the bidirectional embeddings, overrides and isolates. Joiners (U+200C/D)
# are letters' business in Persian, Indic scripts and emoji, and stay allowed.
_INVISIBLE_FORMATTING = (
    frozenset("\ufeff\u061c\u200e\u200f")
    | frozenset(map(chr, range(0x202A, 0x202F)))
    | frozenset(map(chr, range(0x2066, 0x206A)))
)


def _refused_character(character: str) -> str | None:
    """What makes ``character`` unfit for a key people type, or None when it is fine."""
    category = unicodedata.category(character)
    if category == "Cc":
        return "a control character"  # C0, DEL and C1
    if category in ("Zl", "Zp"):
        return "a line or paragraph separator"
    if character in _INVISIBLE_FORMATTING:
        return "an invisible bidirectional or byte-order mark"
    code = ord(character)
    if code & 0xFFFE == 0xFFFE or 0xFDD0 <= code <= 0xFDEF:
        return "a Unicode noncharacter (not representable in S3's XML listings)"
    return None


class DropKind(StrEnum):
    SINGLE_OBJECT = "single-object"
    SUCCESS_MARKER = "success-marker"
    MANIFEST = "manifest"
    # A folder with no marker whose last part landed DropQuietSeconds ago (the drop sweeper's).
    QUIET_PERIOD = "quiet-period"


class KeyDecision(StrEnum):
    START = "start"
    PART_OF_FOLDER = "part-of-folder"
    NOT_DATA = "not-data"
    # A top-level object that is neither data nor in a folder: nothing will ever complete it.
    UNSUPPORTED = "unsupported"


class InvalidDropError(ValueError):
    """The drop cannot be used (refused key, bad marker or manifest); ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Classification:
    decision: KeyDecision
    kind: DropKind | None
    drop_prefix: str


def key_problem(key: str, incoming_prefix: str = "") -> InvalidDropError | None:
    """Why S3 accepted ``key`` but we must not process it, or None when it is a key people write.

    Any script, spaces and punctuation are fine: the key is data, never interpolated into a name,
    a command or a document's syntax (derived names use a digest, documents are JSON). Refused:
    a key outside the prefix, an oversize key, one that is not UTF-8 (a lone surrogate in the
    event), control and invisible bidirectional characters, and empty, '.' or '..' segments.
    The detail names a refused character by its code point, never by the character itself.
    """
    if not key.startswith(incoming_prefix):
        return InvalidDropError("key-outside-prefix", f"key is outside the '{incoming_prefix}' prefix")
    try:
        size = len(key.encode())
    except UnicodeEncodeError:
        return InvalidDropError("key-not-utf8", "key is not valid UTF-8 (it holds a lone surrogate code point)")
    if size > MAX_KEY_LENGTH:
        return InvalidDropError("key-too-long", f"key is {size} bytes of UTF-8, longer than {MAX_KEY_LENGTH}")
    for position, character in enumerate(key):
        if what := _refused_character(character):
            return InvalidDropError(
                "key-control-characters",
                f"key holds U+{ord(character):04X} ({what}) at character {position}: rename the object",
            )
    segments = key[len(incoming_prefix) :].split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return InvalidDropError("unsafe-key-path", "key has an empty, '.' or '..' path segment")
    return None


def validate_key(key: str, incoming_prefix: str) -> None:
    """Reject keys we will not process, with a machine-readable reason."""
    if problem := key_problem(key, incoming_prefix):
        raise problem


def is_safe_key(key: str) -> bool:
    """Whether ``key`` may be reused verbatim inside another key (a quarantine copy's name).

    Stricter than what is processed: only S3's safe characters, so a derived name stays plain
    ASCII whatever tool lists it; every other accepted key is named by a digest instead.
    """
    return key_problem(key) is None and _PLAIN_KEY.fullmatch(key) is not None


def is_folder_placeholder(key: str, size: int) -> bool:
    """The empty ``folder/`` object the S3 console's "Create folder" writes: not a dataset."""
    return key.endswith("/") and size == 0


def classify_key(key: str, incoming_prefix: str) -> Classification:
    """Decide what an arriving (already validated) key means for its drop."""
    relative = key[len(incoming_prefix) :]
    folder, _, name = relative.rpartition("/")
    drop_prefix = f"{incoming_prefix}{folder}/" if folder else key
    if folder:
        if name == SUCCESS_MARKER:
            return Classification(KeyDecision.START, DropKind.SUCCESS_MARKER, drop_prefix)
        if name == MANIFEST_MARKER:
            return Classification(KeyDecision.START, DropKind.MANIFEST, drop_prefix)
        if name.endswith(DATA_SUFFIXES):
            return Classification(KeyDecision.PART_OF_FOLDER, None, drop_prefix)
        return Classification(KeyDecision.NOT_DATA, None, drop_prefix)
    if name.endswith(DATA_SUFFIXES):
        return Classification(KeyDecision.START, DropKind.SINGLE_OBJECT, key)
    return Classification(KeyDecision.UNSUPPORTED, None, key)


def parse_manifest(body: bytes, drop_prefix: str) -> list[str]:
    """Return the full keys a manifest names.

    The manifest is ``{"parts": ["part-0000.csv", ...]}`` with names relative to its folder.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidDropError("bad-manifest", f"manifest is not valid JSON: {error}") from error
    parts = document.get("parts") if isinstance(document, dict) else None
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
        raise InvalidDropError("bad-manifest", "manifest must be an object with a non-empty 'parts' list of names")
    keys = [f"{drop_prefix}{part}" for part in parts]
    for key, part in zip(keys, parts, strict=True):
        if "/" in part or not part.endswith(DATA_SUFFIXES):
            raise InvalidDropError(
                "bad-manifest", f"manifest part {part!r} must be a .csv or .csv.gz name in its folder"
            )
        validate_key(key, drop_prefix)
    return keys


SKIPPED_LISTED = 20


def _in_folder(key: str, drop_prefix: str) -> bool:
    return key.startswith(drop_prefix) and "/" not in key[len(drop_prefix) :] and key != drop_prefix


def select_success_parts(listed: dict[str, int], drop_prefix: str) -> list[str]:
    """The data objects of a ``_SUCCESS`` or quiet-period drop: every non-empty data file directly in the folder."""
    return sorted(
        key for key, size in listed.items() if _in_folder(key, drop_prefix) and key.endswith(DATA_SUFFIXES) and size
    )


def skipped_objects(listed: dict[str, int], drop_prefix: str) -> list[str]:
    """What a folder holds that its run does not read, each as "key: why" (the markers are not listed)."""
    reasons = []
    for key, size in sorted(listed.items()):
        name = key[len(drop_prefix) :]
        if not _in_folder(key, drop_prefix) or name in (SUCCESS_MARKER, MANIFEST_MARKER):
            continue
        if not name.endswith(DATA_SUFFIXES):
            reasons.append(f"{key}: not a .csv or .csv.gz file")
        elif size == 0:
            reasons.append(f"{key}: zero bytes")
    if len(reasons) > SKIPPED_LISTED:
        return [*reasons[:SKIPPED_LISTED], f"and {len(reasons) - SKIPPED_LISTED} more"]
    return reasons


def idempotency_key(bucket: str, key: str, version_id: str | None, etag: str | None, sequencer: str | None) -> str:
    """Identity of one S3 write, the same however often and however its event is delivered.

    In a versioned bucket (Conveyor's are) the version id alone pins the exact write. The event
    id is useless (moto repeats it; S3 may re-deliver with a new one), and the etag field is not
    reliable across producers (moto spells it ``eTag``), so they are used only when the bucket
    is unversioned: then etag + sequencer tell two writes of one key apart.
    """
    if version_id and version_id != "null":
        return "|".join([bucket, key, version_id])
    return "|".join([bucket, key, "unversioned", etag or "-", sequencer or "-"])


def pinned_version(version_id: str | None) -> bool:
    """Whether an event's version id names one version (``null`` is an unversioned bucket's)."""
    return bool(version_id) and version_id != "null"


def version_gone_detail(key: str, version_id: str | None) -> str:
    """Why an event's version is not processed when its key still exists: never "deleted"."""
    return (
        f"version {version_id} of {key} no longer exists (that version was deleted or expired); the key now "
        "holds another version, a separate upload that runs on its own event; nothing was processed or copied"
    )


def execution_name(model_name: str, trigger_identity: str) -> str:
    """A deterministic Step Functions execution name (<= 80 chars, [A-Za-z0-9-_]).

    Standard workflows refuse a duplicate name for 90 days, which is a second line of
    defence against starting the same drop twice.
    """
    # surrogatepass: a forged event's key may hold a lone surrogate, refused but still named.
    digest = hashlib.sha256(trigger_identity.encode(errors="surrogatepass")).hexdigest()[:24]
    return f"{model_name[:40]}-{digest}"
