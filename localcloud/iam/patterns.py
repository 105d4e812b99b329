"""Wildcard matching of IAM actions, resources and condition values (``*`` and ``?``)."""

from __future__ import annotations

import re
from functools import cache


class UnsupportedPolicy(ValueError):
    """A policy uses an element or a value the offline evaluator does not implement."""


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """``*`` matches any run of characters, ``?`` exactly one; the whole value must match."""
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


def arn_match(pattern: str, value: str) -> bool:
    """An ARN pattern against an ARN, each of the first five colon-separated segments on its own.

    So ``arn:aws:s3:::bucket/*`` never matches another service, and a wildcard in the region
    segment stays in it.
    """
    if pattern == "*":
        return True
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not evaluated offline: {pattern}")
    if not pattern.startswith("arn:") or not value.startswith("arn:"):
        return wildcard_match(pattern, value)
    wanted, actual = pattern.split(":", 5), value.split(":", 5)
    if len(wanted) != len(actual):
        return False
    return all(wildcard_match(w, a) for w, a in zip(wanted, actual, strict=True))
