"""SageMaker that does the work: moto records the calls, this module trains, compiles and hosts.

moto's training and compilation jobs are complete the moment they are created and write
nothing; it has no UpdateEndpoint, and InvokeEndpoint returns a fixed body. Here:

* a training job runs its model family's container contract in a subprocess (the family's engine
  in ``sagemaker_engine``, chosen by the training image) and goes InProgress -> Completed/Failed
  with the real metrics, artefact and FailureReason;
* a compilation job runs the engine of its Neo framework (tree models: treelite/tl2cgen, Neo's
  tree compiler);
* an endpoint hosts real models per variant; UpdateEndpoint performs the blue/green rollout of
  its DeploymentConfig (canary, linear, all-at-once) on the offline clock, watching the
  auto-rollback alarms while it bakes;
* InvokeEndpoint routes by variant weight and emits AWS/SageMaker metrics per variant;
* UpdateModelPackage keeps CustomerMetadataProperties (moto wipes them).

Everything that lives while a cloud runs (the hosted endpoints, the job pool, the jobs' work
directories, the simulated job durations) belongs to one ``LocalSageMaker`` (``Runtime.sagemaker``).
The moto methods it stands behind are replaced in ``moto_patches/sagemaker.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from localcloud.clock import Clock
from localcloud.faults import FaultInjector

LOG = logging.getLogger("localcloud.sagemaker")
# How often a rollout re-reads its alarms, in simulated seconds.
ALARM_POLL_SECONDS = 10
# SageMaker takes a little while to apply new weights; the endpoint is Updating meanwhile.
WEIGHT_UPDATE_SECONDS = 30


@dataclass
class JobDurations:
    """Simulated minimum durations of jobs, so orchestration can be measured as if a job took an hour.

    A real job ends when its work is done *and* this much simulated time (scaled by the clock) has
    passed since it started; 0 keeps jobs as fast as the local work.
    """

    training_seconds: float = 0.0
    compilation_seconds: float = 0.0


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


# --------------------------------------------------------------------------- hosting model


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

    def shares(self) -> dict[str, float]:
        """The share of requests each variant receives now (what routing does)."""
        with self.lock:
            fleets = [(self.blue, 1.0 - (self.green_share if self.green else 0.0))]
            if self.green is not None:
                fleets.append((self.green, self.green_share))
            shares: dict[str, float] = {}
            for fleet, fleet_share in fleets:
                total = sum(v.weight for v in fleet.variants) or 1.0
                for variant in fleet.variants:
                    shares[variant.name] = shares.get(variant.name, 0.0) + fleet_share * variant.weight / total
            return shares


def _host_key(backend: SageMakerModelBackend, endpoint_name: str) -> tuple[str, str, str]:
    return backend.account_id, backend.region_name, endpoint_name


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


# --------------------------------------------------------------------------- the service


class _Stopping(Exception):
    """The cloud stopped while a rollout waited on its clock."""


class LocalSageMaker:
    """One cloud's SageMaker work: jobs on a pool, hosted endpoints, rollouts on the cloud's clock."""

    def __init__(self, clock: Clock, faults: FaultInjector, workers: int = 4) -> None:
        self.clock = clock
        self.faults = faults
        self.hosts: dict[tuple[str, str, str], EndpointHost] = {}
        self.job_durations = JobDurations()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sagemaker-job")
        self._jobs: set[Future[Any]] = set()
        self._jobs_lock = threading.Lock()
        self._root: Path | None = None
        # Set when the cloud stops: rollouts and weight updates still waiting on the clock end at once.
        self._closing = threading.Event()

    # ------------------------------------------------------------------ background work
    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        future = self._pool.submit(work, *args)
        with self._jobs_lock:
            self._jobs.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._jobs_lock:
            self._jobs.discard(future)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait for background jobs and rollouts, so none outlives the cloud that started it."""
        with self._jobs_lock:
            pending = list(self._jobs)
        _done, not_done = wait(pending, timeout=timeout)
        return not not_done

    def cancel(self) -> None:
        """End the waits of rollouts and weight updates now (the cloud is stopping); jobs run to their end."""
        self._closing.set()

    def close(self) -> None:
        """Forget every endpoint, stop the pool and remove the jobs' work directories."""
        self._closing.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.hosts.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def _work_dir(self, prefix: str) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="localcloud-sagemaker-"))
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self._root))

    def _hold_until(self, started: float, simulated_seconds: float) -> None:
        remaining = self.clock.real_seconds(simulated_seconds) - (time.monotonic() - started)
        if remaining > 0:
            self._closing.wait(remaining)

    # ------------------------------------------------------------------ training
    def start_training(self, backend: SageMakerModelBackend, job: Any) -> None:
        """A training job moto just recorded: InProgress now, really trained in the background."""
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.final_metric_data_list = []
        job.failure_reason = None
        self._submit(self._run_training, backend, job)

    def _run_training(self, backend: SageMakerModelBackend, job: Any) -> None:
        from localcloud.sagemaker_engine import engines

        job_dir = self._work_dir(job.training_job_name)
        started = time.monotonic()
        try:
            channels: dict[str, Path] = {}
            for channel in job.input_data_config:
                local = job_dir / "channels" / channel["ChannelName"]
                _download_prefix(backend.region_name, channel["DataSource"]["S3DataSource"]["S3Uri"], local)
                channels[channel["ChannelName"]] = local
            job.secondary_status = "Training"
            limit = float(job.stopping_condition.get("MaxRuntimeInSeconds", 86400))
            engine = engines.for_training_image(job.algorithm_specification["TrainingImage"])
            content_types = {c["ChannelName"]: c.get("ContentType", "") for c in job.input_data_config}
            outcome = engine.train(
                job_dir / "opt-ml",
                dict(job.hyper_parameters or {}),
                channels,
                limit,
                {name: kind for name, kind in content_types.items() if kind},
            )
            self._hold_until(started, self.job_durations.training_seconds)
            if outcome.status == "Completed" and outcome.model_tar_gz is not None:
                _put_bytes(backend.region_name, job.model_artifacts["S3ModelArtifacts"], outcome.model_tar_gz)
                now = _now()
                job.final_metric_data_list = [{**metric, "Timestamp": now} for metric in outcome.final_metrics]
                job.training_job_status = job.secondary_status = "Completed"
            else:
                job.failure_reason = outcome.failure_reason or "training failed"
                job.training_job_status = job.secondary_status = "Failed"
            job.training_time_in_seconds = job.billable_time_in_seconds = max(1, int(outcome.seconds))
        except engines.NoEngineError as error:
            job.failure_reason = str(error)
            job.training_job_status = job.secondary_status = "Failed"
        except Exception as error:  # an infrastructure fault in the simulation still ends the job
            LOG.exception("training job %s crashed", job.training_job_name)
            job.failure_reason = f"InternalServerError: {error}"
            job.training_job_status = job.secondary_status = "Failed"
        finally:
            job.training_end_time = job.last_modified_time = _now()

    # ------------------------------------------------------------------ compilation
    def start_compilation(self, backend: SageMakerModelBackend, job: Any) -> None:
        """A compilation job moto just recorded: INPROGRESS now, really compiled in the background."""
        job.compilation_job_status = "INPROGRESS"
        job.status_message = ""
        # moto answers with the literal string "InferenceImage"; Neo only sets it for cloud targets it
        # built an image for, and offline there is none.
        job.inference_image = None
        self._submit(self._run_compilation, backend, job)

    def _run_compilation(self, backend: SageMakerModelBackend, job: Any) -> None:
        from localcloud.sagemaker_engine import engines

        started = time.monotonic()
        try:
            work = self._work_dir(job.compilation_job_name)
            model = _get_bytes(backend.region_name, job.input_config["S3Uri"])
            target = job.output_config.get("TargetDevice") or job.output_config.get("TargetPlatform", {}).get("Os", "")
            framework = str(job.input_config.get("Framework", ""))
            outcome = engines.for_framework(framework).compile(model, framework, str(target), work)
            self._hold_until(started, self.job_durations.compilation_seconds)
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
        except engines.NoEngineError as error:
            job.failure_reason = str(error)
            job.compilation_job_status = "FAILED"
        except Exception as error:
            LOG.exception("compilation job %s crashed", job.compilation_job_name)
            job.failure_reason = f"ClientError: {error}"
            job.compilation_job_status = "FAILED"
        finally:
            job.compilation_end_time = job.last_modified_time = _now()

    # ------------------------------------------------------------------ hosting
    def host(self, account_id: str, region: str, endpoint_name: str) -> EndpointHost | None:
        return self.hosts.get((account_id, region, endpoint_name))

    def traffic_shares(self, account_id: str, region: str, endpoint_name: str) -> dict[str, float]:
        """The share of requests each variant receives now (what InvokeEndpoint routing would do)."""
        host = self.host(account_id, region, endpoint_name)
        return host.shares() if host is not None else {}

    def _load_fleet(self, backend: SageMakerModelBackend, config_name: str) -> Fleet:
        from localcloud.sagemaker_engine import engines
        from localcloud.sagemaker_engine.inference import read_tar_members

        config = backend.endpoint_configs[config_name]
        variants = []
        for variant in config.production_variants:
            model = backend._models[variant["ModelName"]]
            container = model.primary_container or (model.containers or [{}])[0]
            artefact = _get_bytes(backend.region_name, container["ModelDataUrl"])
            work = self._work_dir(variant["ModelName"])
            engine = engines.for_artefact(read_tar_members(artefact))
            loaded = self.faults.wrap_model(variant["ModelName"], engine.load(artefact, work))
            variants.append(
                HostedVariant(
                    variant["VariantName"],
                    variant["ModelName"],
                    float(variant.get("InitialVariantWeight", 1.0)),
                    loaded,
                )
            )
        return Fleet(config_name, variants)

    def start_endpoint(self, backend: SageMakerModelBackend, endpoint: Any) -> None:
        """An endpoint moto just recorded: Creating now, InService once its models are loaded."""
        endpoint.endpoint_status = "Creating"
        self._submit(self._provision, backend, endpoint)

    def _provision(self, backend: SageMakerModelBackend, endpoint: Any) -> None:
        try:
            fleet = self._load_fleet(backend, endpoint.endpoint_config_name)
            self.hosts[_host_key(backend, endpoint.endpoint_name)] = EndpointHost(endpoint.endpoint_name, fleet)
            endpoint.production_variants = _variant_descriptions(fleet)
            endpoint.endpoint_status = "InService"
        except Exception as error:
            LOG.exception("endpoint %s failed to start", endpoint.endpoint_name)
            endpoint.failure_reason = f"Failed to load the model: {error}"
            endpoint.endpoint_status = "Failed"
        finally:
            endpoint.last_modified_time = _now()

    def endpoint_deleted(self, backend: SageMakerModelBackend, endpoint_name: str) -> None:
        self.hosts.pop(_host_key(backend, endpoint_name), None)

    def _bake(self, backend: SageMakerModelBackend, seconds: float, alarm_names: list[str]) -> list[str]:
        """Wait ``seconds`` of simulated time; return the alarms that fired meanwhile."""
        remaining = seconds
        while True:
            firing = _alarms_firing(backend, alarm_names)
            if firing or remaining <= 0:
                return firing
            step = min(ALARM_POLL_SECONDS, remaining)
            if not self.clock.sleep(step, self._closing):
                raise _Stopping
            remaining -= step

    def update_endpoint(
        self,
        backend: SageMakerModelBackend,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
    ) -> str:
        """UpdateEndpoint, which moto lacks: validates, then rolls out in the background."""
        if endpoint_name not in backend.endpoints:
            raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
        if endpoint_config_name not in backend.endpoint_configs:
            raise ValidationError(message=f"Could not find endpoint configuration '{endpoint_config_name}'.")
        endpoint = backend.endpoints[endpoint_name]
        if endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint '{endpoint.arn}'.")
        endpoint.endpoint_status = "Updating"
        endpoint.last_deployment_config = deployment_config or None
        self._submit(self._roll_out, backend, endpoint, endpoint_config_name, deployment_config or {})
        return str(endpoint.arn)

    def _roll_out(
        self, backend: SageMakerModelBackend, endpoint: Any, new_config: str, deployment: dict[str, Any]
    ) -> None:
        host = self.hosts.get(_host_key(backend, endpoint.endpoint_name))
        policy = deployment.get("BlueGreenUpdatePolicy", {})
        routing = policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})
        alarms = [alarm["AlarmName"] for alarm in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
        started = time.monotonic()
        try:
            green = self._load_fleet(backend, new_config)
        except Exception as error:
            LOG.exception("new fleet for %s failed to start", endpoint.endpoint_name)
            endpoint.failure_reason = f"Failed to load the new model: {error}; the endpoint kept its previous config"
            endpoint.endpoint_status = "InService"
            return
        if host is None:
            host = self.hosts[_host_key(backend, endpoint.endpoint_name)] = EndpointHost(endpoint.endpoint_name, green)
        try:
            self._shift(backend, endpoint, host, green, new_config, policy, routing, alarms)
        except _Stopping:
            LOG.info("rollout of %s to %s abandoned: the offline cloud stopped", endpoint.endpoint_name, new_config)
            return
        endpoint.last_deployment_seconds = round(time.monotonic() - started, 3)
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = _now()

    def _shift(
        self,
        backend: SageMakerModelBackend,
        endpoint: Any,
        host: EndpointHost,
        green: Fleet,
        new_config: str,
        policy: dict[str, Any],
        routing: dict[str, Any],
        alarms: list[str],
    ) -> None:
        """Move traffic to ``green`` step by step, baking under the alarms; roll back if one fires."""
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
                wait_seconds = interval
            else:
                wait_seconds = float(policy.get("TerminationWaitInSeconds", 0))
                wait_seconds += interval if routing.get("Type", "ALL_AT_ONCE") == "ALL_AT_ONCE" else 0.0
            firing = self._bake(backend, wait_seconds, alarms)
            if firing:
                break
        if firing:
            endpoint.endpoint_status = "RollingBack"
            with host.lock:
                host.green_share = 0.0
            if not self.clock.sleep(ALARM_POLL_SECONDS, self._closing):
                raise _Stopping
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

    def update_weights(
        self,
        backend: SageMakerModelBackend,
        endpoint_name: str,
        desired_weights_and_capacities: list[dict[str, Any]],
        record: Callable[[], Any],
    ) -> str:
        """UpdateEndpointWeightsAndCapacities: ``record`` is moto's own call, then SageMaker's delay."""
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status != "InService":
            raise ValidationError(message=f"Cannot update in-progress endpoint '{endpoint.arn}'.")
        before = copy.deepcopy(endpoint.production_variants) if endpoint is not None else []
        arn = record()
        endpoint = backend.endpoints[endpoint_name]
        # moto applies the new weights at once and drops counts nobody asked to change; SageMaker keeps
        # serving the old weights (and every count) while the endpoint is Updating.
        endpoint.production_variants = before
        endpoint.endpoint_status = "Updating"
        self._submit(
            self._apply_weights,
            endpoint,
            self.hosts.get(_host_key(backend, endpoint_name)),
            desired_weights_and_capacities,
        )
        return str(arn)

    def _apply_weights(self, endpoint: Any, host: EndpointHost | None, desired: list[dict[str, Any]]) -> None:
        if not self.clock.sleep(WEIGHT_UPDATE_SECONDS, self._closing):
            return
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


# --------------------------------------------------------------------------- stateless fixes


def compilation_description(backend: SageMakerModelBackend, name: str, description: dict[str, Any]) -> dict[str, Any]:
    """DescribeCompilationJob with the job's real status, failure and artefact (moto reports its own)."""
    job = backend.compilation_jobs[name]
    description["CompilationJobStatus"] = job.compilation_job_status
    description["FailureReason"] = job.failure_reason
    description["ModelArtifacts"] = job.model_artifacts
    if job.inference_image is None:
        description.pop("InferenceImage", None)
    return {key: value for key, value in description.items() if value is not None}


def update_model_package_keeping_metadata(
    backend: SageMakerModelBackend, model_package_arn: str, update: Callable[[], Any], kwargs: dict[str, Any]
) -> Any:
    """UpdateModelPackage (``update`` is moto's) that merges CustomerMetadataProperties, as SageMaker does."""
    package = backend.model_packages.get(backend.model_package_name_mapping.get(model_package_arn, model_package_arn))
    kept = dict(getattr(package, "customer_metadata_properties", None) or {}) if package else {}
    result = update()
    if package is not None:
        removed = kwargs.get("customer_metadata_properties_to_remove") or []
        merged = {**kept, **(kwargs.get("customer_metadata_properties") or {})}
        package.customer_metadata_properties = {k: v for k, v in merged.items() if k not in removed}
    return result
