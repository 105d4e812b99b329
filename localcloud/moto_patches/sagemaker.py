"""SageMaker: jobs that really train and compile, endpoints that really serve, UpdateEndpoint.

moto records the calls; the running cloud's ``LocalSageMaker`` (``localcloud/sagemaker.py``) does
the work. Replaced here:

* ``create_training_job``, ``create_compilation_job``: InProgress at once, then the real job in the
  background; ``describe_compilation_job`` reports its real status, failure and artefact;
* ``create_endpoint``, ``delete_endpoint``: Creating until the models are loaded; forgotten on delete;
* ``update_endpoint`` (moto has none, backend and response): blue/green rollouts with auto-rollback;
* ``update_endpoint_weights_and_capacities``: Updating for a while, as SageMaker is;
* ``update_model_package``: keeps ``CustomerMetadataProperties`` (moto wipes them).

Each backend call the product makes first passes the running cloud's backend-level fault hook
(``fail_api`` on SageMaker calls applies in server mode too).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud import runtime
from localcloud import sagemaker as local
from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_create_training_job = original(SageMakerModelBackend, "create_training_job")
_create_compilation_job = original(SageMakerModelBackend, "create_compilation_job")
_describe_compilation_job = original(SageMakerModelBackend, "describe_compilation_job")
_create_endpoint = original(SageMakerModelBackend, "create_endpoint")
_delete_endpoint = original(SageMakerModelBackend, "delete_endpoint")
_update_model_package = original(SageMakerModelBackend, "update_model_package")
_update_weights = original(SageMakerModelBackend, "update_endpoint_weights_and_capacities")


def _service(operation: str) -> local.LocalSageMaker:
    """The running cloud's SageMaker, after its fault hook for ``operation``."""
    sagemaker = runtime.current(f"SageMaker {operation}").sagemaker
    sagemaker.faults.check("sagemaker", operation)
    return sagemaker


def create_training_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateTrainingJob")
    job = _create_training_job(self, *args, **kwargs)
    sagemaker.start_training(self, job)
    return job


def create_compilation_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateCompilationJob")
    arn = _create_compilation_job(self, *args, **kwargs)
    sagemaker.start_compilation(self, self.compilation_jobs[kwargs.get("compilation_job_name") or args[0]])
    return arn


def describe_compilation_job(self: SageMakerModelBackend, compilation_job_name: str) -> dict[str, Any]:
    description = _describe_compilation_job(self, compilation_job_name)
    return local.compilation_description(self, compilation_job_name, description)


def create_endpoint(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    sagemaker = _service("CreateEndpoint")
    endpoint = _create_endpoint(self, *args, **kwargs)
    sagemaker.start_endpoint(self, endpoint)
    return endpoint


def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    _delete_endpoint(self, endpoint_name)
    cloud = runtime.active()
    if cloud is not None:
        cloud.sagemaker.endpoint_deleted(self, endpoint_name)


def update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    deployment_config: dict[str, Any] | None = None,
) -> str:
    sagemaker = _service("UpdateEndpoint")
    return sagemaker.update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config)


def response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        deployment_config=self._get_param("DeploymentConfig"),
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
    return local.update_model_package_keeping_metadata(
        self, model_package_arn, lambda: _update_model_package(self, model_package_arn, **kwargs), kwargs
    )


PATCHES = PatchSet(
    "sagemaker",
    (
        Patch(SageMakerModelBackend, "create_training_job", create_training_job),
        Patch(SageMakerModelBackend, "create_compilation_job", create_compilation_job),
        Patch(SageMakerModelBackend, "describe_compilation_job", describe_compilation_job),
        Patch(SageMakerModelBackend, "create_endpoint", create_endpoint),
        Patch(SageMakerModelBackend, "delete_endpoint", delete_endpoint),
        Patch(SageMakerModelBackend, "update_endpoint", update_endpoint, adds=True),
        Patch(SageMakerModelBackend, "update_model_package", update_model_package),
        Patch(SageMakerModelBackend, "update_endpoint_weights_and_capacities", update_weights),
        Patch(SageMakerResponse, "update_endpoint", response_update_endpoint, adds=True),
    ),
)
