"""Environment variables, parsed once into typed settings.

Each function reads only the settings it needs; a missing variable fails at the first
invocation with a clear pydantic error instead of a ``KeyError`` deep in the logic.
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

MetricDirection = Literal["maximize", "minimize"]
DeploymentStrategy = Literal["canary", "linear", "all-at-once", "variant-shift", "ab-test", "bandit"]
# The strategies that run an experiment: the candidate serves beside production until a verdict.
EXPERIMENT_STRATEGIES = ("ab-test", "bandit")


class EnvSettings(BaseModel):
    """Fields read from the environment by their alias; keyword arguments (tests) take precedence.

    A plain pydantic model over ``os.environ`` rather than pydantic-settings: every value here is a
    string the validators below already parse, and importing pydantic-settings (with python-dotenv
    and asyncio) cost every cold start about 80 ms.
    """

    # defer_build: a function reads one of these classes, so the others' validators are never built.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    def __init__(self, **values: Any) -> None:
        # Only the declared variables: a validation error echoes its input, and the rest of the
        # environment holds the function's credentials.
        names = {field.alias or name for name, field in type(self).model_fields.items()}
        environment = {name: os.environ[name] for name in names if name in os.environ}
        super().__init__(**{**environment, **values})


class CommonSettings(EnvSettings):
    model_name: str = Field(alias="MODEL_NAME", pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,30}$")


class IngestSettings(CommonSettings):
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    lock_table: str = Field(alias="LOCK_TABLE")
    topic_arn: str = Field(alias="TOPIC_ARN")
    # Where the key lists of drops too large to pass inline are handed to the run.
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    incoming_prefix: str = Field(default="incoming/", alias="INCOMING_PREFIX")
    max_object_bytes: int = Field(default=5 * 1024**3, alias="MAX_OBJECT_BYTES", gt=0)
    idempotency_ttl_seconds: int = Field(default=7 * 24 * 3600, alias="IDEMPOTENCY_TTL_SECONDS", gt=0)
    # Where folder drops wait for their marker, counted part by part.
    drop_table: str = Field(alias="DROP_TABLE")


class SweepSettings(IngestSettings):
    metrics_namespace: str = Field(default="Conveyor", alias="POWERTOOLS_METRICS_NAMESPACE")
    drop_quiet_seconds: int = Field(default=600, alias="DROP_QUIET_SECONDS", ge=0)
    drop_timeout_seconds: int = Field(default=3600, alias="DROP_TIMEOUT_SECONDS", gt=0)


class PreprocessSettings(CommonSettings):
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    # Where the production model's feature count is read (a drop with another is quarantined).
    history_table: str = Field(alias="HISTORY_TABLE")
    region: str = Field(alias="AWS_REGION")
    model_family: str = Field(default="xgboost", alias="MODEL_FAMILY")
    # Empty: the family's default version and its image for the region.
    framework_version: str = Field(default="", alias="FRAMEWORK_VERSION")
    training_image: str = Field(default="", alias="TRAINING_IMAGE")
    # Where the model will be served, and the Neo target the stack asks for (empty: the endpoint's).
    endpoint_instance_type: str = Field(alias="ENDPOINT_INSTANCE_TYPE")
    neo_target_device: str = Field(default="", alias="NEO_TARGET_DEVICE")
    hyperparameters: dict[str, str] = Field(alias="HYPERPARAMETERS")
    validation_fraction: float = Field(default=0.2, alias="VALIDATION_FRACTION", gt=0.0, lt=0.5)
    # The largest drop accepted at all; drops over the threshold go to a Processing job.
    max_dataset_bytes: int = Field(default=1024**4, alias="MAX_DATASET_BYTES", gt=0)
    processing_threshold_bytes: int = Field(default=1024**3, alias="PROCESSING_THRESHOLD_BYTES", gt=0)
    processing_instance_count: int = Field(default=2, alias="PROCESSING_INSTANCE_COUNT", ge=1, le=100)
    processing_instance_type: str = Field(default="ml.m5.xlarge", alias="PROCESSING_INSTANCE_TYPE")
    processing_volume_gb: int = Field(default=100, alias="PROCESSING_VOLUME_GB", ge=1, le=16384)
    max_processing_seconds: int = Field(default=3600, alias="MAX_PROCESSING_SECONDS", ge=60, le=777600)
    # Empty: the PyTorch training Deep Learning Container of the region (Python 3.11, pandas, numpy).
    processing_image: str = Field(default="", alias="PROCESSING_IMAGE")
    # Instances that train on a drop Processing split (a Lambda-preprocessed drop trains on one).
    training_instance_count: int = Field(default=1, alias="TRAINING_INSTANCE_COUNT", ge=1, le=100)
    max_training_seconds: int = Field(default=3600, alias="MAX_TRAINING_SECONDS", ge=60)
    spot_training: bool = Field(default=False, alias="SPOT_TRAINING")
    # Written into the baseline's constraints.json: the distance past which a feature drifts.
    drift_threshold: float = Field(default=0.1, alias="DRIFT_THRESHOLD", gt=0.0, le=1.0)

    def stopping_condition(self) -> dict[str, int]:
        """Spot training needs MaxWaitTimeInSeconds (>= the runtime); on-demand training must omit it."""
        condition = {"MaxRuntimeInSeconds": self.max_training_seconds}
        if self.spot_training:
            condition["MaxWaitTimeInSeconds"] = self.max_training_seconds * 2
        return condition

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _parse_hyperparameters(cls, value: object) -> object:
        # SageMaker wants every hyperparameter as a string, so numbers in the JSON are stringified.
        if isinstance(value, str):
            value = json.loads(value or "{}")
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class GateSettings(CommonSettings):
    history_table: str = Field(alias="HISTORY_TABLE")
    # Recorded in each model package's lineage.
    code_version: str = Field(default="", alias="CODE_VERSION")
    metric_name: str = Field(alias="METRIC_NAME")
    metric_direction: MetricDirection = Field(alias="METRIC_DIRECTION")
    min_improvement: float = Field(default=0.0, alias="MIN_IMPROVEMENT", ge=0.0)


class ServingTargetSettings(CommonSettings):
    region: str = Field(alias="AWS_REGION")
    training_image: str = Field(default="", alias="TRAINING_IMAGE")
    endpoint_instance_type: str = Field(alias="ENDPOINT_INSTANCE_TYPE")
    neo_target_device: str = Field(default="", alias="NEO_TARGET_DEVICE")
    # "configuration": serve on EndpointInstanceType and only report the advice; "advisor": follow it.
    target_selection: Literal["configuration", "advisor"] = Field(default="configuration", alias="TARGET_SELECTION")
    # The objective the advice is for: the endpoint latency alarm's threshold, at this many rows a request.
    latency_objective_us: float = Field(default=500_000, alias="LATENCY_OBJECTIVE_US", gt=0)
    request_rows: int = Field(default=1, alias="REQUEST_ROWS")

    @field_validator("request_rows")
    @classmethod
    def _a_measured_batch(cls, value: int) -> int:
        if value not in (1, 64, 1024):
            raise ValueError("REQUEST_ROWS is a batch size the advisor measures: 1, 64 or 1024")
        return value


class NonRegressionSettings(CommonSettings):
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    max_abs_diff: float = Field(default=1.0, alias="NON_REGRESSION_MAX_ABS_DIFF", ge=0.0)
    max_disagreement: float = Field(default=0.1, alias="NON_REGRESSION_MAX_DISAGREEMENT", ge=0.0, le=1.0)
    # 0.5: the candidate's p99 for one row may be up to 50% above production's (see latency_regression).
    max_latency_increase: float = Field(default=0.5, alias="NON_REGRESSION_MAX_LATENCY_INCREASE", ge=0.0)


class NonRegressionPlanSettings(NonRegressionSettings):
    history_table: str = Field(alias="HISTORY_TABLE")
    # Where the candidate answers: the instance family its serving image is for.
    endpoint_instance_type: str = Field(alias="ENDPOINT_INSTANCE_TYPE")
    # Empty: the held-out validation split of the production model's own data.
    golden_uri: str = Field(default="", alias="GOLDEN_DATASET_URI", pattern=r"^(s3://[^/]+(/.*)?)?$")


class ApprovalSettings(CommonSettings):
    state_table: str = Field(alias="STATE_TABLE")
    topic_arn: str = Field(alias="TOPIC_ARN")


class DeploymentSettings(CommonSettings):
    endpoint_name: str = Field(alias="ENDPOINT_NAME")
    variant_name: str = Field(default="primary", alias="VARIANT_NAME")
    instance_type: str = Field(alias="ENDPOINT_INSTANCE_TYPE")
    instance_count: int = Field(default=2, alias="ENDPOINT_INSTANCE_COUNT", ge=1)
    strategy: DeploymentStrategy = Field(alias="DEPLOYMENT_STRATEGY")
    canary_percent: int = Field(default=10, alias="CANARY_PERCENT", ge=1, le=50)
    linear_step_percent: int = Field(default=25, alias="LINEAR_STEP_PERCENT", ge=10, le=50)
    bake_seconds: int = Field(default=600, alias="BAKE_SECONDS", ge=0, le=3600)
    rollback_alarms: list[str] = Field(default_factory=list, alias="ROLLBACK_ALARMS")
    max_deployment_seconds: int = Field(default=3600, alias="MAX_DEPLOYMENT_SECONDS", ge=600, le=28800)
    # Alarms on the candidate variant: a variant shift must also watch the traffic it moves.
    candidate_alarms: list[str] = Field(default_factory=list, alias="CANDIDATE_ALARMS")
    # Endpoint data capture (the drift monitor reads it): a share of requests, 0 for none.
    data_capture_uri: str = Field(alias="DATA_CAPTURE_URI", pattern=r"^s3://[^/]+(/.*)?$")
    data_capture_percent: int = Field(default=0, alias="DATA_CAPTURE_PERCENT", ge=0, le=100)
    data_capture_kms_key: str = Field(default="", alias="DATA_CAPTURE_KMS_KEY")
    # An experiment: the A/B test's candidate share, and how often the experiment is evaluated.
    ab_traffic_percent: int = Field(default=50, alias="AB_TRAFFIC_PERCENT", ge=1, le=99)
    experiment_interval_seconds: int = Field(default=3600, alias="EXPERIMENT_INTERVAL_SECONDS", ge=60, le=86_400)
    experiment_max_seconds: int = Field(default=14 * 86_400, alias="AB_MAX_DURATION_SECONDS", ge=3600)

    @field_validator("variant_name")
    @classmethod
    def _not_the_candidate_name(cls, value: str) -> str:
        if value == "candidate":
            raise ValueError("'candidate' is reserved for the second variant of a variant shift")
        return value

    @field_validator("rollback_alarms", "candidate_alarms", mode="before")
    @classmethod
    def _split_alarm_names(cls, value: object) -> object:
        # CloudFormation hands over a CommaDelimitedList joined back into one string.
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


class ExperimentSettings(CommonSettings):
    history_table: str = Field(alias="HISTORY_TABLE")
    endpoint_name: str = Field(alias="ENDPOINT_NAME")
    variant_name: str = Field(default="primary", alias="VARIANT_NAME")
    strategy: DeploymentStrategy = Field(alias="DEPLOYMENT_STRATEGY")
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    capture_prefix: str = Field(default="capture/", alias="CAPTURE_PREFIX")
    data_bucket: str = Field(alias="DATA_BUCKET")
    ground_truth_prefix: str = Field(default="ground-truth/", alias="GROUND_TRUTH_PREFIX")
    metric: Literal["reward", "accuracy"] = Field(default="reward", alias="AB_METRIC")
    alpha: float = Field(default=0.05, alias="AB_ALPHA", gt=0.0, lt=0.5)
    minimum_effect: float = Field(default=0.02, alias="AB_MINIMUM_EFFECT", gt=0.0)
    min_samples: int = Field(default=100, alias="AB_MIN_SAMPLES", ge=10)
    max_duration_seconds: int = Field(default=14 * 86_400, alias="AB_MAX_DURATION_SECONDS", ge=3600)
    bandit_floor_percent: int = Field(default=10, alias="BANDIT_FLOOR_PERCENT", ge=1, le=49)
    promote_probability: float = Field(default=0.95, alias="BANDIT_PROMOTE_PROBABILITY", gt=0.5, lt=1.0)


class MonitorSettings(CommonSettings):
    history_table: str = Field(alias="HISTORY_TABLE")
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    endpoint_name: str = Field(alias="ENDPOINT_NAME")
    topic_arn: str = Field(alias="TOPIC_ARN")
    # Where SageMaker writes data capture (DataCaptureConfig's DestinationS3Uri, in the artifact bucket).
    capture_prefix: str = Field(default="capture/", alias="CAPTURE_PREFIX")
    report_prefix: str = Field(default="monitoring/", alias="REPORT_PREFIX")
    # How much past traffic each hourly run weighs, and how many rows it takes to judge at all.
    window_seconds: int = Field(default=86_400, alias="DRIFT_WINDOW_SECONDS", ge=3600)
    min_rows: int = Field(default=1000, alias="DRIFT_MIN_ROWS", ge=1)
    # Labels for captured requests (Model Monitor's ground-truth format) and the metric they give.
    data_bucket: str = Field(alias="DATA_BUCKET")
    ground_truth_prefix: str = Field(default="ground-truth/", alias="GROUND_TRUTH_PREFIX")
    quality_metric: str = Field(default="validation:auc", alias="METRIC_NAME")
    ground_truth_min_rows: int = Field(default=200, alias="GROUND_TRUTH_MIN_ROWS", ge=1)


class ScheduleSettings(CommonSettings):
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")
    lock_table: str = Field(alias="LOCK_TABLE")
    history_table: str = Field(alias="HISTORY_TABLE")
    topic_arn: str = Field(alias="TOPIC_ARN")
    data_bucket: str = Field(alias="DATA_BUCKET")
    artifact_bucket: str = Field(alias="ARTIFACT_BUCKET")
    incoming_prefix: str = Field(default="incoming/", alias="INCOMING_PREFIX")
    max_object_bytes: int = Field(default=5 * 1024**3, alias="MAX_OBJECT_BYTES", gt=0)


class DriftActionSettings(ScheduleSettings):
    endpoint_name: str = Field(alias="ENDPOINT_NAME")
    report_prefix: str = Field(default="monitoring/", alias="REPORT_PREFIX")
    # notify: tell people; retrain: also start a run on the newest drop when it is newer than production's.
    drift_action: Literal["notify", "retrain"] = Field(default="notify", alias="DRIFT_ACTION")


class RollbackSettings(CommonSettings):
    endpoint_name: str = Field(alias="ENDPOINT_NAME")
    history_table: str = Field(alias="HISTORY_TABLE")
    state_table: str = Field(alias="STATE_TABLE")


class NotificationSettings(EnvSettings):
    region: str = Field(default="us-east-1", alias="AWS_REGION")


class FinalizeSettings(CommonSettings):
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN")
    lock_table: str = Field(alias="LOCK_TABLE")


class WatchSettings(CommonSettings):
    retrain_state_machine_arn: str = Field(alias="RETRAIN_STATE_MACHINE_ARN")
    rollback_state_machine_arn: str = Field(alias="ROLLBACK_STATE_MACHINE_ARN")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    lock_table: str = Field(alias="LOCK_TABLE")
    topic_arn: str = Field(alias="TOPIC_ARN")


SettingsT = TypeVar("SettingsT", bound=EnvSettings)


def load(settings_type: type[SettingsT]) -> SettingsT:
    """Parse the environment for one invocation.

    Deliberately not cached: parsing costs microseconds, and the offline cloud runs many
    functions (and many stacks, in tests) in one process, where a cache would go stale.
    """
    return settings_type()
