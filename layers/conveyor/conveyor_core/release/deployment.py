"""Building SageMaker endpoint configs and blue/green ``DeploymentConfig`` for a rollout.

The plan is always one SageMaker accepts. Where the stack's settings cannot be carried out as
given (a canary on a one-instance fleet, a timeout shorter than the rollout's own waits), the plan
changes them to the nearest feasible rollout and says so in ``notes``, which the run's notification
carries; a rollout no setting can save is refused with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from conveyor_core.release.polling import (
    CREATE_BUDGET_SECONDS,
    CREATE_FIRST_POLL_SECONDS,
    ROLLOUT_POLL_SLACK_SECONDS,
    poll_schedule,
)
from conveyor_core.shared.contracts import DeploymentPlanOutput
from conveyor_core.shared.settings import EXPERIMENT_STRATEGIES, DeploymentSettings

# Names of SageMaker models, endpoint configs and jobs: 1-63 characters, alphanumerics and hyphens.
MAX_RESOURCE_NAME = 63

# SageMaker's deployment guardrails: a canary is at most half the variant's instances, a linear step
# 10-50 % of them, and MaximumExecutionTimeoutInSeconds (600-28800 s) exceeds the rollout's waits.
MAX_CANARY_PERCENT = 50
MIN_LINEAR_STEP_PERCENT = 10
MAX_LINEAR_STEP_PERCENT = 50
MIN_DEPLOYMENT_TIMEOUT_SECONDS = 600
MAX_DEPLOYMENT_TIMEOUT_SECONDS = 28800
# How much longer than its waits a rollout is given when the stack's timeout is too short.
TIMEOUT_MARGIN_SECONDS = 600
# While the endpoint is in these states, nothing but DeleteEndpoint may touch it.
FAILED_STATUS = "Failed"
# A Standard execution's history holds at most 25,000 events. One evaluation of an experiment
# (wait, describe, alarms, evaluate) wrote 27 offline; a bandit's weight change adds 5, and 11 per
# poll while it applies (two polls of 30 s for a change that takes a minute): about 55 at worst,
# so 400 evaluations (22,000 events) leave room for the rest of the run.
MAX_EXPERIMENT_EVALUATIONS = 400
# A bandit starts from an even split: it has no evidence for either variant yet.
BANDIT_FIRST_PERCENT = 50


class InfeasibleRolloutError(ValueError):
    """No rollout SageMaker accepts can carry out the stack's settings; the message says why."""


@dataclass(frozen=True, slots=True)
class ServingEndpoint:
    """What DescribeEndpoint and the serving config say about the endpoint a run deploys to."""

    status: str
    config_name: str = ""
    failure_reason: str = ""
    # The serving config's production variant: its model and instance type, when the config says.
    production_model: str | None = None
    instance_type: str | None = None
    # DescribeEndpoint's CurrentInstanceCount of that variant: autoscaling may have moved it.
    current_instance_count: int | None = None


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    endpoint_name: str
    endpoint_exists: bool
    previous_endpoint_config: str
    model_name: str
    endpoint_config_name: str
    production_variants: list[dict[str, Any]]
    deployment_config: dict[str, Any]
    strategy: str
    poll_waits: list[int]
    shift: VariantShift | None = None
    # The endpoint failed: it is deleted, then created again with the new model.
    recreate: bool = False
    # Keep the instance counts autoscaling set, unless the instance type changes.
    retain_variant_properties: bool = False
    # A changed instance type: SageMaker refuses the update while autoscaling is registered on it.
    deregister_autoscaling: bool = False
    data_capture_config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_output(self) -> dict[str, Any]:
        """What PlanDeployment returns, built through its contract model (the ASL reads it by path).

        Only a variant shift has the ``shift_*`` fields: the others leave them out rather than send nulls.
        """
        return DeploymentPlanOutput(
            endpoint_name=self.endpoint_name,
            endpoint_exists=self.endpoint_exists,
            previous_endpoint_config=self.previous_endpoint_config,
            model_name=self.model_name,
            endpoint_config_name=self.endpoint_config_name,
            production_variants=self.production_variants,
            deployment_config=self.deployment_config,
            strategy=self.strategy,
            poll_waits=self.poll_waits,
            # The state machine reads poll_waits[attempt + 1], so the last index is never polled past.
            max_polls=len(self.poll_waits) - 1,
            recreate=self.recreate,
            retain_variant_properties=self.retain_variant_properties,
            deregister_autoscaling=self.deregister_autoscaling,
            data_capture_config=self.data_capture_config,
            notes=self.notes,
            **(self.shift.as_output() if self.shift else {}),
        ).model_dump(mode="json", exclude_none=True)


def rollout_budget(settings: DeploymentSettings) -> int:
    """How long a guarded update may take: SageMaker's own timeout plus the final termination wait."""
    return deployment_timeout(settings) + settings.bake_seconds


def minimum_rollout_seconds(settings: DeploymentSettings) -> int:
    """The least time a blue/green update can take: its bakes, which SageMaker never shortens.

    A canary bakes its share for ``WaitIntervalInSeconds``, a linear rollout waits that long after
    every step short of 100%, all at once bakes the whole new fleet for it; then every strategy
    keeps the old fleet for ``TerminationWaitInSeconds``. The variant shift's final swap is all at
    once.
    """
    bake = settings.bake_seconds
    if effective_strategy(settings) == "linear":
        steps_short_of_full = len(range(settings.linear_step_percent, 100, settings.linear_step_percent))
        return steps_short_of_full * bake + bake
    return 2 * bake


def first_deployment_poll(settings: DeploymentSettings, exists: bool) -> int:
    if not exists:
        return CREATE_FIRST_POLL_SECONDS
    return minimum_rollout_seconds(settings) + ROLLOUT_POLL_SLACK_SECONDS


CANDIDATE_VARIANT = "candidate"


@dataclass(frozen=True, slots=True)
class VariantShift:
    """A variant-shift rollout: a two-variant config, then weight steps, each baked and checked."""

    config_name: str
    variants: list[dict[str, Any]]
    steps: list[list[dict[str, Any]]]
    alarms: list[str]
    bake_seconds: int

    def as_output(self) -> dict[str, Any]:
        return {
            "shift_config_name": self.config_name,
            "shift_variants": self.variants,
            "shift_steps": self.steps,
            "shift_last_step": len(self.steps) - 1,
            "shift_alarms": self.alarms,
            "shift_bake_seconds": self.bake_seconds,
            # Weights that send everything back to the production variant before it is restored.
            "shift_abort_weights": _weights(self.variants[0]["VariantName"], 0),
        }


def build_data_capture_config(settings: DeploymentSettings) -> dict[str, Any]:
    """CreateEndpointConfig's DataCaptureConfig: the requests and answers the drift monitor reads.

    Capture is switched off (not left out) at 0 %, so every config names where capture would go.
    """
    config: dict[str, Any] = {
        "EnableCapture": settings.data_capture_percent > 0,
        "InitialSamplingPercentage": settings.data_capture_percent,
        "DestinationS3Uri": settings.data_capture_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        # Without it SageMaker base64-encodes CSV payloads; the monitor reads them as CSV text.
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    if settings.data_capture_kms_key:
        config["KmsKeyId"] = settings.data_capture_kms_key
    return config


def shift_percentages(first_percent: int, step_percent: int) -> list[int]:
    """Candidate traffic per step: the canary share first, then linear steps up to 100."""
    shares = [first_percent]
    while shares[-1] < 100:
        shares.append(min(100, shares[-1] + step_percent))
    return shares


def _weights(production_variant: str, candidate_percent: int) -> list[dict[str, Any]]:
    return [
        {"VariantName": production_variant, "DesiredWeight": float(100 - candidate_percent)},
        {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": float(candidate_percent)},
    ]


def build_variant_shift(
    settings: DeploymentSettings, run_id: str, new_model: str, production_model: str
) -> VariantShift:
    alarms = [*settings.rollback_alarms, *settings.candidate_alarms][:100]
    if not alarms:
        # DescribeAlarms without names returns every firing alarm in the account.
        raise ValueError("a variant shift needs rollback alarms to watch")
    shares = shift_percentages(settings.canary_percent, settings.linear_step_percent)
    first = shares[0]
    variants = [
        {**build_production_variants(settings, production_model)[0], "InitialVariantWeight": float(100 - first)},
        {
            **build_production_variants(settings, new_model)[0],
            "VariantName": CANDIDATE_VARIANT,
            "InitialVariantWeight": float(first),
        },
    ]
    return VariantShift(
        config_name=resource_name(run_id, "shift"),
        variants=variants,
        steps=[_weights(settings.variant_name, share) for share in shares],
        alarms=alarms,
        bake_seconds=settings.bake_seconds,
    )


def build_experiment(settings: DeploymentSettings, run_id: str, new_model: str, production_model: str) -> VariantShift:
    """An A/B test or bandit: the two-variant config at the first share, evaluated every interval.

    It is a variant shift of one step whose bake is the evaluation interval: the same states apply
    the weights, wait and check both variants' alarms; the evaluation decides what follows.
    """
    evaluations = math.ceil(settings.experiment_max_seconds / settings.experiment_interval_seconds)
    if evaluations > MAX_EXPERIMENT_EVALUATIONS:
        raise InfeasibleRolloutError(
            f"AbMaxDurationSeconds {settings.experiment_max_seconds} at one evaluation every "
            f"{settings.experiment_interval_seconds} s (ExperimentIntervalSeconds) is {evaluations} evaluations, more "
            f"than the {MAX_EXPERIMENT_EVALUATIONS} one Step Functions execution's history holds; evaluate less often"
        )
    first = settings.ab_traffic_percent if settings.strategy == "ab-test" else BANDIT_FIRST_PERCENT
    shift = build_variant_shift(
        settings.model_copy(update={"canary_percent": first}), run_id, new_model, production_model
    )
    return VariantShift(
        config_name=shift.config_name,
        variants=shift.variants,
        steps=[_weights(settings.variant_name, first)],
        alarms=shift.alarms,
        bake_seconds=settings.experiment_interval_seconds,
    )


def resource_name(run_id: str, suffix: str = "") -> str:
    """A SageMaker-legal name derived from the run, unique per run and kind of resource."""
    tail = f"-{suffix}" if suffix else ""
    return f"{run_id[: MAX_RESOURCE_NAME - len(tail)]}{tail}"


def supports_blue_green(instance_type: str) -> bool:
    # Inf1 instances cannot run two fleets side by side; SageMaker only allows all-at-once there.
    return not instance_type.startswith("ml.inf1.")


def _traffic_step_fits(percent: int, instance_count: int) -> bool:
    """Whether ``percent`` of the fleet, in whole instances, is at most half of it."""
    return math.ceil(instance_count * percent / 100) <= instance_count // 2


def effective_strategy(settings: DeploymentSettings) -> str:
    """The strategy the rollout really uses: the stack's, unless SageMaker cannot carry it out."""
    if settings.strategy == "variant-shift" or settings.strategy in EXPERIMENT_STRATEGIES:
        return settings.strategy
    if not supports_blue_green(settings.instance_type):
        return "all-at-once"
    if settings.strategy == "canary" and not _traffic_step_fits(settings.canary_percent, settings.instance_count):
        return "all-at-once"
    if settings.strategy == "linear" and not _traffic_step_fits(settings.linear_step_percent, settings.instance_count):
        return "all-at-once"
    return settings.strategy


def deployment_timeout(settings: DeploymentSettings) -> int:
    """``MaximumExecutionTimeoutInSeconds``: the stack's, or longer when its waits would not fit in it."""
    waits = minimum_rollout_seconds(settings)
    if settings.max_deployment_seconds > waits:
        return settings.max_deployment_seconds
    needed = max(MIN_DEPLOYMENT_TIMEOUT_SECONDS, waits + TIMEOUT_MARGIN_SECONDS)
    if needed > MAX_DEPLOYMENT_TIMEOUT_SECONDS:
        raise InfeasibleRolloutError(
            f"the {effective_strategy(settings)} rollout waits {waits} s (BakeTimeSeconds {settings.bake_seconds} per "
            f"step and after the last), more than SageMaker's longest deployment ({MAX_DEPLOYMENT_TIMEOUT_SECONDS} s); "
            "shorten BakeTimeSeconds or take larger steps"
        )
    return needed


def rollout_notes(settings: DeploymentSettings) -> list[str]:
    """What the plan changed from the stack's settings, and why, for the run's notification."""
    notes: list[str] = []
    strategy = effective_strategy(settings)
    if strategy != settings.strategy and settings.strategy in ("canary", "linear"):
        percent = settings.canary_percent if settings.strategy == "canary" else settings.linear_step_percent
        if not supports_blue_green(settings.instance_type):
            why = f"{settings.instance_type} cannot run two fleets side by side"
        else:
            step = math.ceil(settings.instance_count * percent / 100)
            why = (
                f"a {percent} % {settings.strategy} step of {settings.instance_count} instance(s) is {step}, "
                "more than half the fleet, which SageMaker refuses"
            )
        notes.append(f"{settings.strategy} rollout planned all at once: {why}")
    timeout = deployment_timeout(settings)
    if timeout != settings.max_deployment_seconds:
        notes.append(
            f"DeploymentTimeoutSeconds {settings.max_deployment_seconds} is not longer than the rollout's waits "
            f"({minimum_rollout_seconds(settings)} s): the deployment may take {timeout} s"
        )
    return notes


def build_deployment_config(settings: DeploymentSettings) -> dict[str, Any]:
    """The ``DeploymentConfig`` for ``UpdateEndpoint``: blue/green traffic shifting plus auto-rollback.

    The guardrails only watch the alarms while the update runs; after it completes, the
    alarm-driven rollback takes over.
    """
    strategy = effective_strategy(settings)
    if strategy == "variant-shift" or strategy in EXPERIMENT_STRATEGIES:
        # The shift itself is driven step by step by the state machine; its final swap is all-at-once.
        strategy = "all-at-once"
    routing: dict[str, Any] = {"WaitIntervalInSeconds": settings.bake_seconds}
    if strategy == "canary":
        routing["Type"] = "CANARY"
        routing["CanarySize"] = {
            "Type": "CAPACITY_PERCENT",
            "Value": min(settings.canary_percent, MAX_CANARY_PERCENT),
        }
    elif strategy == "linear":
        routing["Type"] = "LINEAR"
        routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent}
    else:
        routing["Type"] = "ALL_AT_ONCE"
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": settings.bake_seconds,
            "MaximumExecutionTimeoutInSeconds": deployment_timeout(settings),
        }
    }
    alarms = settings.rollback_alarms[:10]
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config


def build_production_variants(settings: DeploymentSettings, model_name: str) -> list[dict[str, Any]]:
    # The variant name never changes: blue/green guardrails require it, and autoscaling is
    # registered on it, so both survive every config update.
    return [
        {
            "VariantName": settings.variant_name,
            "ModelName": model_name,
            "InitialInstanceCount": settings.instance_count,
            "InstanceType": settings.instance_type,
            "InitialVariantWeight": 1.0,
        }
    ]


def _rollout_settings(settings: DeploymentSettings, serving: ServingEndpoint | None) -> DeploymentSettings:
    """The settings a retained update really runs with: the fleet autoscaling left, not the stack's count.

    ``RetainAllVariantProperties`` keeps the variant's current instance count, and SageMaker sizes a
    canary or a linear step against the fleet it updates, so a fleet scaled in to one instance
    cannot take a canary the stack's count would allow.
    """
    current = serving.current_instance_count if serving is not None else None
    if not current or current == settings.instance_count:
        return settings
    return settings.model_copy(update={"instance_count": current})


def plan_deployment(settings: DeploymentSettings, run_id: str, serving: ServingEndpoint | None) -> DeploymentPlan:
    """Decide between CreateEndpoint (first model), a guarded UpdateEndpoint, or a variant shift.

    A Failed endpoint accepts nothing but DeleteEndpoint, so it is deleted and created again. A
    variant shift needs the serving config's production model to keep serving beside the candidate.
    """
    model_name = resource_name(run_id)
    recreate = serving is not None and serving.status == FAILED_STATUS
    exists = serving is not None and not recreate
    notes: list[str] = []
    if recreate and serving is not None:
        notes.append(
            f"endpoint {settings.endpoint_name} was {FAILED_STATUS} ({serving.failure_reason or 'no reason given'}): "
            "it is deleted and created again with the new model"
        )
    shift = None
    if exists and (settings.strategy == "variant-shift" or settings.strategy in EXPERIMENT_STRATEGIES):
        if serving is None or not serving.production_model:
            raise ValueError(f"a {settings.strategy} needs the production variant's model")
        build = build_variant_shift if settings.strategy == "variant-shift" else build_experiment
        shift = build(settings, run_id, model_name, serving.production_model)
    serving_type = serving.instance_type if serving is not None else None
    instance_type_changes = exists and serving_type not in (None, settings.instance_type)
    retained = exists and not instance_type_changes
    rollout = _rollout_settings(settings, serving) if retained else settings
    if exists:
        notes.extend(rollout_notes(rollout))
    if instance_type_changes:
        notes.append(
            f"the instance type changes from {serving_type} to {settings.instance_type}: autoscaling is "
            "deregistered for the update and registered again after it"
        )
    return DeploymentPlan(
        endpoint_name=settings.endpoint_name,
        endpoint_exists=exists,
        # The history table stores it as a string attribute, so "none yet" is the empty string.
        previous_endpoint_config=serving.config_name if exists and serving is not None else "",
        model_name=model_name,
        endpoint_config_name=resource_name(run_id, "cfg"),
        production_variants=build_production_variants(settings, model_name),
        deployment_config=build_deployment_config(rollout) if exists else {},
        strategy=effective_strategy(rollout) if exists else "create",
        poll_waits=poll_schedule(
            rollout_budget(rollout) if exists else CREATE_BUDGET_SECONDS, first_deployment_poll(rollout, exists)
        ),
        shift=shift,
        recreate=recreate,
        retain_variant_properties=retained,
        deregister_autoscaling=instance_type_changes,
        data_capture_config=build_data_capture_config(settings),
        notes=notes,
    )
