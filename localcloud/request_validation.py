"""The checks AWS makes of a request against its service model that botocore leaves to the server.

botocore checks a request before it sends it (``ParamValidationError``): required members, types,
the minimum length of strings and lists, the minimum value of numbers. AWS's servers check the rest
of the model and refuse with HTTP 400; moto checks almost none of it. So while a cloud runs, every
request is checked here, and one AWS would refuse is refused with AWS's error. ``moto_patches/core.py``
calls :meth:`RequestValidation.check` for each request a client of this process sends, once botocore
has checked it, and :meth:`RequestValidation.check_wire` for one that reached moto's server from
another process (a Lambda worker, the AWS CLI), read back into parameters as moto reads it. The
checks:

* strings: maximum length, ``enum``, ``pattern``; blobs: minimum and maximum length (bytes);
* lists and maps: maximum (and for maps minimum) number of entries, and the constraints of their
  members, keys and values; numbers: maximum value;
* and, for a client built with ``parameter_validation=False``, what botocore would have checked:
  required members, minimum lengths and values.

The message is AWS's validation message ("1 validation error detected: Value 'x' at
'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern: ..."),
with members named as AWS names them (``productionVariants.1.member.variantName``). The error code
is the service's (``ValidationException`` for the JSON services, ``ValidationError`` for the query
ones, see ``_code``), on the wire in the protocol of the request; in this process, parsed by
botocore into the client's modeled exception, as an answer from AWS would be.

Patterns are Java regular expressions. They are translated where Java and Python differ (POSIX
classes such as ``\\p{Print}``, surrogate pairs, ``\\z``) and run with the ``regex`` module where it
is installed (Unicode classes such as ``\\p{L}``), else with ``re``. A pattern neither can run is not
enforced, and :attr:`RequestValidation.unchecked_patterns` says why.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import HeadersDict
from botocore.model import OperationModel, Shape
from botocore.parsers import create_parser

from localcloud import wire_errors

try:  # Java's Unicode classes (\p{L}, \p{N}, ...) need it; cfn-lint installs it with the dev tools.
    import regex as _unicode_regex
except ImportError:  # pragma: no cover - the dev requirements install it
    _unicode_regex = None

LOG = logging.getLogger("localcloud.request_validation")

# Marks a request this process's clients already checked, so that moto's server does not again.
VALIDATED_HEADER = "x-localcloud-validated"

_SCALARS = frozenset({"string", "integer", "long", "float", "double", "blob", "boolean", "timestamp"})
_NUMBERS = frozenset({"integer", "long", "float", "double"})
# A pathological pattern (nested quantifiers on a long value) must not hang the cloud.
_PATTERN_TIMEOUT_SECONDS = 1.0

# Where a model constraint is not what the service enforces: (service, operation, member path).
_NOT_ENFORCED = {
    # The model's enum lists queue attributes, but SQS takes message attributes there too
    # (https://github.com/aws/aws-sdk/issues/56).
    ("sqs", "ReceiveMessage", "attributeNames"),
}
# SQS checks attribute names itself, and answers an unknown one with its own code.
_SQS_ATTRIBUTE_NAMES = frozenset(
    {"QueueAttributeName", "MessageSystemAttributeName", "MessageSystemAttributeNameForSends"}
)


@dataclass(frozen=True)
class Violation:
    """One constraint one member of a request fails, as AWS reports it."""

    path: str
    value: Any
    constraint: str
    shape: str
    # AWS leaves the value of a sensitive member (and the bytes of a blob) out of its message.
    shown: bool = True

    def describe(self) -> str:
        value = f"Value '{_java_text(self.value)}' at" if self.shown else "Value at"
        return f"{value} '{self.path}' failed to satisfy constraint: {self.constraint}"


@dataclass(frozen=True)
class Refusal:
    """A request the cloud refused: the operation, the error AWS would answer, and why."""

    service: str
    operation: str
    code: str
    message: str
    violations: tuple[Violation, ...]


# ----------------------------------------------------------------------------- finding violations


def find_violations(
    operation_model: OperationModel, params: dict[str, Any], unchecked: Callable[[str, str], None] | None = None
) -> list[Violation]:
    """Every constraint of the model that ``params`` fail; ``unchecked(pattern, why)`` hears of skipped ones."""
    shape = operation_model.input_shape
    if shape is None:
        return []
    walk = _Walk(operation_model.service_model.service_name, operation_model.name, unchecked)
    walk.structure(params, shape, "")
    return walk.found


class _Walk:
    """One pass over a request's parameters, member by member, collecting what fails."""

    def __init__(self, service: str, operation: str, unchecked: Callable[[str, str], None] | None) -> None:
        self.service = service
        self.operation = operation
        self.unchecked = unchecked
        self.found: list[Violation] = []

    def add(self, path: str, value: Any, constraint: str, shape: Shape) -> None:
        shown = not shape.metadata.get("sensitive") and shape.type_name != "blob"
        self.found.append(Violation(path, value, constraint, shape.name, shown))

    def check(self, value: Any, shape: Shape, path: str) -> None:
        if value is None or (self.service, self.operation, path) in _NOT_ENFORCED:
            return
        kind = shape.type_name
        if kind == "structure":
            self.structure(value, shape, path)
        elif kind == "list":
            self.sequence(value, shape, path)
        elif kind == "map":
            self.mapping(value, shape, path)
        else:
            for constraint in self.scalar_failures(value, shape):
                self.add(path, value, constraint, shape)

    def structure(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, dict) or shape.metadata.get("document"):
            return
        members = shape.members  # type: ignore[attr-defined]
        for name in shape.required_members:  # type: ignore[attr-defined]
            if value.get(name) is None:
                self.add(_join(path, name), None, "Member must not be null", members[name])
        for name, member in members.items():
            if name in value:
                self.check(value[name], member, _join(path, name))

    def sequence(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, list | tuple):
            return
        for constraint in _size_failures(len(value), shape, "length"):
            self.add(path, value, constraint, shape)
        member = shape.member  # type: ignore[attr-defined]
        if member.type_name in _SCALARS:
            # AWS reports a list of scalars as a whole, with every constraint of its members.
            if any(self.scalar_failures(item, member) for item in value if item is not None):
                self.add(
                    path, value, f"Member must satisfy constraint: [{_all_constraints(member, self.service)}]", member
                )
            return
        for index, item in enumerate(value, start=1):
            self.check(item, member, f"{path}.{index}.member")

    def mapping(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, dict):
            return
        for constraint in _size_failures(len(value), shape, "length"):
            self.add(path, value, constraint, shape)
        key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
        if any(self.scalar_failures(key, key_shape) for key in value):
            self.add(
                path,
                value,
                f"Map keys must satisfy constraint: [{_all_constraints(key_shape, self.service)}]",
                key_shape,
            )
        if value_shape.type_name in _SCALARS:
            if any(self.scalar_failures(item, value_shape) for item in value.values() if item is not None):
                constraint = f"Map value must satisfy constraint: [{_all_constraints(value_shape, self.service)}]"
                self.add(path, value, constraint, value_shape)
            return
        for key, item in value.items():
            # Named as a list's members are, with the key for the index (AWS's published messages
            # show no map of structures failing).
            self.check(item, value_shape, f"{path}.{key}.member")

    def scalar_failures(self, value: Any, shape: Shape) -> list[str]:
        kind = shape.type_name
        if kind == "string" and isinstance(value, str):
            failures = _size_failures(len(value), shape, "length")
            enum = shape.metadata.get("enum")
            if enum and value not in enum:
                failures.append(_enum_constraint(enum))
            pattern = shape.metadata.get("pattern")
            if pattern is not None and not self.matches(pattern, value):
                failures.append(_pattern_constraint(pattern, self.service))
            return failures
        if kind == "blob":
            size = _blob_size(value)
            return [] if size is None else _size_failures(size, shape, "length")
        if kind in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
            return _size_failures(value, shape, "value")
        return []

    def matches(self, pattern: str, value: str) -> bool:
        compiled = _compiled(pattern)
        if isinstance(compiled, str):
            if self.unchecked is not None:
                self.unchecked(pattern, compiled)
            return True
        search = _anchored(pattern)
        try:
            if _unicode_regex is not None:
                found = (compiled.search if search else compiled.fullmatch)(value, timeout=_PATTERN_TIMEOUT_SECONDS)
            else:
                found = (compiled.search if search else compiled.fullmatch)(value)
        except TimeoutError:
            if self.unchecked is not None:
                self.unchecked(pattern, f"matching took over {_PATTERN_TIMEOUT_SECONDS:g} s")
            return True
        return found is not None


def _join(path: str, member: str) -> str:
    # AWS names a member as its Java bean property: the first letter lower-cased.
    name = member[:1].lower() + member[1:]
    return f"{path}.{name}" if path else name


def _size_failures(size: float, shape: Shape, measure: str) -> list[str]:
    failures = []
    maximum, minimum = shape.metadata.get("max"), shape.metadata.get("min")
    if maximum is not None and size > maximum:
        failures.append(f"Member must have {measure} less than or equal to {_java_text(maximum)}")
    if minimum is not None and size < minimum:
        failures.append(f"Member must have {measure} greater than or equal to {_java_text(minimum)}")
    return failures


def _all_constraints(shape: Shape, service: str) -> str:
    measure = "value" if shape.type_name in _NUMBERS else "length"
    texts = []
    if shape.metadata.get("max") is not None:
        texts.append(f"Member must have {measure} less than or equal to {_java_text(shape.metadata['max'])}")
    if shape.metadata.get("min") is not None:
        texts.append(f"Member must have {measure} greater than or equal to {_java_text(shape.metadata['min'])}")
    if shape.metadata.get("enum"):
        texts.append(_enum_constraint(shape.metadata["enum"]))
    if shape.metadata.get("pattern") is not None:
        texts.append(_pattern_constraint(shape.metadata["pattern"], service))
    return ", ".join(texts)


def _enum_constraint(enum: list[str]) -> str:
    return f"Member must satisfy enum value set: [{', '.join(enum)}]"


# SageMaker's messages show the leading "^" that botocore's copy of its model drops
# (https://github.com/aws-samples/sagemaker-ml-workflow-with-apache-airflow/issues/3).
_CARET_DROPPED = frozenset({"sagemaker"})


def _pattern_constraint(pattern: str, service: str) -> str:
    shown = f"^{pattern}" if service in _CARET_DROPPED and not pattern.startswith("^") else pattern
    return f"Member must satisfy regular expression pattern: {shown}"


def _blob_size(value: Any) -> int | None:
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    return None  # a file-like body: reading it to measure would consume it


def _java_text(value: Any) -> str:
    """``value`` as Java's ``toString`` writes it, which is how AWS quotes it in a message."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java_text(k)}={_java_text(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "null"
    return str(value)


# ----------------------------------------------------------------------------- Java patterns

# Java's POSIX classes are ASCII-only, unlike the Unicode classes of the same name in ``regex``.
_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
}
_SHORTHANDS = frozenset("wWdDsS")
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def java_to_python(pattern: str) -> str:
    """A Java regular expression rewritten where Python's (``regex``/``re``) reads it differently."""
    # Java reads a UTF-16 surrogate pair in a class as the one code point it encodes.
    pattern = _SURROGATE_PAIR.sub(
        lambda m: f"\\U{0x10000 + ((int(m[1], 16) - 0xD800) << 10) + (int(m[2], 16) - 0xDC00):08X}", pattern
    )
    out: list[str] = []
    in_class = False
    after_shorthand = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escape = pattern[i + 1]
            posix = re.match(r"([pP])\{(\w+)\}", pattern[i + 1 :])
            if posix and posix[2] in _POSIX_CLASSES and not (in_class and posix[1] == "P"):
                ranges = _POSIX_CLASSES[posix[2]]
                negate = "^" if posix[1] == "P" else ""
                out.append(ranges if in_class else f"[{negate}{ranges}]")
                i += 1 + len(posix[0])
                after_shorthand = True
                continue
            code_point = re.match(r"x\{([0-9a-fA-F]+)\}", pattern[i + 1 :])
            if code_point:
                out.append(f"\\U{int(code_point[1], 16):08X}")  # Java's \x{h...h}: Python has no such escape
                i += 1 + len(code_point[0])
                after_shorthand = False
                continue
            if escape == "z" and not in_class:
                out.append("\\Z")
            elif escape == "Z" and not in_class:
                out.append("(?=\\n?\\Z)")  # Java's \Z: the end, or before a final line break
            else:
                out.append(char + escape)
            after_shorthand = escape in _SHORTHANDS or escape in "pP"
            i += 2
            continue
        if in_class and char == "-" and after_shorthand:
            out.append("\\-")  # Java reads "[\w-_]" as three members; Python as a bad range
        elif char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        else:
            out.append(char)
        after_shorthand = False
        i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    """The compiled pattern, or why it cannot be run (a string)."""
    translated = java_to_python(pattern)
    if _unicode_regex is not None:
        try:
            return _unicode_regex.compile(translated)
        except _unicode_regex.error as error:
            return f"does not compile with the regex module ({error})"
    if "\\p{" in translated or "\\P{" in translated:
        return "uses Unicode classes (\\p{...}), which need the regex module"
    try:
        return re.compile(translated)
    except re.error as error:
        return f"does not compile with re ({error})"


def _anchored(pattern: str) -> bool:
    # A pattern botocore keeps without anchors is one AWS matches whole (Java's matches()); one the
    # model anchors itself follows its own anchors (Smithy's search semantics), leniently.
    return pattern.startswith(("^", "\\A")) or pattern.endswith(("$", "\\z"))


# ----------------------------------------------------------------------------- the error AWS answers


def _code(operation_model: OperationModel) -> str:
    """The code a service answers a request that fails its model with."""
    service = operation_model.service_model
    protocol = service.resolved_protocol
    if service.service_name == "sagemaker-runtime":
        return "ValidationError"  # modeled: the runtime's own ValidationError shape
    if protocol == "rest-xml":
        return "InvalidArgument"  # S3's generic 400 for a bad argument
    if protocol == "ec2":
        return "InvalidParameterValue"
    if protocol == "query" or "awsQueryCompatible" in service.metadata:
        return "ValidationError"
    return "ValidationException"


def refusal(operation_model: OperationModel, violations: list[Violation]) -> Refusal:
    """The error the service answers a request with these violations."""
    service = operation_model.service_model.service_name
    unknown_attribute = next((v for v in violations if v.shape in _SQS_ATTRIBUTE_NAMES), None)
    if service == "sqs" and unknown_attribute is not None:
        # SQS names the first unknown attribute, as in "Unknown Attribute KmsMasterKeyId."
        value = unknown_attribute.value
        names = value if isinstance(value, list | tuple | dict) else [value]
        unknown = next((name for name in names if name not in _enum_of(operation_model, unknown_attribute)), value)
        return Refusal(
            service, operation_model.name, "InvalidAttributeName", f"Unknown Attribute {unknown}.", tuple(violations)
        )
    count = len(violations)
    detected = f"{count} validation error{'s' if count > 1 else ''} detected: "
    message = detected + "; ".join(violation.describe() for violation in violations)
    return Refusal(service, operation_model.name, _code(operation_model), message, tuple(violations))


def _enum_of(operation_model: OperationModel, violation: Violation) -> list[str]:
    enum: list[str] = operation_model.service_model.shape_for(violation.shape).metadata.get("enum", [])
    return enum


def wire_response(
    operation_model: OperationModel, refused: Refusal, protocol: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of the refusal, in the protocol the request came in."""
    return wire_errors.error_response(operation_model.service_model, refused.code, refused.message, 400, protocol)


def client_error(client: Any, operation_model: OperationModel, refused: Refusal) -> Exception:
    """The exception botocore raises for the refusal: the wire response parsed as any answer is."""
    status, headers, body = wire_response(operation_model, refused)
    protocol = operation_model.service_model.resolved_protocol
    response = {"status_code": status, "headers": HeadersDict(headers), "body": body, "context": {}}
    parser = create_parser(protocol)
    parsed: dict[str, Any] = parser.parse(response, operation_model.output_shape)
    error_shape = operation_model.service_model.shape_for_error_code(parsed["Error"]["Code"])
    if error_shape is not None:
        parsed.update(parser.parse(response, error_shape))
    exception: Exception = client.exceptions.from_code(parsed["Error"]["Code"])(parsed, operation_model.name)
    return exception


# ----------------------------------------------------------------------------- one cloud's record


class RequestValidation:
    """One cloud's validation: what it checked and refused, and what it could not check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked: Counter[str] = Counter()
        self.refused: list[Refusal] = []
        self.unchecked_patterns: dict[str, str] = {}
        # Of those checked, the requests that came from another process over moto's server.
        self.checked_on_the_wire: Counter[str] = Counter()
        self.unreadable: Counter[str] = Counter()

    def check(self, client: Any, operation_model: OperationModel, params: dict[str, Any]) -> None:
        """Raise the service's error if AWS would refuse this request; count it either way."""
        refused = self._judge(operation_model, params)
        if refused is not None:
            raise client_error(client, operation_model, refused)

    def check_wire(
        self, operation_model: OperationModel, params: dict[str, Any], protocol: str
    ) -> tuple[int, dict[str, str], bytes] | None:
        """For a request that came over the network: the service's answer if AWS would refuse it."""
        with self._lock:
            self.checked_on_the_wire[f"{operation_model.service_model.service_name}:{operation_model.name}"] += 1
        refused = self._judge(operation_model, params)
        return None if refused is None else wire_response(operation_model, refused, protocol)

    def note_unreadable(self, what: str, why: str) -> None:
        """A request that came over the network could not be read back into parameters: not checked."""
        with self._lock:
            self.unreadable[what] += 1
        LOG.debug("%s not checked: %s", what, why)

    def _judge(self, operation_model: OperationModel, params: dict[str, Any]) -> Refusal | None:
        found = find_violations(operation_model, params, self._note_unchecked)
        name = f"{operation_model.service_model.service_name}:{operation_model.name}"
        with self._lock:
            self.checked[name] += 1
        if not found:
            return None
        refused = refusal(operation_model, found)
        with self._lock:
            self.refused.append(refused)
        LOG.warning("refused %s, as AWS would: %s: %s", name, refused.code, refused.message)
        return refused

    def operations(self) -> set[str]:
        """The distinct operations (``service:Operation``) checked so far."""
        with self._lock:
            return set(self.checked)

    def summary(self) -> str:
        with self._lock:
            return (
                f"{sum(self.checked.values())} requests of {len(self.checked)} operations checked "
                f"({sum(self.checked_on_the_wire.values())} from other processes), {len(self.refused)} refused, "
                f"{sum(self.unreadable.values())} unreadable, {len(self.unchecked_patterns)} patterns not enforced"
            )

    def _note_unchecked(self, pattern: str, why: str) -> None:
        with self._lock:
            if pattern not in self.unchecked_patterns:
                LOG.info("pattern %r not enforced: %s", pattern, why)
                self.unchecked_patterns[pattern] = why
