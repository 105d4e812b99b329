"""Pydantic models for what flows between the handlers and the state machine.

The ASL passes these documents from state to state; a handler validates what it receives, so a
mismatch between the ASL and a handler fails loudly at the boundary.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor_core.shared.notifications import EventType


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class DatasetRef(_Contract):
    """The objects of one drop: listed inline, or, for a large drop, in a JSON document at ``keys_uri``.

    Step Functions caps an execution's input and every state's data at 256 KiB, and DynamoDB an
    item (where a queued run waits) at 400 KB; 10,000 part keys take about 440 KB. Past
    ``dataset_keys.INLINE_KEYS_MAX_BYTES`` the list travels by reference instead.
    """

    bucket: str
    keys: list[str] = Field(default_factory=list)
    keys_uri: str | None = None
    key_count: int = 0
    uri: str
    kind: str
    version_id: str | None = None
    # The S3 write that completed the drop (bucket|key|version): what the production model was trained on.
    identity: str = ""

    @model_validator(mode="after")
    def _names_its_objects(self) -> DatasetRef:
        if not self.keys and not self.keys_uri:
            raise ValueError("a dataset names its objects: keys, or keys_uri for a large drop")
        return self


class PipelineInput(_Contract):
    """The input of every retrain execution: ingest and the scheduler start runs with it."""

    model: str
    run_id: str
    trigger: Literal["data-arrival", "schedule", "manual"] = "data-arrival"
    dataset: DatasetRef


class ExecutionStatusChange(_Contract):
    """The detail of Step Functions' "Step Functions Execution Status Change" event."""

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    input: str | None = None


class ExecutionStatusChangeEvent(_Contract):
    """The EventBridge envelope of an execution's status change: only what the watcher reads."""

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusChange


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
