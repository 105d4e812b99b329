"""The Condition element of an IAM policy statement, decided against a request's context.

A block holds when every operator holds; an operator holds when every key it names holds; a key
holds when any of the policy's values matches (for a negated operator: none does). A key missing
from the request context makes the condition false, except for negated operators (true),
``...IfExists`` (true) and ``Null`` (which tests for the key), as
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
says. ``ForAnyValue:`` and ``ForAllValues:`` compare multivalued keys as sets.

Implemented: the String, Arn, Bool, Null and Numeric operators. Date, IpAddress and Binary ones
raise ``UnsupportedCondition``, so a policy that depends on them fails the check loudly rather
than being decided wrongly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from localcloud.iam.patterns import arn_match, wildcard_match

# Condition keys are case-insensitive; the context maps each lowercased key to its values.
Context = Mapping[str, Sequence[str]]


class UnsupportedCondition(ValueError):
    """A condition operator the offline evaluator does not implement."""


def _string_equals(policy: str, value: str) -> bool:
    return policy == value


def _string_equals_ignore_case(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _string_like(policy: str, value: str) -> bool:
    return wildcard_match(policy, value)


def _bool(policy: str, value: str) -> bool:
    return policy.lower() == value.lower()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(policy: str, value: str) -> bool:
        try:
            return compare(float(value), float(policy))
        except ValueError:
            return False

    return match


# operator -> (value matcher, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    # ArnEquals and ArnLike behave the same: both take wildcards, segment by segment.
    "ArnEquals": (arn_match, False),
    "ArnLike": (arn_match, False),
    "ArnNotEquals": (arn_match, True),
    "ArnNotLike": (arn_match, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda v, p: v == p), False),
    "NumericNotEquals": (_numeric(lambda v, p: v == p), True),
    "NumericLessThan": (_numeric(lambda v, p: v < p), False),
    "NumericLessThanEquals": (_numeric(lambda v, p: v <= p), False),
    "NumericGreaterThan": (_numeric(lambda v, p: v > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda v, p: v >= p), False),
}


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    return [str(item).lower() if isinstance(item, bool) else str(item) for item in items]


def _operator_holds(operator: str, keys: Mapping[str, Any], context: Context) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedCondition(f"condition qualifier {qualifier!r} is not evaluated offline")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        return all(
            (key.lower() not in context) == (_values(wanted)[0].lower() == "true") for key, wanted in keys.items()
        )
    if base not in _OPERATORS:
        raise UnsupportedCondition(f"condition operator {operator!r} is not evaluated offline")
    match, negated = _OPERATORS[base]
    for key, wanted in keys.items():
        policy_values = _values(wanted)
        present = context.get(key.lower())
        if not present:
            if qualifier == "ForAllValues":
                continue  # vacuously true: no value fails
            if if_exists or (negated and qualifier != "ForAnyValue"):
                continue
            return False

        def one(value: str, policy_values: list[str] = policy_values) -> bool:
            found = any(match(p, value) for p in policy_values)
            return not found if negated else found

        if qualifier == "ForAllValues":
            holds = all(one(v) for v in present)
        elif qualifier == "ForAnyValue" or not negated:
            holds = any(one(v) for v in present)
        else:
            holds = all(one(v) for v in present)
        if not holds:
            return False
    return True


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    """Whether a statement's whole Condition block holds for this request context."""
    return all(_operator_holds(operator, keys, context) for operator, keys in block.items())
