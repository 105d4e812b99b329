"""SageMaker that does the work: moto records the calls, this module trains, compiles and hosts.

moto's training and compilation jobs are complete the moment they are created and write
nothing; it has no UpdateEndpoint, and InvokeEndpoint returns a fixed body. Here:

* a training job runs the built-in XGBoost contract in a subprocess (``sagemaker_engine``) and
  goes InProgress -> Completed/Failed with the real metrics, artefact and FailureReason;
* a compilation job compiles tree models with treelite/tl2cgen (Neo's tree compiler);
* an endpoint hosts real models per variant; UpdateEndpoint performs the blue/green rollout of
  its DeploymentConfig (canary, linear, all-at-once) on the offline clock, watching the
  auto-rollback alarms while it bakes;
* InvokeEndpoint routes by variant weight and emits AWS/SageMaker metrics per variant;
* UpdateModelPackage keeps CustomerMetadataProperties (moto wipes them).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import random
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from localcloud.clock import CLOCK
from localcloud.faults import FAULTS

LOG = logging.getLogger("localcloud.sagemaker")
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sagemaker-job")
_JOBS: set[Future[Any]] = set()
_JOBS_LOCK = threading.Lock()


def _submit(work: Any, *args: Any) -> None:
    future = _POOL.submit(work, *args)
    with _JOBS_LOCK:
        _JOBS.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[Any]) -> None:
    with _JOBS_LOCK:
        _JOBS.discard(future)


def wait_idle(timeout: float = 60.0) -> bool:
    """Wait for background jobs and rollouts, so none outlives the cloud that started it."""
    with _JOBS_LOCK:
        pending = list(_JOBS)
    _done, not_done = wait(pending, timeout=timeout)
    return not not_done


_ROOT = Path(tempfile.mkdtemp(prefix="localcloud-sagemaker-"))
_GPU_TARGET_PREFIXES = ("ml_g4dn", "ml_p2", "ml_p3", "ml_inf", "jetson")
# How often a rollout re-reads its alarms, in simulated seconds.
ALARM_POLL_SECONDS = 10


@dataclass
class JobDurations:
    """Simulated minimum durations of jobs, so orchestration can be measured as if a job took an hour.

    A real job ends when its work is done *and* this much simulated time (scaled by the clock) has
    passed since it started; 0 keeps jobs as fast as the local work.
    """

    training_seconds: float = 0.0
    compilation_seconds: float = 0.0


JOB_DURATIONS = JobDurations()


def _hold_until(started: float, simulated_seconds: float) -> None:
    remaining = CLOCK.real_seconds(simulated_seconds) - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _s3(region: str) -> Any:
    return boto_client_for(region=region, service="s3")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _download_prefix(region: str, uri: str, target: Path) -> None:
    s3 = _s3(region)
    bucket, prefix = _split(uri)
    target.mkdir(parents=True, exist_ok=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) :].lstrip("/").replace("/", "_") or Path(item["Key"]).name
            (target / name).write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


def _get_bytes(region: str, uri: str) -> bytes:
    bucket, key = _split(uri)
    return bytes(_s3(region).get_object(Bucket=bucket, Key=key)["Body"].read())


def _put_bytes(region: str, uri: str, body: bytes) -> None:
    bucket, key = _split(uri)
    _s3(region).put_object(Bucket=bucket, Key=key, Body=body)


# --------------------------------------------------------------------------- training


def _run_training(backend: SageMakerModelBackend, job: Any) -> None:
    from localcloud.sagemaker_engine.training import run_training

    job_dir = Path(tempfile.mkdtemp(prefix=f"{job.training_job_name}-", dir=_ROOT))
    started = time.monotonic()
    try:
        channels: dict[str, Path] = {}
        for channel in job.input_data_config:
            local = job_dir / "channels" / channel["ChannelName"]
            _download_prefix(backend.region_name, channel["DataSource"]["S3DataSource"]["S3Uri"], local)
            channels[channel["ChannelName"]] = local
        job.secondary_status = "Training"
        limit = float(job.stopping_condition.get("MaxRuntimeInSeconds", 86400))
        outcome = run_training(job_dir / "opt-ml", dict(job.hyper_parameters or {}), channels, limit)
        _hold_until(started, JOB_DURATIONS.training_seconds)
        if outcome.status == "Completed" and outcome.model_tar_gz is not None:
            _put_bytes(backend.region_name, job.model_artifacts["S3ModelArtifacts"], outcome.model_tar_gz)
            now = _now()
            job.final_metric_data_list = [{**metric, "Timestamp": now} for metric in outcome.final_metrics]
            job.training_job_status = job.secondary_status = "Completed"
        else:
            job.failure_reason = outcome.failure_reason or "training failed"
            job.training_job_status = job.secondary_status = "Failed"
        job.training_time_in_seconds = job.billable_time_in_seconds = max(1, int(outcome.seconds))
    except Exception as error:  # an infrastructure fault in the simulation still ends the job
        LOG.exception("training job %s crashed", job.training_job_name)
        job.failure_reason = f"InternalServerError: {error}"
        job.training_job_status = job.secondary_status = "Failed"
    finally:
        job.training_end_time = job.last_modified_time = _now()


_original_create_training_job = SageMakerModelBackend.create_training_job


def _create_training_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    FAULTS.check("sagemaker", "CreateTrainingJob")
    job = _original_create_training_job(self, *args, **kwargs)
    job.training_job_status = "InProgress"
    job.secondary_status = "Starting"
    job.final_metric_data_list = []
    job.failure_reason = None
    _submit(_run_training, self, job)
    return job


# --------------------------------------------------------------------------- compilation


def _run_compilation(backend: SageMakerModelBackend, job: Any) -> None:
    from localcloud.sagemaker_engine.compilation import compile_model

    started = time.monotonic()
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{job.compilation_job_name}-", dir=_ROOT))
        model = _get_bytes(backend.region_name, job.input_config["S3Uri"])
        target = job.output_config.get("TargetDevice") or job.output_config.get("TargetPlatform", {}).get("Os", "")
        outcome = compile_model(model, job.input_config.get("Framework", ""), str(target), work)
        _hold_until(started, JOB_DURATIONS.compilation_seconds)
        if outcome.status == "COMPLETED" and outcome.artifact_tar_gz is not None:
            uri = job.output_config["S3OutputLocation"].rstrip("/") + f"/model-{target}.tar.gz"
            _put_bytes(backend.region_name, uri, outcome.artifact_tar_gz)
            job.model_artifacts = {"S3ModelArtifacts": uri}
            job.failure_reason = ""
            job.compilation_job_status = "COMPLETED"
        else:
            job.failure_reason = outcome.failure_reason or "compilation failed"
            job.compilation_job_status = "FAILED"
        job.status_message = outcome.status_message
    except Exception as error:
        LOG.exception("compilation job %s crashed", job.compilation_job_name)
        job.failure_reason = f"ClientError: {error}"
        job.compilation_job_status = "FAILED"
    finally:
        job.compilation_end_time = job.last_modified_time = _now()


_original_create_compilation_job = SageMakerModelBackend.create_compilation_job
_original_describe_compilation_job = SageMakerModelBackend.describe_compilation_job


def _create_compilation_job(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    FAULTS.check("sagemaker", "CreateCompilationJob")
    arn = _original_create_compilation_job(self, *args, **kwargs)
    job = self.compilation_jobs[kwargs.get("compilation_job_name") or args[0]]
    job.compilation_job_status = "INPROGRESS"
    job.status_message = ""
    # moto answers with the literal string "InferenceImage"; Neo only sets it for cloud targets it
    # built an image for, and offline there is none.
    job.inference_image = None
    _submit(_run_compilation, self, job)
    return arn


def _describe_compilation_job(self: SageMakerModelBackend, compilation_job_name: str) -> dict[str, Any]:
    description = _original_describe_compilation_job(self, compilation_job_name)
    job = self.compilation_jobs[compilation_job_name]
    description["CompilationJobStatus"] = job.compilation_job_status
    description["FailureReason"] = job.failure_reason
    description["ModelArtifacts"] = job.model_artifacts
    if job.inference_image is None:
        description.pop("InferenceImage", None)
    return {key: value for key, value in description.items() if value is not None}


# --------------------------------------------------------------------------- hosting


@dataclass
class HostedVariant:
    name: str
    model_name: str
    weight: float
    model: Any


@dataclass
class Fleet:
    config_name: str
    variants: list[HostedVariant]

    def pick(self, rng: random.Random) -> HostedVariant:
        weights = [max(variant.weight, 0.0) for variant in self.variants]
        if sum(weights) <= 0:
            weights = [1.0] * len(self.variants)
        return rng.choices(self.variants, weights=weights, k=1)[0]


@dataclass
class EndpointHost:
    """What serves an endpoint: the live fleet, and during a blue/green rollout the new one."""

    name: str
    blue: Fleet
    green: Fleet | None = None
    green_share: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, target_variant: str | None = None) -> HostedVariant | None:
        """The variant that serves one request: by weight, or the one a TargetVariant header names."""
        with self.lock:
            if target_variant:
                fleets = [self.blue, *([self.green] if self.green is not None else [])]
                return next((v for fleet in fleets for v in fleet.variants if v.name == target_variant), None)
            fleet = self.green if self.green is not None and self.rng.random() < self.green_share else self.blue
            return fleet.pick(self.rng)


HOSTS: dict[tuple[str, str, str], EndpointHost] = {}


def _host_key(backend: SageMakerModelBackend, endpoint_name: str) -> tuple[str, str, str]:
    return backend.account_id, backend.region_name, endpoint_name


def _load_fleet(backend: SageMakerModelBackend, config_name: str) -> Fleet:
    from localcloud.sagemaker_engine.inference import load_model

    config = backend.endpoint_configs[config_name]
    variants = []
    for variant in config.production_variants:
        model = backend._models[variant["ModelName"]]
        container = model.primary_container or (model.containers or [{}])[0]
        artefact = _get_bytes(backend.region_name, container["ModelDataUrl"])
        work = Path(tempfile.mkdtemp(prefix=f"{variant['ModelName']}-", dir=_ROOT))
        loaded = FAULTS.wrap_model(variant["ModelName"], load_model(artefact, work))
        variants.append(
            HostedVariant(
                variant["VariantName"], variant["ModelName"], float(variant.get("InitialVariantWeight", 1.0)), loaded
            )
        )
    return Fleet(config_name, variants)


def _variant_descriptions(fleet: Fleet) -> list[dict[str, Any]]:
    return [
        {
            "VariantName": v.name,
            "CurrentWeight": v.weight,
            "DesiredWeight": v.weight,
            "CurrentInstanceCount": 1,
            "DesiredInstanceCount": 1,
        }
        for v in fleet.variants
    ]


def _provision(backend: SageMakerModelBackend, endpoint: Any) -> None:
    try:
        fleet = _load_fleet(backend, endpoint.endpoint_config_name)
        HOSTS[_host_key(backend, endpoint.endpoint_name)] = EndpointHost(endpoint.endpoint_name, fleet)
        endpoint.production_variants = _variant_descriptions(fleet)
        endpoint.endpoint_status = "InService"
    except Exception as error:
        LOG.exception("endpoint %s failed to start", endpoint.endpoint_name)
        endpoint.failure_reason = f"Failed to load the model: {error}"
        endpoint.endpoint_status = "Failed"
    finally:
        endpoint.last_modified_time = _now()


_original_create_endpoint = SageMakerModelBackend.create_endpoint


def _create_endpoint(self: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
    FAULTS.check("sagemaker", "CreateEndpoint")
    endpoint = _original_create_endpoint(self, *args, **kwargs)
    endpoint.endpoint_status = "Creating"
    _submit(_provision, self, endpoint)
    return endpoint


def _alarms_firing(backend: SageMakerModelBackend, alarm_names: list[str]) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    return [name for name in alarm_names if name in alarms and alarms[name].state_value == "ALARM"]


def _traffic_steps(routing: dict[str, Any]) -> list[float]:
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        size = routing.get("CanarySize", {})
        return (
            [min(float(size.get("Value", 10)) / 100.0, 0.5), 1.0]
            if size.get("Type") == "CAPACITY_PERCENT"
            else [0.1, 1.0]
        )
    if kind == "LINEAR":
        # Whole percents: adding 0.1 ten times in floating point never reaches 1.0.
        step_percent = max(1, int(routing.get("LinearStepSize", {}).get("Value", 25)))
        return [*(percent / 100.0 for percent in range(step_percent, 100, step_percent)), 1.0]
    return [1.0]


def _bake(backend: SageMakerModelBackend, seconds: float, alarm_names: list[str]) -> list[str]:
    """Wait ``seconds`` of simulated time; return the alarms that fired meanwhile."""
    remaining = seconds
    while True:
        firing = _alarms_firing(backend, alarm_names)
        if firing or remaining <= 0:
            return firing
        step = min(ALARM_POLL_SECONDS, remaining)
        CLOCK.sleep(step)
        remaining -= step


def _roll_out(backend: SageMakerModelBackend, endpoint: Any, new_config: str, deployment: dict[str, Any]) -> None:
    host = HOSTS.get(_host_key(backend, endpoint.endpoint_name))
    policy = deployment.get("BlueGreenUpdatePolicy", {})
    routing = policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})
    alarms = [alarm["AlarmName"] for alarm in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
    started = time.monotonic()
    try:
        green = _load_fleet(backend, new_config)
    except Exception as error:
        LOG.exception("new fleet for %s failed to start", endpoint.endpoint_name)
        endpoint.failure_reason = f"Failed to load the new model: {error}; the endpoint kept its previous config"
        endpoint.endpoint_status = "InService"
        return
    if host is None:
        host = HOSTS[_host_key(backend, endpoint.endpoint_name)] = EndpointHost(endpoint.endpoint_name, green)
    firing: list[str] = []
    with host.lock:
        host.green, host.green_share = green, 0.0
    for share in _traffic_steps(routing):
        with host.lock:
            host.green_share = share
        interval = float(routing.get("WaitIntervalInSeconds", 0))
        # All at once bakes the whole new fleet for the interval; every strategy then keeps the old
        # fleet (still watched) for the termination wait.
        if share < 1.0:
            wait = interval
        else:
            wait = float(policy.get("TerminationWaitInSeconds", 0))
            wait += interval if routing.get("Type", "ALL_AT_ONCE") == "ALL_AT_ONCE" else 0.0
        firing = _bake(backend, wait, alarms)
        if firing:
            break
    if firing:
        endpoint.endpoint_status = "RollingBack"
        with host.lock:
            host.green_share = 0.0
        CLOCK.sleep(ALARM_POLL_SECONDS)
        with host.lock:
            host.green = None
        endpoint.failure_reason = f"Deployment rolled back: alarm(s) {', '.join(firing)} went to ALARM"
        LOG.info("rollout of %s to %s rolled back by %s", endpoint.endpoint_name, new_config, firing)
    else:
        with host.lock:
            host.blue, host.green, host.green_share = green, None, 0.0
        endpoint.endpoint_config_name = new_config
        endpoint.production_variants = _variant_descriptions(green)
        endpoint.failure_reason = None
    endpoint.last_deployment_seconds = round(time.monotonic() - started, 3)
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = _now()


def _update_endpoint(
    self: SageMakerModelBackend,
    endpoint_name: str,
    endpoint_config_name: str,
    deployment_config: dict[str, Any] | None = None,
) -> str:
    FAULTS.check("sagemaker", "UpdateEndpoint")
    if endpoint_name not in self.endpoints:
        raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
    if endpoint_config_name not in self.endpoint_configs:
        raise ValidationError(message=f"Could not find endpoint configuration '{endpoint_config_name}'.")
    endpoint = self.endpoints[endpoint_name]
    if endpoint.endpoint_status != "InService":
        raise ValidationError(message=f"Cannot update in-progress endpoint '{endpoint.arn}'.")
    endpoint.endpoint_status = "Updating"
    endpoint.last_deployment_config = deployment_config or None
    _submit(_roll_out, self, endpoint, endpoint_config_name, deployment_config or {})
    return str(endpoint.arn)


def _response_update_endpoint(self: SageMakerResponse) -> ActionResult:
    arn = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
        deployment_config=self._get_param("DeploymentConfig"),
    )
    return ActionResult({"EndpointArn": arn})


_original_update_weights = SageMakerModelBackend.update_endpoint_weights_and_capacities
# SageMaker takes a little while to apply new weights; the endpoint is Updating meanwhile.
WEIGHT_UPDATE_SECONDS = 30


def _apply_weights(endpoint: Any, host: EndpointHost | None, desired: list[dict[str, Any]]) -> None:
    CLOCK.sleep(WEIGHT_UPDATE_SECONDS)
    weights = {item["VariantName"]: float(item["DesiredWeight"]) for item in desired if "DesiredWeight" in item}
    counts = {
        item["VariantName"]: int(item["DesiredInstanceCount"]) for item in desired if "DesiredInstanceCount" in item
    }
    if host is not None:
        with host.lock:
            for variant in host.blue.variants:
                variant.weight = weights.get(variant.name, variant.weight)
    for variant in endpoint.production_variants:
        if variant["VariantName"] in weights:
            variant["CurrentWeight"] = variant["DesiredWeight"] = weights[variant["VariantName"]]
        if variant["VariantName"] in counts:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = counts[variant["VariantName"]]
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = _now()


def _update_weights(
    self: SageMakerModelBackend, endpoint_name: str, desired_weights_and_capacities: list[dict[str, Any]]
) -> str:
    FAULTS.check("sagemaker", "UpdateEndpointWeightsAndCapacities")
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is not None and endpoint.endpoint_status != "InService":
        raise ValidationError(message=f"Cannot update in-progress endpoint '{endpoint.arn}'.")
    before = copy.deepcopy(endpoint.production_variants) if endpoint is not None else []
    arn = _original_update_weights(self, endpoint_name, desired_weights_and_capacities)
    endpoint = self.endpoints[endpoint_name]
    # moto applies the new weights at once and drops counts nobody asked to change; SageMaker keeps
    # serving the old weights (and every count) while the endpoint is Updating.
    endpoint.production_variants = before
    endpoint.endpoint_status = "Updating"
    _submit(
        _apply_weights,
        self.endpoints[endpoint_name],
        HOSTS.get(_host_key(self, endpoint_name)),
        desired_weights_and_capacities,
    )
    return str(arn)


def traffic_shares(account_id: str, region: str, endpoint_name: str) -> dict[str, float]:
    """The share of requests each variant receives now (what InvokeEndpoint routing would do)."""
    host = HOSTS.get((account_id, region, endpoint_name))
    if host is None:
        return {}
    with host.lock:
        fleets = [(host.blue, 1.0 - (host.green_share if host.green else 0.0))]
        if host.green is not None:
            fleets.append((host.green, host.green_share))
        shares: dict[str, float] = {}
        for fleet, fleet_share in fleets:
            total = sum(v.weight for v in fleet.variants) or 1.0
            for variant in fleet.variants:
                shares[variant.name] = shares.get(variant.name, 0.0) + fleet_share * variant.weight / total
        return shares


# --------------------------------------------------------------------------- registry


_original_update_model_package = SageMakerModelBackend.update_model_package


def _update_model_package(self: SageMakerModelBackend, model_package_arn: str, **kwargs: Any) -> Any:
    package = self.model_packages.get(self.model_package_name_mapping.get(model_package_arn, model_package_arn))
    kept = dict(getattr(package, "customer_metadata_properties", None) or {}) if package else {}
    result = _original_update_model_package(self, model_package_arn, **kwargs)
    if package is not None:
        removed = kwargs.get("customer_metadata_properties_to_remove") or []
        merged = {**kept, **(kwargs.get("customer_metadata_properties") or {})}
        package.customer_metadata_properties = {k: v for k, v in merged.items() if k not in removed}
    return result


# --------------------------------------------------------------------------- install


_original_delete_endpoint = SageMakerModelBackend.delete_endpoint


def _delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
    _original_delete_endpoint(self, endpoint_name)
    HOSTS.pop(_host_key(self, endpoint_name), None)


def install() -> None:
    SageMakerModelBackend.create_training_job = _create_training_job  # type: ignore[method-assign]
    SageMakerModelBackend.create_compilation_job = _create_compilation_job  # type: ignore[method-assign]
    SageMakerModelBackend.describe_compilation_job = _describe_compilation_job  # type: ignore[method-assign]
    SageMakerModelBackend.create_endpoint = _create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = _delete_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint = _update_endpoint  # type: ignore[attr-defined]
    SageMakerModelBackend.update_model_package = _update_model_package  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint_weights_and_capacities = _update_weights  # type: ignore[method-assign]
    SageMakerResponse.update_endpoint = _response_update_endpoint  # type: ignore[attr-defined]


def reset() -> None:
    HOSTS.clear()
    JOB_DURATIONS.training_seconds = JOB_DURATIONS.compilation_seconds = 0.0
