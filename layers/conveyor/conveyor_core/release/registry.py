"""What a model package records about its run, within the limits SageMaker puts on it.

``CustomerMetadataProperties`` takes at most 50 entries, keys of 1-128 and values of 1-256
characters, and only letters, spaces, digits and ``_ . : / = + - @`` (CreateModelPackage's API
reference). Values built from S3 keys break both rules easily (``sales (Q3).csv``, long folder
paths), and a refused CreateModelPackage would fail a run that trained a good model. So every value
is escaped into that alphabet (``=XX`` per UTF-8 byte of any other character, ``=`` itself too,
which keeps the escape reversible) and cut to 256 characters; the exact values stay in the run's
statistics document, which the package also references.
"""

from __future__ import annotations

import re
import unicodedata

MAX_ENTRIES = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_SAFE_PUNCTUATION = frozenset("_.:/+-@")


def _allowed(character: str) -> bool:
    category = unicodedata.category(character)
    return category[0] in ("L", "N") or category == "Zs" or character in _SAFE_PUNCTUATION


def escape(value: str) -> str:
    """``value`` in the metadata alphabet: any other character (and ``=``) becomes ``=XX`` per UTF-8 byte."""
    out: list[str] = []
    for character in value:
        if _allowed(character):
            out.append(character)
        else:
            out.extend(f"={byte:02X}" for byte in character.encode("utf-8"))
    return "".join(out)


def unescape(value: str) -> str:
    return re.sub(
        r"(?:=[0-9A-F]{2})+", lambda match: bytes.fromhex(match.group(0).replace("=", "")).decode("utf-8"), value
    )


def _cut(value: str) -> str:
    """At most MAX_VALUE_LENGTH characters, never splitting an ``=XX`` escape."""
    if len(value) <= MAX_VALUE_LENGTH:
        return value
    cut = value[:MAX_VALUE_LENGTH]
    partial = cut.rfind("=", len(cut) - 2)
    return cut[:partial] if partial != -1 else cut


def customer_metadata(values: dict[str, str]) -> dict[str, str]:
    """Metadata SageMaker accepts: escaped, cut, empty values left out, at most 50 entries."""
    if len(values) > MAX_ENTRIES:
        raise ValueError(f"a model package takes at most {MAX_ENTRIES} metadata entries, not {len(values)}")
    metadata: dict[str, str] = {}
    for key, value in values.items():
        safe_key = escape(key)
        if not 1 <= len(safe_key) <= MAX_KEY_LENGTH:
            raise ValueError(f"metadata key {key!r} must be 1-{MAX_KEY_LENGTH} characters")
        if value:
            metadata[safe_key] = _cut(escape(value))
    return metadata
