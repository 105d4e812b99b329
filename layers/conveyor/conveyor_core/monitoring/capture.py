"""Read SageMaker's data-capture records (JSON Lines) back into feature rows.

One record is one request: ``captureData.endpointInput`` holds its payload (``encoding`` CSV, or
BASE64 when the content type was not declared as CSV), ``eventMetadata`` its time and, when the
caller gave one, its inference id. A CSV payload may hold several rows. Whatever does not parse (a
broken line, a JSON payload, a row with the wrong number of cells) is counted and skipped: bad
traffic must never stop a monitoring run, and the counts say how much was left out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class CapturedRows:
    """The captured requests' feature rows, column by column, with what was skipped and why."""

    features: int
    columns: list[list[float]] = field(default_factory=list)
    records: int = 0
    rows: int = 0
    unparsed_lines: int = 0
    unreadable_payloads: int = 0
    # Rows whose cell count is not the baseline's: the missing/extra column checks report them.
    short_rows: int = 0
    long_rows: int = 0
    missing_cells: list[int] = field(default_factory=list)
    # Each answered request's predictions, by the id ground truth is joined on: the caller's
    # inferenceId when it gave one, SageMaker's eventId otherwise (Model Monitor's rule).
    predictions: dict[str, list[float]] = field(default_factory=dict)
    # The earliest inference time among the records kept.
    first_time: datetime | None = None

    def __post_init__(self) -> None:
        self.columns = self.columns or [[] for _ in range(self.features)]
        self.missing_cells = self.missing_cells or [0] * self.features


def _payload(endpoint_input: dict[str, Any]) -> str | None:
    data = endpoint_input.get("data")
    if not isinstance(data, str):
        return None
    encoding = endpoint_input.get("encoding", "CSV")
    if encoding == "CSV":
        return data
    if encoding == "BASE64" and "csv" in str(endpoint_input.get("observedContentType", "")):
        try:
            return base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None  # JSON payloads are not the tabular CSV this baseline describes


def _add_row(found: CapturedRows, text: str) -> None:
    cells = text.split(",")
    if len(cells) < found.features:
        found.short_rows += 1
        return
    if len(cells) > found.features:
        found.long_rows += 1
        return
    values: list[float | None] = []
    for cell in cells:
        stripped = cell.strip()
        if not stripped or stripped.lower() == "nan":
            values.append(None)
            continue
        try:
            number = float(stripped)
        except ValueError:
            found.unreadable_payloads += 1
            return
        values.append(number if math.isfinite(number) else None)
    found.rows += 1
    for index, parsed in enumerate(values):
        if parsed is None:
            found.missing_cells[index] += 1
        else:
            found.columns[index].append(parsed)


def read_records(found: CapturedRows, body: bytes, since: datetime | None = None) -> None:
    """Add one capture object's records to ``found``; only those at or after ``since`` when given."""
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            capture = record["captureData"]
            when = record.get("eventMetadata", {}).get("inferenceTime", "")
        except (ValueError, KeyError, TypeError, AttributeError):
            found.unparsed_lines += 1
            continue
        at = _parse_time(str(when))
        if since is not None and at is not None and at < since:
            continue  # traffic from before the production model was deployed
        if at is not None and (found.first_time is None or at < found.first_time):
            found.first_time = at
        found.records += 1
        if isinstance(capture, dict):
            _keep_predictions(found, record.get("eventMetadata", {}), capture.get("endpointOutput", {}))
        payload = _payload(capture.get("endpointInput", {})) if isinstance(capture, dict) else None
        if payload is None:
            found.unreadable_payloads += 1
            continue
        for text in payload.splitlines():
            if text.strip():
                _add_row(found, text)


def record_id(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    found = metadata.get("inferenceId") or metadata.get("eventId")
    return str(found) if found else None


def _numbers(text: str) -> list[float] | None:
    try:
        return [float(cell) for line in text.splitlines() for cell in line.split(",") if cell.strip()]
    except ValueError:
        return None


def _keep_predictions(found: CapturedRows, metadata: Any, endpoint_output: Any) -> None:
    identity = record_id(metadata)
    text = _payload(endpoint_output) if isinstance(endpoint_output, dict) else None
    if identity is None or text is None:
        return
    numbers = _numbers(text)
    if numbers is not None:
        found.predictions[identity] = numbers


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # SageMaker writes UTC with a "Z"; a time without a zone is read as UTC rather than failing a comparison.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
