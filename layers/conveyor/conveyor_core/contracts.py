"""Pydantic models for what flows between the handlers and the state machine.

The ASL passes these documents from state to state; a handler validates what it receives, so a
mismatch between the ASL and a handler fails loudly at the boundary.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from conveyor_core.notifications import EventType


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DatasetRef(_Contract):
    bucket: str
    keys: list[str] = Field(min_length=1)
    uri: str
    kind: str
    version_id: str | None = None
    # The S3 write that completed the drop (bucket|key|version): what the production model was trained on.
    identity: str = ""


class PipelineInput(_Contract):
    """The input of every retrain execution: ingest and the scheduler start runs with it."""

    model: str
    run_id: str
    trigger: Literal["data-arrival", "schedule", "manual"] = "data-arrival"
    dataset: DatasetRef


class ScheduledInvocation(_Contract):
    """What EventBridge Scheduler sends (the template's Target Input, with its context attributes)."""

    schedule_arn: str = ""
    scheduled_time: str
    execution_id: str = ""


class PreprocessOutput(_Contract):
    status: Literal["ok", "quarantined"]
    reason: str | None = None
    detail: str | None = None
    quarantine_uri: str | None = None
    train_uri: str | None = None
    validation_uri: str | None = None
    statistics_uri: str | None = None
    dataset_sha256: str | None = None
    rows: int = 0
    features: int = 0
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    stopping_condition: dict[str, int] = Field(default_factory=dict)
    managed_spot: bool = False


class GateInput(_Contract):
    run_id: str
    training_job_name: str


class PlanDeploymentInput(_Contract):
    run_id: str


class RollbackInput(_Contract):
    """The alarm, as the rollback state machine extracts it from "CloudWatch Alarm State Change"."""

    alarm: str
    alarm_time: str
    execution: str


class FinalizeInput(_Contract):
    model: str
    run_id: str


class NotificationInput(_Contract):
    """What the state machine hands the formatter: the outcome plus whatever context it has."""

    event: EventType
    model: str
    execution: str | None = None
    reason: str | None = None
    error: str | None = None
    cause: str | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    # When the work being reported began (ISO 8601); the notification then carries its duration.
    started_at: str | None = None
