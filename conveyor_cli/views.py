"""What the commands show, as pydantic models: one shape for the tables and for ``--json``.

HistoryTable's records are shown as ``conveyor_core.release.history`` defines them (``DeploymentRecord``,
``AlarmRollbackRecord``): that module owns them, so the CLI has no copy of its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Variant(_View):
    name: str
    current_weight: float | None = None
    desired_weight: float | None = None
    current_instances: int | None = None
    desired_instances: int | None = None
    instance_type: str | None = None
    model: str | None = None


class Endpoint(_View):
    name: str
    status: str
    config: str
    created_at: dt.datetime | None = None
    last_modified_at: dt.datetime | None = None
    failure_reason: str | None = None
    variants: list[Variant] = []


class Execution(_View):
    name: str
    arn: str
    status: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None = None
    # The notification event the run ended with, and the dataset it ran on; read for `status`.
    outcome: str | None = None
    dataset: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        return (self.stopped_at - self.started_at).total_seconds() if self.stopped_at else None


class Notification(_View):
    """One SNS message as a subscriber sees it: the Subject, the JSON body, and SNS's envelope."""

    subject: str
    event: str
    severity: str
    model: str | None = None
    execution: str | None = None
    reason: str = ""
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    console_link: str | None = None
    published_at: str | None = None
    message_id: str | None = None


class Prediction(_View):
    endpoint: str
    variant: str | None
    rows: int
    # One value per row, or a list per row for multi-output objectives; None when the body is not numeric CSV.
    predictions: list[float | list[float]] | None
    raw: str
