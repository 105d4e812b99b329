"""Pydantic models for what flows between the handlers and the state machine.

The ASL passes these documents from state to state; a handler validates what it receives, so a
mismatch between the ASL and a handler fails loudly at the boundary.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor_core.shared.notifications import EventType

# What a Lambda-preprocessed drop trains with (a drop under ProcessingThresholdBytes).
DEFAULT_TRAINING_VOLUME_GB = 30


class _Contract(BaseModel):
    # defer_build: each function validates two or three of these contracts, so the validators of the
    # other thirty are never built (about 15 ms of every handler's import otherwise).
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


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
    # Objects in the drop's folder that the run does not read (zero bytes, not .csv/.csv.gz), each
    # "key: why", so every notification about the drop names them; at most SKIPPED_LISTED, then a count.
    skipped: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_its_objects(self) -> DatasetRef:
        if not self.keys and not self.keys_uri:
            raise ValueError("a dataset names its objects: keys, or keys_uri for a large drop")
        return self


class ProcessingPlan(_Contract):
    """The SageMaker Processing job that validates, splits and profiles a drop too large for the Lambda.

    The four AWS-shaped members go to CreateProcessingJob as they are; ``reports_uri`` is where the
    instances' shard reports land, which Preprocess merges once the job has completed.
    """

    app_specification: dict[str, Any]
    processing_inputs: list[dict[str, Any]]
    processing_output_config: dict[str, Any]
    processing_resources: dict[str, Any]
    stopping_condition: dict[str, int]
    reports_uri: str
    train_uri: str
    validation_uri: str
    instance_count: int


class PipelineInput(_Contract):
    """The input of every retrain execution: ingest and the scheduler start runs with it.

    ``processing`` is set only when Preprocess is called again after a drop's Processing job, to
    merge the shards' reports.
    """

    model: str
    run_id: str
    trigger: Literal["data-arrival", "schedule", "drift", "manual"] = "data-arrival"
    dataset: DatasetRef
    processing: ProcessingPlan | None = None


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


class CompilationPlan(_Contract):
    """Whether the run compiles its model with Neo, and whether the endpoint serves the result."""

    compile: bool
    # Only a cloud target matching the endpoint's instance family is served; an edge device's
    # artefact is published.
    serve: bool
    target_device: str
    # What the notification says ran where, or why nothing was compiled.
    reason: str


class FamilySpec(_Contract):
    """The run's model family, as SageMaker needs it (``conveyor_core.families`` builds it)."""

    name: str
    version: str
    # CreateTrainingJob's AlgorithmSpecification: the image, input mode and any metric regexes.
    algorithm_specification: dict[str, Any]
    # The image that serves the model when it is not compiled.
    serving_image: str
    content_type: str
    # CreateCompilationJob's InputConfig without S3Uri, which the state machine adds.
    neo_input: dict[str, Any]
    compilation: CompilationPlan


class PreprocessOutput(_Contract):
    # "processing": the drop is over ProcessingThresholdBytes; ``processing`` is the job to run.
    status: Literal["ok", "quarantined", "processing"]
    reason: str | None = None
    detail: str | None = None
    quarantine_uri: str | None = None
    train_uri: str | None = None
    validation_uri: str | None = None
    statistics_uri: str | None = None
    # The data-quality baseline (Model Monitor's statistics.json and constraints.json).
    baseline_statistics_uri: str | None = None
    baseline_constraints_uri: str | None = None
    dataset_sha256: str | None = None
    rows: int = 0
    features: int = 0
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    stopping_condition: dict[str, int] = Field(default_factory=dict)
    managed_spot: bool = False
    # Only an accepted dataset has one: the family's spec depends on the data (its feature count).
    family: FamilySpec | None = None
    processing: ProcessingPlan | None = None
    # How training reads the split: one instance with every row (the Lambda path writes one file of
    # each), or, after a Processing job, up to TrainingInstanceCount instances each with its share
    # of the parts (ShardedByS3Key: a part goes to one instance, so there are never more instances
    # than training parts).
    training_instance_count: int = 1
    training_distribution: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"
    # Each training instance downloads its channels (File mode) to this volume.
    training_volume_gb: int = DEFAULT_TRAINING_VOLUME_GB


class GateInput(_Contract):
    run_id: str
    training_job_name: str
    # The run's lineage, recorded on the model package a promoted model is registered as.
    dataset_uri: str
    dataset_sha256: str
    statistics_uri: str


class ServingTargetInput(_Contract):
    run_id: str
    training_job_name: str
    # Preprocess's spec: the configured instance type's compilation plan and serving image.
    family: FamilySpec


class ServingTarget(_Contract):
    """Where the promoted model is served, compiled for what, and what the target advisor said."""

    instance_type: str
    serving_image: str
    compilation: CompilationPlan
    # "configuration": the stack's EndpointInstanceType; "advisor": TargetSelection=advisor chose it.
    chosen_by: Literal["configuration", "advisor"]
    # The advisor's recommendation and why, or why it had none (nothing measured, nothing fast enough).
    advice: str
    recommended_instance_type: str = ""
    recommended_target: str = ""


class NonRegressionPlanInput(_Contract):
    run_id: str


class NonRegressionPlan(_Contract):
    """The two batch transforms of the golden dataset: the candidate's and the production model's."""

    candidate_model: str
    candidate_instance_type: str
    candidate_output: str
    production_model: str
    production_instance_type: str
    production_output: str
    golden_uri: str
    # Its latencies are compared with the candidate's (the training job is named after the run).
    production_training_job: str
    # The golden rows are label first, as drops are: the transforms leave the label out.
    input_filter: str = "$[1:]"


class NonRegressionInput(_Contract):
    run_id: str
    family: str
    golden_uri: str
    candidate_output: str
    production_output: str
    # Both models' latencies are the timings their training jobs printed.
    candidate_training_job: str
    production_training_job: str


class NonRegressionOutput(_Contract):
    passed: bool
    reason: str
    report_uri: str
    rows: int
    max_abs_diff: float
    disagreement: float
    # The p99 latency of one row per processor, or why it was not compared.
    latency: str
    # Merged into the package's CustomerMetadataProperties: the report is kept beside the package.
    package_metadata: dict[str, str]


class ExperimentInput(_Contract):
    run_id: str
    # When the two-variant config was applied (StartShift's entered time) and this evaluation's time.
    started_at: str
    now: str


class ExperimentOutput(_Contract):
    """One evaluation of an A/B test or bandit: what follows, and the estimate behind it."""

    decision: Literal["continue", "promote", "keep"]
    reason: str
    # UpdateEndpointWeightsAndCapacities' DesiredWeightsAndCapacities; applied when ``reweigh``.
    weights: list[dict[str, Any]]
    reweigh: bool
    candidate_share: float
    evaluations: int
    verdict: dict[str, Any]


class ApprovalRequest(_Contract):
    """What the ``.waitForTaskToken`` task hands RequestApprovalFunction: the token and what to review."""

    task_token: str
    model: str
    run_id: str
    execution: str
    package_arn: str
    timeout_seconds: int = Field(gt=0)
    gate_reason: str
    serving_note: str = ""
    target_advice: str = ""


class ModelPackageStateChange(_Contract):
    model_package_arn: str = Field(alias="ModelPackageArn")
    model_package_group_name: str = Field(default="", alias="ModelPackageGroupName")
    model_approval_status: str = Field(alias="ModelApprovalStatus")


class ModelPackageStateChangeEvent(_Contract):
    """SageMaker's "SageMaker Model Package State Change" event on EventBridge."""

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: ModelPackageStateChange


class PlanDeploymentInput(_Contract):
    run_id: str
    # The serving target's instance type; absent: the stack's EndpointInstanceType.
    instance_type: str | None = None


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


# ------------------------------------------------------------------ what the Lambdas hand back
# The state machines read these documents by JSONPath; tests/template/test_asl_contracts.py checks
# that every path the ASL reads from a function's result names a field of that function's model.


class GateOutput(_Contract):
    promote: bool
    candidate: float
    production: float | None = None
    improvement: float | None = None
    reason: str
    metric_name: str
    # The candidate's metric as a DynamoDB number string: the ASL writes it with "N.$".
    candidate_text: str
    # CustomerMetadataProperties for the model package, within SageMaker's limits (release/registry.py).
    package_metadata: dict[str, str]


class DeploymentPlanOutput(_Contract):
    endpoint_name: str
    endpoint_exists: bool
    # The history table stores it as a string attribute, so "none yet" is the empty string.
    previous_endpoint_config: str
    model_name: str
    endpoint_config_name: str
    production_variants: list[dict[str, Any]]
    deployment_config: dict[str, Any]
    strategy: str
    poll_waits: list[int]
    max_polls: int
    recreate: bool = False
    retain_variant_properties: bool = False
    deregister_autoscaling: bool = False
    # CreateEndpointConfig's DataCaptureConfig, for every config the run creates.
    data_capture_config: dict[str, Any]
    # What the plan changed from the stack's settings, and why (the notification carries them).
    notes: list[str] = Field(default_factory=list)
    # Only a variant shift has these; they are left out of the document otherwise.
    shift_config_name: str | None = None
    shift_variants: list[dict[str, Any]] | None = None
    shift_steps: list[list[dict[str, Any]]] | None = None
    shift_last_step: int | None = None
    shift_alarms: list[str] | None = None
    shift_bake_seconds: int | None = None
    shift_abort_weights: list[dict[str, Any]] | None = None


class FinalizeOutput(_Contract):
    released: bool
    next_execution: str | None = None
    next_started: bool | None = None


class PublishRequest(_Contract):
    """What the formatter returns: ``sns:publish``'s parameters, without the topic."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    subject: str = Field(alias="Subject")
    message: str = Field(alias="Message")
    message_attributes: dict[str, dict[str, str]] = Field(alias="MessageAttributes")


class RollbackPlanOutput(_Contract):
    action: Literal["rollback", "deferred", "impossible", "duplicate", "stale"]
    reason: str
    endpoint: str
    bad_config: str = ""
    good_config: str = ""
    bad_package: str = ""
    # The restored deployment's history item re-keyed as `current` (DynamoDB JSON), or {}.
    current_item: dict[str, Any] = Field(default_factory=dict)
    retain_variant_properties: bool = True
    deregister_autoscaling: bool = False
    # What the restore does beyond pointing the endpoint back, and why (the notification carries them).
    notes: list[str] = Field(default_factory=list)


class AlarmState(_Contract):
    value: str
    reason: str
    timestamp: str


class AlarmStateChangeDetail(_Contract):
    alarm_name: str = Field(alias="alarmName")
    state: AlarmState


class AlarmStateChangeEvent(_Contract):
    """CloudWatch's "CloudWatch Alarm State Change" event: the rollback state machine's and the drift action's input."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    time: str = ""
    detail: AlarmStateChangeDetail
