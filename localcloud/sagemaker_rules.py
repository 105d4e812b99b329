"""SageMaker's behavioural rules, as the offline cloud enforces them: a call AWS refuses is refused here.

Each rule is one function whose docstring names its AWS source. Where AWS documents the rule but not
its error text, the text is the best-sourced one (a prefix AWS's own tools match, say) and the
docstring says so; where the behaviour itself is undocumented, the rule is the strict but plausible
choice, recorded as "chosen". Shape constraints (lengths, patterns, numeric ranges of the botocore
model) are not here: the offline cloud checks those for every operation generically.

The functions read moto's SageMaker backend (and the CloudWatch and Application Auto Scaling ones
beside it) and raise moto's own SageMaker errors, so an answer reaches the caller as SageMaker's
wire error; the Neo rules return a FailureReason instead, since Neo fails a job rather than the call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.utils import arn_formatter

# --------------------------------------------------------------------------- names and ARNs


def arn(backend: SageMakerModelBackend, kind: str, name: str) -> str:
    return str(arn_formatter(kind, name, backend.account_id, backend.region_name))


# --------------------------------------------------------------------------- missing resources


def require_endpoint(backend: SageMakerModelBackend, name: str) -> Any:
    """DescribeEndpoint, UpdateEndpoint, DeleteEndpoint and UpdateEndpointWeightsAndCapacities on a
    missing endpoint: ``ValidationException`` ``Could not find endpoint "<arn>".``

    Source: the prefix AWS's SageMaker operator for Kubernetes matches for each of these calls
    (aws/amazon-sagemaker-operator-for-k8s, controllers/sdkutil/clientwrapper/sagemaker_client.go);
    the quoted ARN and trailing period as captured from AWS (facts file, section 4).
    """
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(message=f'Could not find endpoint "{arn(backend, "endpoint", name)}".')
    return endpoint


def require_endpoint_config(backend: SageMakerModelBackend, name: str) -> Any:
    """DescribeEndpointConfig, DeleteEndpointConfig, CreateEndpoint and UpdateEndpoint naming a missing
    config: ``ValidationException`` ``Could not find endpoint configuration "<arn>".``

    Source: the operator's prefixes (see ``require_endpoint``), and terraform-provider-aws issue
    #40048, which quotes ``Could not find endpoint configuration "<arn>".`` from AWS.
    """
    config = backend.endpoint_configs.get(name)
    if config is None:
        config_arn = arn(backend, "endpoint-config", name)
        raise ValidationError(message=f'Could not find endpoint configuration "{config_arn}".')
    return config


def require_model(backend: SageMakerModelBackend, name: str) -> Any:
    """DescribeModel, DeleteModel and CreateEndpointConfig naming a missing model: ``ValidationException``
    ``Could not find model "<arn>".``

    Source: the operator's prefix ``Could not find model`` (see ``require_endpoint``); the quoting is
    SageMaker's form for the other hosting resources.
    """
    model = backend._models.get(name)
    if model is None:
        raise ValidationError(message=f'Could not find model "{arn(backend, "model", name)}".')
    return model


def require_training_job(backend: SageMakerModelBackend, name: str) -> Any:
    """DescribeTrainingJob of a missing job: ``ValidationException`` ``Requested resource not found.``

    The API model lists ResourceNotFound for the call, but AWS answers ValidationException with this
    prefix: the operator matches exactly that (see ``require_endpoint``).
    """
    job = backend.training_jobs.get(name)
    if job is None:
        raise ValidationError(message="Requested resource not found.")
    return job


# --------------------------------------------------------------------------- names already taken


def refuse_existing_model(backend: SageMakerModelBackend, name: str) -> None:
    """CreateModel with a taken name: ``ValidationException`` ``Cannot create already existing model "<arn>".``

    Source: the error as AWS returned it (astronomer/astronomer-providers issue #1055).
    """
    if name in backend._models:
        raise ValidationError(message=f'Cannot create already existing model "{arn(backend, "model", name)}".')


def refuse_existing_endpoint_config(backend: SageMakerModelBackend, name: str) -> None:
    """CreateEndpointConfig with a taken name: ``ValidationException``
    ``Cannot create already existing endpoint configuration "<arn>".``

    Source: the error as AWS returned it (awslabs/spot-tagging-bot-for-digital-assets issue #2).
    """
    if name in backend.endpoint_configs:
        config_arn = arn(backend, "endpoint-config", name)
        raise ValidationError(message=f'Cannot create already existing endpoint configuration "{config_arn}".')


def refuse_existing_endpoint(backend: SageMakerModelBackend, name: str) -> None:
    """CreateEndpoint with a taken name, compared without case: ``ValidationException``
    ``Cannot create already existing endpoint "<arn>".``

    Sources: the error as AWS returned it (aws/amazon-sagemaker-examples issue #2491,
    ministryofjustice/modernisation-platform-environments PR #9383); the API model's EndpointName:
    "The name is case-insensitive in CreateEndpoint, but the case is preserved".
    """
    taken = next((existing for existing in backend.endpoints if existing.lower() == name.lower()), None)
    if taken is not None:
        raise ValidationError(message=f'Cannot create already existing endpoint "{arn(backend, "endpoint", taken)}".')


def refuse_existing_transform_job(backend: SageMakerModelBackend, name: str) -> None:
    """CreateTransformJob with a taken name: ``ResourceInUse`` (modelled for the call); moto overwrote the job."""
    if name in backend.transform_jobs:
        taken = arn(backend, "transform-job", name)
        raise ResourceInUseException(message=f"Job with name {name} already exists ({taken})")


def refuse_existing_training_job(backend: SageMakerModelBackend, name: str) -> None:
    """CreateTrainingJob with a taken name: ``ResourceInUse`` (modelled for the call) ``Training job names
    must be unique within an AWS account and region, and a training job with this name already exists (<arn>)``.

    Source: the error as AWS returned it (aws/amazon-sagemaker-examples PR #3108, SuperCowPowers/workbench
    issue #384). CreateCompilationJob's ResourceInUse for a taken name is moto's own check.
    """
    if name in backend.training_jobs:
        raise ResourceInUseException(
            message="Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn(backend, 'training-job', name)})"
        )


def refuse_existing_processing_job(backend: SageMakerModelBackend, name: str) -> None:
    """CreateProcessingJob with a taken name: ``ResourceInUse``, worded as for a training job (names are
    unique per account and Region, API_CreateProcessingJob; ResourceInUse is a modelled error of the call)."""
    if name in backend.processing_jobs:
        raise ResourceInUseException(
            message="Processing job names must be unique within an AWS account and region, and a processing job "
            f"with this name already exists ({arn(backend, 'processing-job', name)})"
        )


# --------------------------------------------------------------------------- endpoint status

# Statuses in which an update or a delete is refused as "in progress" (API model, EndpointStatus:
# SystemUpdating "cannot be updated or deleted or re-scaled until it has completed").
IN_PROGRESS_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
FAILED_STATUS = "Failed"


def check_endpoint_updatable(endpoint: Any) -> None:
    """UpdateEndpoint and UpdateEndpointWeightsAndCapacities need an endpoint that is neither Failed nor busy.

    * Failed: "DeleteEndpoint is the only operation that can be performed on a failed endpoint" (API
      model, EndpointStatus). The error text is undocumented: ``ValidationException``
      ``Cannot update failed endpoint "<arn>".``, the prefix terraform-provider-aws's acceptance tests
      and deployment scripts match; the quoted ARN is chosen, as in the in-progress form.
    * Creating, Updating, SystemUpdating, RollingBack: ``ValidationException``
      ``Cannot update in-progress endpoint "<arn>".`` (the operator's prefix, see ``require_endpoint``).
    """
    if endpoint.endpoint_status == FAILED_STATUS:
        raise ValidationError(message=f'Cannot update failed endpoint "{endpoint.arn}".')
    if endpoint.endpoint_status in IN_PROGRESS_STATUSES:
        raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


def check_endpoint_deletable(endpoint: Any) -> None:
    """DeleteEndpoint is refused while the endpoint is being created or updated (a Failed one may go).

    Source: the operator's DeleteEndpointInProgress prefix ``Cannot update in-progress endpoint``
    (ValidationException), see ``require_endpoint``.
    """
    if endpoint.endpoint_status in IN_PROGRESS_STATUSES:
        raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')


# --------------------------------------------------------------------------- deployment guardrails


@dataclass(frozen=True)
class FleetVariant:
    """One production variant of a fleet: what the guardrail and autoscaling rules compare.

    ``weight`` is set where an update keeps the variant's current weight (None: the config's).
    """

    name: str
    instance_type: str
    instance_count: int
    weight: float | None = None


def variants_of_config(config: Any) -> list[FleetVariant]:
    return [
        FleetVariant(
            str(variant["VariantName"]),
            str(variant.get("InstanceType", "")),
            int(variant.get("InitialInstanceCount", 1) or 1),
        )
        for variant in config.production_variants
    ]


def new_fleet(
    new_config: Any,
    current_variants: Iterable[Mapping[str, Any]],
    retain_all_variant_properties: bool,
    excluded_properties: Iterable[str],
) -> list[FleetVariant]:
    """The fleet an update deploys: the new config's variants, with the counts and weights it keeps.

    API model, UpdateEndpoint: ``RetainAllVariantProperties`` keeps "variant properties, such as the
    instance count or the variant weight", except those ``ExcludeRetainedVariantProperties`` lists
    (``DesiredInstanceCount``, ``DesiredWeight``); the developer guide: variants "with the same name"
    take the current ``DesiredInstanceCount`` from DescribeEndpoint. ``current_variants`` is
    DescribeEndpoint's ``ProductionVariants``.
    """
    excluded = set(excluded_properties)
    current = {str(variant["VariantName"]): variant for variant in current_variants}
    keep_counts = retain_all_variant_properties and "DesiredInstanceCount" not in excluded
    keep_weights = retain_all_variant_properties and "DesiredWeight" not in excluded
    fleet = []
    for variant in variants_of_config(new_config):
        now = current.get(variant.name, {})
        count = now.get("DesiredInstanceCount") if keep_counts else None
        weight = now.get("DesiredWeight") if keep_weights else None
        fleet.append(
            FleetVariant(
                variant.name,
                variant.instance_type,
                int(count) if count else variant.instance_count,
                float(weight) if weight is not None else None,
            )
        )
    return fleet


def uses_inf1(fleet: Iterable[FleetVariant]) -> bool:
    return any(variant.instance_type.startswith("ml.inf1.") for variant in fleet)


def all_at_once_fallback() -> dict[str, Any]:
    """What an excluded endpoint runs instead of the guardrails it asked for.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html:
    endpoints on Inf1 instances "fall back to using a blue/green deployment with all at once traffic
    shifting and no final baking period". They are not refused; no auto-rollback alarms are watched.
    """
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 0,
        }
    }


def _capacity_instances(size: Mapping[str, Any], total: int) -> float:
    """A CapacitySize in instances of a fleet of ``total``; a percentage may leave a fraction."""
    value = float(size.get("Value", 0))
    return value if size.get("Type") == "INSTANCE_COUNT" else total * value / 100.0


def step_instances(size: Mapping[str, Any], total: int) -> int:
    """The whole instances one traffic step turns on: a percentage rounds up, since an instance is whole.

    Rounding up is chosen (AWS does not document it); it is what the product assumes too.
    """
    return max(1, math.ceil(_capacity_instances(size, total) - 1e-9))


def check_canary_size(routing: Mapping[str, Any], fleet: list[FleetVariant]) -> None:
    """CANARY: ``CanarySize`` "must be less than or equal to 50% of the variant's total instance count".

    Source: API model, TrafficRoutingConfig.CanarySize. The error text is undocumented (chosen, after
    the model's sentence). A one-instance variant can take no canary: its smallest canary, one
    instance, is all of it.
    """
    size = routing.get("CanarySize")
    if routing.get("Type") != "CANARY" or not size:
        return
    for variant in fleet:
        canary = step_instances(size, variant.instance_count)
        if 2 * canary > variant.instance_count:
            raise ValidationError(
                message=f"CanarySize {_describe_size(size)} is {canary} instance(s) of variant {variant.name}'s "
                f"{variant.instance_count}: the canary size must be less than or equal to 50% of the variant's total "
                "instance count."
            )


def check_linear_step(routing: Mapping[str, Any], fleet: list[FleetVariant]) -> None:
    """LINEAR: ``LinearStepSize`` "must be 10-50% of the variant's total instance count".

    Source: API model, TrafficRoutingConfig.LinearStepSize. The error text is undocumented (chosen,
    after the model's sentence). The step is counted in whole instances, as a canary is.
    """
    size = routing.get("LinearStepSize")
    if routing.get("Type") != "LINEAR" or not size:
        return
    for variant in fleet:
        step = step_instances(size, variant.instance_count)
        requested = _capacity_instances(size, variant.instance_count)
        if 2 * step > variant.instance_count or 10 * requested < variant.instance_count:
            raise ValidationError(
                message=f"LinearStepSize {_describe_size(size)} is {step} instance(s) of variant {variant.name}'s "
                f"{variant.instance_count}: the linear step size must be 10-50% of the variant's total instance count."
            )


def _describe_size(size: Mapping[str, Any]) -> str:
    value = size.get("Value")
    return f"{value}%" if size.get("Type") == "CAPACITY_PERCENT" else f"{value} instance(s)"


def traffic_steps(routing: Mapping[str, Any], instance_count: int) -> list[float]:
    """The shares of traffic a blue/green update gives the new fleet, step by step, ending at 1.0.

    A canary turns on its instances, then all; a linear update adds a step's instances at a time. The
    shares are counted in whole instances of the fleet the update deploys.
    """
    kind = routing.get("Type", "ALL_AT_ONCE")
    total = max(1, instance_count)
    if kind == "CANARY" and routing.get("CanarySize"):
        return [min(step_instances(routing["CanarySize"], total) / total, 0.5), 1.0]
    if kind == "LINEAR" and routing.get("LinearStepSize"):
        step = step_instances(routing["LinearStepSize"], total)
        return [*(count / total for count in range(step, total, step)), 1.0]
    return [1.0]


def total_wait_seconds(policy: Mapping[str, Any], fleet: list[FleetVariant]) -> float:
    """The waits a blue/green update makes, which ``MaximumExecutionTimeoutInSeconds`` must exceed.

    Formula (chosen; the API model only says the timeout "should be larger than the total waiting
    time specified in TerminationWaitInSeconds and WaitIntervalInSeconds"): ``WaitIntervalInSeconds``
    once per traffic step short of 100% (one for a canary, ``ceil(count / step) - 1`` for a linear
    update) and once for all at once (which bakes the whole new fleet for it), plus
    ``TerminationWaitInSeconds`` once. It is what the offline rollout waits, step for step.
    """
    routing = policy.get("TrafficRoutingConfiguration", {})
    interval = float(routing.get("WaitIntervalInSeconds", 0))
    count = max((variant.instance_count for variant in fleet), default=1)
    steps = traffic_steps(routing, count)
    interval_waits = len(steps) - 1 if routing.get("Type", "ALL_AT_ONCE") != "ALL_AT_ONCE" else 1
    return interval * interval_waits + float(policy.get("TerminationWaitInSeconds", 0))


def check_execution_timeout(policy: Mapping[str, Any], fleet: list[FleetVariant]) -> None:
    """``MaximumExecutionTimeoutInSeconds`` must be larger than the update's total waits.

    Source: API model, BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds. Whether AWS refuses a
    shorter one is undocumented: refusing it is chosen (an update that cannot finish its own waits);
    the text is chosen. See ``total_wait_seconds`` for the formula.
    """
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is None:
        return
    waits = total_wait_seconds(policy, fleet)
    if float(timeout) <= waits:
        raise ValidationError(
            message=f"MaximumExecutionTimeoutInSeconds {timeout} must be larger than the total waiting time of the "
            f"deployment ({waits:g} s of WaitIntervalInSeconds and TerminationWaitInSeconds)."
        )


def check_same_variant_names(current: Iterable[str], new: Iterable[str], new_config_name: str) -> None:
    """An update with deployment guardrails keeps the variant names.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html:
    "When doing a blue/green or rolling deployment, your new endpoint configuration must have the
    same variant name as the old endpoint configuration." Applied when the update names a
    DeploymentConfig (an update without one may change its variants); comparing the whole set of
    names and refusing with a ValidationException are chosen, the text too.
    """
    old, fresh = sorted(current), sorted(new)
    if old != fresh:
        raise ValidationError(
            message=f'The endpoint configuration "{new_config_name}" has variants {fresh}; an update with a '
            f"DeploymentConfig must keep the variant names of the current endpoint configuration {old}."
        )


def check_rollback_alarms(alarm_names: list[str], existing: Iterable[str]) -> None:
    """Every ``AutoRollbackConfiguration`` alarm must exist.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html
    (SageMaker reads the alarms with ``cloudwatch:DescribeAlarms``). Refusing an alarm it cannot find
    is chosen (an auto-rollback that can never fire is no guardrail); the text is chosen.
    """
    known = set(existing)
    missing = [name for name in alarm_names if name not in known]
    if missing:
        raise ValidationError(
            message=f"The alarm(s) {missing} in AutoRollbackConfiguration could not be found in CloudWatch."
        )


def guarded_deployment(
    deployment: Mapping[str, Any] | None,
    current_variants: list[str],
    new_config_name: str,
    fleet: list[FleetVariant],
    alarm_names_in_account: Iterable[str],
) -> dict[str, Any]:
    """Check an UpdateEndpoint's ``DeploymentConfig``; return the one the update really runs.

    Every rule above applies; an Inf1 fleet then falls back to all at once (``all_at_once_fallback``).
    An update without a DeploymentConfig is a blue/green all-at-once update with no guardrails.
    """
    if not deployment:
        return {}
    check_same_variant_names(current_variants, [variant.name for variant in fleet], new_config_name)
    policy = deployment.get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {}
    check_canary_size(routing, fleet)
    check_linear_step(routing, fleet)
    if policy:
        check_execution_timeout(policy, fleet)
    alarms = [alarm["AlarmName"] for alarm in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
    check_rollback_alarms(alarms, alarm_names_in_account)
    if uses_inf1(fleet):
        return all_at_once_fallback()
    return dict(deployment)


# --------------------------------------------------------------------------- batch transform


_LEADING_COLUMNS_DROPPED = re.compile(r"^\$\[(\d+):\]$")


def csv_input_filter_start(data_processing: Mapping[str, Any]) -> int:
    """The first CSV column a transform job's ``InputFilter`` keeps: ``$`` keeps all, ``$[k:]`` drops k.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html (for
    CSV, ``InputFilter`` selects columns by a JSONPath array index or slice, ``"$[1:]"`` leaving out the
    first). The offline cloud runs those two forms; any other filter fails the job with a ValueError
    naming it, rather than running a different selection than AWS would.
    """
    text = str(data_processing.get("InputFilter") or "$").strip()
    if text == "$":
        return 0
    found = _LEADING_COLUMNS_DROPPED.match(text)
    if found is None:
        raise ValueError(f"ClientError: the offline cloud runs InputFilter $ or $[k:] on CSV only, not {text!r}")
    return int(found.group(1))


# --------------------------------------------------------------------------- data capture


def check_data_capture(
    data_capture: Mapping[str, Any] | None, production_variants: Iterable[Mapping[str, Any]]
) -> None:
    """CreateEndpointConfig: a serverless variant cannot capture data.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html, "Feature
    exclusions": data capture is among the features Serverless Inference does not support. Refusing the
    config when capture is on (``EnableCapture`` defaults to true), and the text, are chosen. The rest of
    ``DataCaptureConfig`` (sampling 0-100, the destination's pattern and length, the capture modes, the
    content type lists) is the API model's, checked for every call by ``localcloud.request_validation``.
    """
    if not data_capture or not data_capture.get("EnableCapture", True):
        return
    serverless = [str(variant["VariantName"]) for variant in production_variants if variant.get("ServerlessConfig")]
    if serverless:
        raise ValidationError(
            message=f"DataCaptureConfig is not supported for serverless endpoints: variant(s) {serverless} "
            "have a ServerlessConfig."
        )


# --------------------------------------------------------------------------- Application Auto Scaling

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def variant_resource_id(endpoint_name: str, variant_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def check_autoscaled_variants_kept(
    endpoint_name: str,
    current: list[FleetVariant],
    new: list[FleetVariant],
    registered_resource_ids: Iterable[str],
) -> None:
    """An update may not change the instance type of, or remove, a variant registered for auto scaling.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html: "If the
    update would change the instance type for any model that is a target for auto scaling, the update
    fails ... If you are trying to update the endpoint by calling the UpdateEndpoint API, the call
    fails"; deregistering first is needed when changing the instance type of, or removing, an
    autoscaled variant. A new model on the same type is allowed. The error code and text are
    undocumented: ValidationException and this text are chosen.
    """
    registered = set(registered_resource_ids)
    new_types = {variant.name: variant.instance_type for variant in new}
    for variant in current:
        resource_id = variant_resource_id(endpoint_name, variant.name)
        if resource_id not in registered:
            continue
        if variant.name not in new_types:
            change = "removes it"
        elif new_types[variant.name] != variant.instance_type:
            change = f"changes its instance type from {variant.instance_type} to {new_types[variant.name]}"
        else:
            continue
        raise ValidationError(
            message=f'The variant "{variant.name}" of endpoint "{endpoint_name}" is registered as a scalable target '
            f"with Application Auto Scaling ({resource_id}) and the update {change}. Delete its scaling policies and "
            "call DeregisterScalableTarget before updating the endpoint."
        )


# --------------------------------------------------------------------------- Neo

# Neo's serving image for a compiled XGBoost model: xgboost-neo:latest, one image for every instance
# type (SageMaker Python SDK image_uri_config/xgboost-neo.json; https://docs.aws.amazon.com/sagemaker/
# latest/dg/neo-deployment-hosting-services-container-images.html).
XGBOOST_NEO_REPOSITORY = "xgboost-neo"
_XGBOOST_NEO_ACCOUNTS = {
    "af-south-1": "774647643957",
    "ap-east-1": "110948597952",
    "ap-northeast-1": "941853720454",
    "ap-northeast-2": "151534178276",
    "ap-northeast-3": "925152966179",
    "ap-south-1": "763008648453",
    "ap-southeast-1": "324986816169",
    "ap-southeast-2": "355873309152",
    "ca-central-1": "464438896020",
    "cn-north-1": "472730292857",
    "cn-northwest-1": "474822919863",
    "eu-central-1": "746233611703",
    "eu-central-2": "010526262399",
    "eu-north-1": "601324751636",
    "eu-south-1": "966458181534",
    "eu-west-1": "802834080501",
    "eu-west-2": "205493899709",
    "eu-west-3": "254080097072",
    "il-central-1": "275950707576",
    "me-south-1": "836785723513",
    "sa-east-1": "756306329178",
    "us-east-1": "785573368785",
    "us-east-2": "007439368137",
    "us-gov-east-1": "227234621604",
    "us-gov-west-1": "263933020539",
    "us-iso-east-1": "167761179201",
    "us-isob-east-1": "406031935815",
    "us-isof-east-1": "751086301963",
    "us-isof-south-1": "935523707064",
    "us-west-1": "710691900526",
    "us-west-2": "301217895009",
}
# ECR's DNS suffix per partition (botocore endpoints.json), by region prefix, longest first.
_ECR_SUFFIXES = (
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("cn-", "amazonaws.com.cn"),
)
# Neo's PyTorch serving image: one repository, tagged by framework version and processor
# (<version>-cpu-py3 / <version>-gpu-py3), in the same accounts (image_uri_config/neo-pytorch.json).
PYTORCH_NEO_REPOSITORY = "sagemaker-inference-pytorch"
NEO_FRAMEWORK_IMAGES = {"XGBOOST": XGBOOST_NEO_REPOSITORY, "PYTORCH": PYTORCH_NEO_REPOSITORY}
_NEO_GPU_TARGETS = frozenset({"ml_p2", "ml_p3", "ml_g4dn"})
# Neo compiles PyTorch models of these versions for cloud instances, and of 1.8 or earlier for edge devices
# (https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html, neo-supported-devices-edge-frameworks).
NEO_PYTORCH_CLOUD_VERSIONS = frozenset({(1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (1, 12), (1, 13), (2, 0)})
NEO_PYTORCH_EDGE_MAX_VERSION = (1, 8)
# Inferentia and Trainium compile PyTorch through the Neuron SDK: a plainly traced model is not one.
_PYTORCH_NEURON_TARGETS = {"ml_inf1": "Inferentia", "ml_inf2": "Inferentia", "ml_trn1": "Trainium"}
# Neo compiles XGBoost models of 1.3.3 or earlier (neo-supported-cloud, neo-supported-devices-edge-frameworks).
NEO_MAX_XGBOOST_VERSION = (1, 3)
# Targets Neo cannot compile an XGBoost model for, and why. Inferentia and Trainium: documented by
# omission (the Inferentia framework table lists MXNet, PyTorch and TensorFlow only). GPU instances
# and Elastic Inference: chosen, undocumented; xgboost-neo is one image with no GPU variant, and the
# product treats XGBoost on Neo as CPU only (conveyor_core.families.xgboost.neo_refusal).
_XGBOOST_REFUSED_TARGETS = {
    "ml_inf1": "Inferentia",
    "ml_inf2": "Inferentia",
    "ml_trn1": "Trainium",
    "ml_eia2": "Elastic Inference",
    "ml_p2": "GPU",
    "ml_p3": "GPU",
    "ml_g4dn": "GPU",
}


def ecr_suffix(region: str) -> str:
    return next((suffix for prefix, suffix in _ECR_SUFFIXES if region.startswith(prefix)), "amazonaws.com")


def neo_inference_image(
    framework: str, region: str, target_device: str = "", framework_version: str = ""
) -> str | None:
    """The image Neo names in DescribeCompilationJob's ``InferenceImage``; None where it names none here."""
    repository = NEO_FRAMEWORK_IMAGES.get(framework.upper())
    account = _XGBOOST_NEO_ACCOUNTS.get(region)
    if repository is None or account is None:
        return None
    tag = "latest"
    if framework.upper() == "PYTORCH":
        if not framework_version:
            return None
        tag = f"{framework_version}-{'gpu' if target_device in _NEO_GPU_TARGETS else 'cpu'}-py3"
    return f"{account}.dkr.ecr.{region}.{ecr_suffix(region)}/{repository}:{tag}"


def is_neo_image(image: str) -> bool:
    """Whether ``image`` is one of Neo's serving images, which run compiled models only."""
    path = image.split("/", 1)[1] if "/" in image else image
    return path.split(":", 1)[0] in NEO_FRAMEWORK_IMAGES.values()


def inference_image_for_job(framework: str, target_device: str, region: str, framework_version: str = "") -> str | None:
    """DescribeCompilationJob's ``InferenceImage``: present for completed ``ml_*`` targets only.

    Sources: API model, DescribeCompilationJobResponse.InferenceImage ("Specify an image only if the
    target device is a cloud instance"); developer guide: "SageMaker Neo now provides inference image
    URI information for ``ml_*`` targets". Absent for edge devices and ``TargetPlatform`` jobs
    (documented by implication), and for ml_eia2, which the SageMaker Python SDK skips.
    """
    if not target_device.startswith("ml_") or target_device == "ml_eia2":
        return None
    return neo_inference_image(framework, region, target_device, framework_version)


def neo_target_refusal(
    framework: str, target_device: str, target_platform: Mapping[str, Any], framework_version: str = ""
) -> str | None:
    """Why Neo fails a job for this framework and target (its FailureReason), or None.

    Neo reports such problems by failing the job (``ClientError: ...``, as sagemaker-python-sdk issue
    #1616 shows for a model Neo cannot read); failing the job rather than the call is chosen here.
    """
    if framework.upper() == "PYTORCH":
        return _pytorch_target_refusal(target_device, framework_version)
    if framework.upper() != "XGBOOST":
        return None
    kind = _XGBOOST_REFUSED_TARGETS.get(target_device)
    if kind is None and str(target_platform.get("Accelerator", "")).upper() == "NVIDIA":
        kind, target_device = "GPU", f"TargetPlatform {dict(target_platform)}"
    if kind is None:
        return None
    return (
        f"ClientError: OutputConfiguration: Framework XGBOOST is not supported for {target_device} ({kind}); "
        "Neo compiles XGBoost models for CPU instances (ml_c4, ml_c5, ml_m4, ml_m5) and edge devices."
    )


def _pytorch_target_refusal(target_device: str, framework_version: str) -> str | None:
    if target_device in _PYTORCH_NEURON_TARGETS:
        return (
            f"ClientError: OutputConfiguration: a PyTorch model for {target_device} "
            f"({_PYTORCH_NEURON_TARGETS[target_device]}) must be traced with the Neuron SDK"
        )
    version = _VERSION_OF(framework_version)
    if version is None:
        return "ClientError: InputConfiguration: FrameworkVersion is required for PYTORCH"
    if target_device.startswith("ml_"):
        if version not in NEO_PYTORCH_CLOUD_VERSIONS:
            return (
                f"ClientError: InputConfiguration: Neo does not compile PyTorch {framework_version} for cloud instances"
            )
        return None
    if version > NEO_PYTORCH_EDGE_MAX_VERSION:
        return f"ClientError: InputConfiguration: Neo compiles PyTorch 1.8 or earlier for {target_device}"
    return None


_VERSION = re.compile(r"^(\d+)\.(\d+)")


def framework_version(text: str) -> tuple[int, int] | None:
    """``1.7-1`` (an image tag) or ``1.7.6`` → (1, 7)."""
    match = _VERSION.match(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


# The parser under a name the ``framework_version`` parameters below do not shadow.
_VERSION_OF = framework_version


def neo_version_refusal(
    framework: str, trained_with: tuple[int, int] | None, framework_version: str = ""
) -> str | None:
    """Neo refuses XGBoost models saved by a version newer than 1.3.

    Sources: https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html ("Supports 1.3.3
    or earlier"); the FailureReason's first sentence is the one AWS gave for a model newer than Neo
    supported (aws/sagemaker-python-sdk issue #1616). A model of unknown version is refused too
    (chosen: Neo cannot vouch for it either).
    """
    if framework.upper() == "PYTORCH":
        requested = _VERSION_OF(framework_version)
        if trained_with is None or requested is None or trained_with <= requested:
            return None
        return (
            f"ClientError: InputConfiguration: the model was saved by PyTorch {trained_with[0]}.{trained_with[1]}, "
            f"newer than the FrameworkVersion {framework_version} it is compiled with"
        )
    if framework.upper() != "XGBOOST":
        return None
    if trained_with is not None and trained_with <= NEO_MAX_XGBOOST_VERSION:
        return None
    saved_by = f"XGBoost {trained_with[0]}.{trained_with[1]}" if trained_with else "an unknown XGBoost version"
    return (
        "ClientError: InputConfiguration: Invalid XGBoost model. Please make sure the framework you select is "
        f"correct. The model was saved by {saved_by}; Neo compiles XGBoost models of version 1.3.3 or earlier."
    )


def hosting_refusal(
    manifest: Mapping[str, Any] | None, image: str, instance_type: str, region: str, variant: str
) -> str | None:
    """Why a variant's container cannot load its artefact: a Neo artefact needs Neo's image and family.

    Source: https://docs.aws.amazon.com/sagemaker/latest/dg/neo-deployment-hosting-services.html: "When
    you deploy a compiled model, you need to use the same instance for the target that you used for
    compilation", served by the image DescribeCompilationJob names. AWS validates neither at
    CreateEndpointConfig (undocumented); the container fails to load the model, so the endpoint fails
    (CreateEndpoint) or the update rolls back (UpdateEndpoint). An uncompiled artefact given to the
    Neo image fails the same way (chosen: that image runs compiled models only).
    """
    if manifest is None:
        if is_neo_image(image):
            return f"variant {variant}: the image {image} serves Neo-compiled models, and the artefact is not one"
        return None
    target = str(manifest.get("target_device", ""))
    expected = neo_inference_image(
        str(manifest.get("framework", "")), region, target, str(manifest.get("framework_version", ""))
    )
    if not target.startswith("ml_"):
        return (
            f"variant {variant}: the artefact was compiled by Neo for the device {target}, not for a SageMaker instance"
        )
    if image != expected:
        return f"variant {variant}: a model Neo compiled for {target} is served by {expected}, not by {image}"
    family = "ml_" + instance_type.split(".")[1] if instance_type.count(".") == 2 else instance_type
    if family != target:
        return f"variant {variant}: the artefact was compiled by Neo for {target} and cannot run on {instance_type}"
    return None
