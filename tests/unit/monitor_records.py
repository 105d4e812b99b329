"""Model Monitor's records as the tests write them: a captured request, and the outcome joined to it."""

from __future__ import annotations

import json


def capture_line(identity: str | None, answers: list[float], when: str, event: str | None = None) -> bytes:
    """One request as SageMaker's data capture writes it: CSV in, CSV out, with its event metadata."""
    metadata: dict[str, str] = {"eventId": event or f"event-{identity}", "inferenceTime": when}
    if identity is not None:
        metadata["inferenceId"] = identity
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "\n".join("1.5,2,3" for _ in answers),
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "\n".join(f"{a:g}" for a in answers),
                "encoding": "CSV",
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record).encode() + b"\n"


def truth_line(identity: str, labels: list[float]) -> bytes:
    """One outcome as Model Monitor's ground-truth merge reads it."""
    record = {
        "groundTruthData": {"data": "\n".join(f"{y:g}" for y in labels), "encoding": "CSV"},
        "eventMetadata": {"eventId": identity},
        "eventVersion": "0",
    }
    return json.dumps(record).encode() + b"\n"
