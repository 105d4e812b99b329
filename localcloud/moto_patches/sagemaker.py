"""SageMaker: jobs that really train and compile, endpoints that really serve, UpdateEndpoint, SageMaker's rules.

moto records the calls; the running cloud's ``LocalSageMaker`` (``localcloud/sagemaker.py``) does
the work, and ``localcloud/sagemaker_rules.py`` holds the rules SageMaker applies to each call.
Replaced here:

* ``create_processing_job`` (backend and response: moto drops ProcessingResources): a taken name is
  refused; InProgress, then the job runs for real, one worker process per instance;
* ``create_training_job``, ``create_compilation_job``: InProgress at once, then the real job in the
  background; ``describe_compilation_job`` reports its real status, failure, artefact and image;
* ``create_model``, ``create_endpoint_config``, ``create_endpoint``, ``create_training_job``: a name
  already taken is refused (moto overwrites); ``describe_*``/``delete_*`` of a missing model,
  endpoint config, endpoint or training job answer SageMaker's own error; ``create_endpoint_config``
  refuses data capture on a serverless variant;
* ``create_endpoint``, ``delete_endpoint``: Creating until the models are loaded; a busy endpoint
  cannot be deleted; a deleted one is forgotten and its autoscaled variants deregistered;
* ``update_endpoint`` (moto has none, backend and response): blue/green rollouts with auto-rollback,
  after the status, guardrail and autoscaling rules;
* ``update_endpoint_weights_and_capacities``: refused on a Failed or busy endpoint; Updating for a
  while, as SageMaker is;
* ``update_model_package``: keeps ``CustomerMetadataProperties`` (moto wipes them), and the
  ``ModelApprovalStatus`` when the request has none (moto set it to None);
* ``create_model_package``, ``update_model_package``: the "SageMaker Model Package State Change"
  event on the default bus, for a new version in a group and for a changed approval status
  (``localcloud/model_package_events.py``).

Each backend call the product makes first passes the running cloud's backend-level fault hook
(``fail_api`` on SageMaker calls applies in server mode too); the creates, UpdateEndpoint and
DeleteEndpoint then pass its lost-answer hook, after they acted.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud import model_package_events, runtime
from localcloud import sagemaker as local
from localcloud import sagemaker_rules as rules
from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_create_model = original(SageMakerModelBackend, "create_model")
_describe_model = original(SageMakerModelBackend, "describe_model")
_delete_model = original(SageMakerModelBackend, "delete_model")
_create_endpoint_config = original(SageMakerModelBackend, "create_endpoint_config")
_describe_endpoint_config = original(SageMakerModelBackend, "describe_endpoint_config")
_delete_endpoint_config = original(SageMakerModelBackend, "delete_endpoint_config")
_create_training_job = original(SageMakerModelBackend, "create_training_job")
_describe_training_job = original(SageMakerModelBackend, "describe_training_job")
_create_compilation_job = original(SageMakerModelBackend, "create_compilation_job")
_describe_compilation_job = original(SageMakerModelBackend, "describe_compilation_job")
_create_endpoint = original(SageMakerModelBackend, "create_endpoint")
_describe_endpoint = original(SageMakerModelBackend, "describe_endpoint")
_delete_endpoint = original(SageMakerModelBackend, "delete_endpoint")
_update_model_package = original(SageMakerModelBackend, "update_model_package")
_create_model_package = original(SageMakerModelBackend, "create_model_package")
_create_transform_job = original(SageMakerModelBackend, "create_transform_job")
_create_processing_job = original(SageMakerModelBackend, "create_processing_job")
_update_weights = original(SageMakerModelBackend, "update_endpoint_weights_and_capacities")


def _service(operation: str) -> local.LocalSageMaker:
    """The running cloud's SageMaker, after its fault hook for ``operation``."""
    sagemaker = runtime.current(f"SageMaker {operation}").sagemaker
    sagemaker.faults.check("sagemaker", operation)
    return sagemaker


def _acted(sagemaker: local.LocalSageMaker, operation: str, result: Any) -> Any:
    """The call's answer, unless a lost-answer fault drops it now that the service acted."""
    sagemaker.faults.lose_response("sagemaker", operation)
    return result


def _name(args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str) -> str:
    return str(kwargs[parameter] if parameter in kwargs else args[0])


# ------------------------------------------------------------------------------ models and configs


def create_model(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateModel")
    rules.refuse_existing_model(self, _name(args, kwargs, "model_name"))
    return _acted(sagemaker, "CreateModel", _create_model(self, *args, **kwargs))


def describe_model(self: SageMakerModelBackend, model_name: str) -> Any:
    rules.require_model(self, model_name)
    return _describe_model(self, model_name)


def delete_model(self: SageMakerModelBackend, model_name: str) -> None:
    rules.require_model(self, model_name)
    _delete_model(self, model_name)


def create_endpoint_config(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateEndpointConfig")
    rules.refuse_existing_endpoint_config(self, _name(args, kwargs, "endpoint_config_name"))
    for variant in kwargs.get("production_variants") or []:
        rules.require_model(self, variant["ModelName"])
    rules.check_data_capture(kwargs.get("data_capture_config"), kwargs.get("production_variants") or [])
    return _acted(sagemaker, "CreateEndpointConfig", _create_endpoint_config(self, *args, **kwargs))


def describe_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> Any:
    rules.require_endpoint_config(self, endpoint_config_name)
    return _describe_endpoint_config(self, endpoint_config_name)


def delete_endpoint_config(self: SageMakerModelBackend, endpoint_config_name: str) -> None:
    rules.require_endpoint_config(self, endpoint_config_name)
    _delete_endpoint_config(self, endpoint_config_name)


# ------------------------------------------------------------------------------ jobs


def create_training_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateTrainingJob")
    rules.refuse_existing_training_job(self, _name(args, kwargs, "training_job_name"))
    job = _create_training_job(self, *args, **kwargs)
    sagemaker.start_training(self, job)
    return _acted(sagemaker, "CreateTrainingJob", job)


def create_processing_job(
    self: SageMakerModelBackend,
    *args: Any,
    processing_resources: dict[str, Any] | None = None,
    environment: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    sagemaker = _service("CreateProcessingJob")
    rules.refuse_existing_processing_job(self, _name(args, kwargs, "processing_job_name"))
    job = _create_processing_job(self, *args, **kwargs)
    # moto drops both from the request; the job cannot run without its cluster.
    job.processing_resources = processing_resources
    job.environment = environment
    sagemaker.start_processing(self, job)
    return _acted(sagemaker, "CreateProcessingJob", job)


def response_create_processing_job(self: SageMakerResponse) -> ActionResult:
    """moto's response, passing the request's ProcessingResources and Environment on."""
    job = self.sagemaker_backend.create_processing_job(
        app_specification=self._get_param("AppSpecification"),
        experiment_config=self._get_param("ExperimentConfig"),
        network_config=self._get_param("NetworkConfig"),
        processing_inputs=self._get_param("ProcessingInputs"),
        processing_job_name=self._get_param("ProcessingJobName"),
        processing_output_config=self._get_param("ProcessingOutputConfig"),
        role_arn=self._get_param("RoleArn"),
        stopping_condition=self._get_param("StoppingCondition"),
        tags=self._get_param("Tags"),
        processing_resources=self._get_param("ProcessingResources"),
        environment=self._get_param("Environment"),
    )
    return ActionResult({"ProcessingJobArn": job.arn})


def describe_training_job(self: SageMakerModelBackend, training_job_name: str) -> Any:
    rules.require_training_job(self, training_job_name)
    return _describe_training_job(self, training_job_name)


def create_transform_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateTransformJob")
    rules.refuse_existing_transform_job(self, _name(args, kwargs, "transform_job_name"))
    rules.require_model(self, _name(args, kwargs, "model_name"))
    job = _create_transform_job(self, *args, **kwargs)
    sagemaker.start_transform(self, job)
    return _acted(sagemaker, "CreateTransformJob", job)


def create_compilation_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateCompilationJob")
    arn = _create_compilation_job(self, *args, **kwargs)
    sagemaker.start_compilation(self, self.compilation_jobs[_name(args, kwargs, "compilation_job_name")])
    return _acted(sagemaker, "CreateCompilationJob", arn)


def describe_compilation_job(self: SageMakerModelBackend, compilation_job_name: str) -> dict[str, Any]:
    description = _describe_compilation_job(self, compilation_job_name)
    return local.compilation_description(self, compilation_job_name, description)


# ------------------------------------------------------------------------------ endpoints


def create_endpoint(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateEndpoint")
    rules.refuse_existing_endpoint(self, _name(args, kwargs, "endpoint_name"))
    rules.require_endpoint_config(self, str(kwargs.get("endpoint_config_name", args[1] if len(args) > 1 else "")))
    endpoint = _create_endpoint(self, *args, **kwargs)
    sagemaker.start_endpoint(self, endpoint)
    return _acted(sagemaker, "CreateEndpoint", endpoint)


_DESCRIBE_ATTEMPTS = 5


def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> Any:
    rules.require_endpoint(self, endpoint_name)
    # moto builds the answer by iterating the endpoint's __dict__, which the simulation's rollout thread
    # may grow at that moment (a first failure_reason, the deployment's figures): SageMaker's reads are
    # consistent, so the read is taken again rather than failing with "dictionary changed size".
    for attempt in range(_DESCRIBE_ATTEMPTS):
        try:
            return _describe_endpoint(self, endpoint_name)
        except RuntimeError as error:
            if "changed size during iteration" not in str(error) or attempt == _DESCRIBE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    cloud = runtime.active()
    if cloud is not None:
        cloud.faults.check("sagemaker", "DeleteEndpoint")
    rules.check_endpoint_deletable(rules.require_endpoint(self, endpoint_name))
    _delete_endpoint(self, endpoint_name)
    if cloud is not None:
        cloud.sagemaker.endpoint_deleted(self, endpoint_name)
        cloud.faults.lose_response("sagemaker", "DeleteEndpoint")


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    deployment_config: dict[str, Any] | None = None,
    retain_all_variant_properties: bool = False,
    exclude_retained_variant_properties: list[dict[str, Any]] | None = None,
) -> str:
    sagemaker = _service("UpdateEndpoint")
    arn = sagemaker.update_endpoint(
        self,
        endpoint_name,
        endpoint_config_name,
        deployment_config,
        retain_all_variant_properties,
        exclude_retained_variant_properties,
    )
    return str(_acted(sagemaker, "UpdateEndpoint", arn))


def response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        deployment_config=self._get_param("DeploymentConfig"),
        retain_all_variant_properties=bool(self._get_param("RetainAllVariantProperties", False)),
        exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
    )
    return ActionResult({"EndpointArn": arn})


def update_weights(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    sagemaker = _service("UpdateEndpointWeightsAndCapacities")
    return sagemaker.update_weights(
        self,
        endpoint_name,
        desired_weights_and_capacities,
        lambda: _update_weights(self, endpoint_name, desired_weights_and_capacities),
    )


def update_model_package(self: SageMakerModelBackend, model_package_arn: str, **kwargs: Any) -> Any:
    before = model_package_events.approval_status(self, model_package_arn)
    if kwargs.get("model_approval_status") is None:
        # UpdateModelPackage without ModelApprovalStatus leaves it as it is on SageMaker; moto cleared it.
        kwargs["model_approval_status"] = before
    result = local.update_model_package_keeping_metadata(
        self, model_package_arn, lambda: _update_model_package(self, model_package_arn, **kwargs), kwargs
    )
    model_package_events.updated(self, model_package_arn, before)
    return result


def create_model_package(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    arn = _create_model_package(self, *args, **kwargs)
    model_package_events.created(self, str(arn))
    return arn


PATCHES = PatchSet(
    "sagemaker",
    (
        Patch(SageMakerModelBackend, "create_model", create_model),
        Patch(SageMakerModelBackend, "describe_model", describe_model),
        Patch(SageMakerModelBackend, "delete_model", delete_model),
        Patch(SageMakerModelBackend, "create_endpoint_config", create_endpoint_config),
        Patch(SageMakerModelBackend, "describe_endpoint_config", describe_endpoint_config),
        Patch(SageMakerModelBackend, "delete_endpoint_config", delete_endpoint_config),
        Patch(SageMakerModelBackend, "create_training_job", create_training_job),
        Patch(SageMakerModelBackend, "describe_training_job", describe_training_job),
        Patch(SageMakerModelBackend, "create_compilation_job", create_compilation_job),
        Patch(SageMakerModelBackend, "describe_compilation_job", describe_compilation_job),
        Patch(SageMakerModelBackend, "create_endpoint", create_endpoint),
        Patch(SageMakerModelBackend, "describe_endpoint", describe_endpoint),
        Patch(SageMakerModelBackend, "delete_endpoint", delete_endpoint),
        Patch(SageMakerModelBackend, "update_endpoint", update_endpoint, adds=True),
        Patch(SageMakerModelBackend, "update_model_package", update_model_package),
        Patch(SageMakerModelBackend, "create_model_package", create_model_package),
        Patch(SageMakerModelBackend, "create_transform_job", create_transform_job),
        Patch(SageMakerModelBackend, "create_processing_job", create_processing_job),
        Patch(SageMakerResponse, "create_processing_job", response_create_processing_job),
        Patch(SageMakerModelBackend, "update_endpoint_weights_and_capacities", update_weights),
        Patch(SageMakerResponse, "update_endpoint", response_update_endpoint, adds=True),
    ),
)
