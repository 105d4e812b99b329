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
* UpdateModelPackage keeps CustomerMetadataProperties (moto wipes them);
* SageMaker's behavioural rules (``sagemaker_rules``): what a Failed or busy endpoint refuses, the
  deployment guardrails, autoscaled variants, what Neo compiles and what a Neo artefact is served by;
* SageMaker acts as the execution role it was given (``localcloud/iam``): a training job's and a
  compilation job's ``RoleArn`` read their input and write their artefact, a model's
  ``ExecutionRoleArn`` reads its artefact when an endpoint loads it (and KMS, for encrypted objects,
  through the same checks), and a guarded update reads its auto-rollback alarms as the new models'
  role (``cloudwatch:DescribeAlarms``). A refusal fails the job or the endpoint as SageMaker reports
  it. Only in-process (``mock_aws``): against moto's server the S3 calls go over HTTP without the
  role, unchecked; the alarm reads are checked either way.

Everything that lives while a cloud runs (the hosted endpoints, the job pool, the jobs' work
directories, the simulated job durations) belongs to one ``LocalSageMaker`` (``Runtime.sagemaker``).
The moto methods it stands behind are replaced in ``moto_patches/sagemaker.py``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import io
import logging
import random
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.sagemaker.models import SageMakerModelBackend
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from localcloud import iam
from localcloud import sagemaker_rules as rules
from localcloud.clock import Clock
from localcloud.faults import FaultInjector
from localcloud.iam import checks, errors, lookups
from localcloud.iam.actions import Authorization
from localcloud.iam.policies import Principal

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


# --------------------------------------------------------------------------- the execution role


class ExecutionRoleRefused(Exception):
    """S3 or KMS refused a call SageMaker made as a job's or a model's execution role.

    ``str()`` is the FailureReason SageMaker reports; ``message`` is the service's access denied text.
    """

    def __init__(self, failure_reason: str, message: str) -> None:
        super().__init__(failure_reason)
        self.message = message


@contextlib.contextmanager
def _as_role(role_arn: str | None, failure: str, quote_service: bool = True) -> Iterator[None]:
    """SageMaker's own calls in this block, checked as ``role_arn``; a refusal raises ``ExecutionRoleRefused``.

    Its FailureReason is ``failure``, followed by the service's answer (``(AccessDenied: ...)``) where
    SageMaker quotes it. A role IAM does not hold (a job or a model built by hand against moto, not
    deployed) is not checked, as the request path does not check a caller whose role it does not know.
    """
    checked = role_arn is not None and lookups.role_exists(role_arn)
    try:
        with iam.acting_as(str(role_arn), "SageMaker") if checked else contextlib.nullcontext():
            yield
    except ClientError as error:
        details = error.response.get("Error", {})
        if not checked or details.get("Code") not in ("AccessDenied", "AccessDeniedException"):
            raise
        message = str(details.get("Message", ""))
        reason = f"{failure} (AccessDenied: {message})" if quote_service else failure
        raise ExecutionRoleRefused(reason, message) from error


class _AlarmsUnreadable(Exception):
    """The role a guarded update reads its alarms as may not call cloudwatch:DescribeAlarms on them."""


def _s3(region: str) -> Any:
    return boto_client_for(region=region, service="s3")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _download_prefix(region: str, uri: str, target: Path, share: tuple[int, int] = (0, 1)) -> None:
    """The objects under ``uri`` into ``target``; with ``share`` (index, count), every count-th in key order.

    A sharded channel deals its objects out that way (AWS documents only "about 1/n of the objects"
    per instance; an instance never gets an object another one got).
    """
    s3 = _s3(region)
    bucket, prefix = _split(uri)
    target.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    index, count = share
    for key in sorted(keys)[index::count]:
        name = key[len(prefix) :].lstrip("/").replace("/", "_") or Path(key).name
        (target / name).write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _objects_under(region: str, uri: str) -> Iterator[tuple[str, bytes]]:
    """Each object under an S3 prefix (or the one object ``uri`` names), by its file name."""
    s3 = _s3(region)
    bucket, prefix = _split(uri)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield Path(item["Key"]).name, bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())


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
    instance_type: str = ""
    instance_count: int = 1
    # From the config and the model the fleet was loaded from: capture follows the config that serves,
    # so during a blue/green update the new config's capture applies only to the traffic its fleet takes.
    data_capture: dict[str, Any] = field(default_factory=dict)
    execution_role_arn: str | None = None


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

    def config_shares(self) -> dict[str, float]:
        """The share of requests each fleet receives now, by endpoint config name.

        A guarded update keeps the variant names, so the old and the new fleet are told apart by config.
        """
        with self.lock:
            if self.green is None:
                return {self.blue.config_name: 1.0}
            shares = {self.blue.config_name: 1.0 - self.green_share}
            shares[self.green.config_name] = shares.get(self.green.config_name, 0.0) + self.green_share
            return shares

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
            "CurrentInstanceCount": v.instance_count,
            "DesiredInstanceCount": v.instance_count,
        }
        for v in fleet.variants
    ]


def _fleet_variants(fleet: Fleet) -> list[rules.FleetVariant]:
    return [rules.FleetVariant(v.name, v.instance_type, v.instance_count) for v in fleet.variants]


def _alarm_names(backend: SageMakerModelBackend) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    return list(cloudwatch_backends[backend.account_id][backend.region_name].alarms)


def _autoscaling(backend: SageMakerModelBackend) -> Any:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    return applicationautoscaling_backends[backend.account_id][backend.region_name]


def _registered_variants(backend: SageMakerModelBackend, endpoint_name: str) -> list[str]:
    """Resource ids of the endpoint's variants registered with Application Auto Scaling."""
    prefix = rules.variant_resource_id(endpoint_name, "")
    targets = _autoscaling(backend).targets.get(rules.SCALABLE_DIMENSION, {})
    return [
        resource_id
        for resource_id, target in targets.items()
        if target.service_namespace == "sagemaker" and resource_id.startswith(prefix)
    ]


def _image_tag(image_uri: str) -> str:
    last = image_uri.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.split(":", 1)[1] if ":" in last else ""


def _alarms_firing(backend: SageMakerModelBackend, alarm_names: list[str]) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
    return [name for name in alarm_names if name in alarms and alarms[name].state_value == "ALARM"]


def _traffic_steps(routing: dict[str, Any], instance_count: int = 100) -> list[float]:
    """The new fleet's share of traffic step by step, counted in its whole instances.

    The default fleet of 100 instances makes each percent one instance, so the shares read as the
    percentages a routing configuration names.
    """
    return rules.traffic_steps(routing, instance_count)


# --------------------------------------------------------------------------- the service


class _Stopping(Exception):
    """The cloud stopped while a rollout waited on its clock."""


class LocalSageMaker:
    """One cloud's SageMaker work: jobs on a pool, hosted endpoints, rollouts on the cloud's clock."""

    def __init__(
        self, clock: Clock, faults: FaultInjector, workers: int = 4, access: checks.AccessChecks | None = None
    ) -> None:
        self.clock = clock
        self.faults = faults
        # The cloud's IAM record; by default the running cloud's (none running: nothing is checked).
        self._access = access
        self.hosts: dict[tuple[str, str, str], EndpointHost] = {}
        self.job_durations = JobDurations()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sagemaker-job")
        self._jobs: set[Future[Any]] = set()
        self._jobs_lock = threading.Lock()
        self._root: Path | None = None
        # Set when the cloud stops: rollouts and weight updates still waiting on the clock end at once.
        self._closing = threading.Event()
        # The framework version each training artefact was trained with (its image's tag), by the
        # artefact's SHA-256: the offline container runs one XGBoost whatever the tag, and Neo must
        # judge the model by the version the job stood for.
        self._trained_with: dict[str, tuple[int, int]] = {}
        self._trained_lock = threading.Lock()

    def access(self) -> checks.AccessChecks | None:
        if self._access is not None:
            return self._access
        from localcloud import runtime

        cloud = runtime.active()
        return cloud.iam if cloud is not None else None

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
            hosts = [f"algo-{n}" for n in range(1, int(job.resource_config.get("InstanceCount", 1)) + 1)]
            channels = {host: self._download_channels(job, backend.region_name, job_dir / host, i, len(hosts))
                        for i, host in enumerate(hosts)}  # fmt: skip
            self._download_code(job, backend.region_name, job_dir / "opt-ml" / "code")
            job.secondary_status = "Training"
            limit = float(job.stopping_condition.get("MaxRuntimeInSeconds", 86400))
            engine = engines.for_training_image(job.algorithm_specification["TrainingImage"])
            content_types = {c["ChannelName"]: c.get("ContentType", "") for c in job.input_data_config}
            declared = {name: kind for name, kind in content_types.items() if kind}
            hyperparameters = dict(job.hyper_parameters or {})
            if len(hosts) == 1:
                outcome = engine.train(job_dir / "opt-ml", hyperparameters, channels[hosts[0]], limit, declared)
            else:
                outcome = self._train_cluster(engine, job_dir, hosts, hyperparameters, channels, limit, declared)
            self._hold_until(started, self.job_durations.training_seconds)
            if outcome.status == "Completed" and outcome.model_tar_gz is not None:
                artefact = job.model_artifacts["S3ModelArtifacts"]
                with _as_role(job.role_arn, f"ClientError: Artifact upload failed:Unable to upload {artefact}"):
                    _put_bytes(backend.region_name, artefact, outcome.model_tar_gz)
                self._record_training_version(outcome.model_tar_gz, job.algorithm_specification["TrainingImage"])
                now = _now()
                job.final_metric_data_list = [{**metric, "Timestamp": now} for metric in outcome.final_metrics]
                job.training_job_status = job.secondary_status = "Completed"
            else:
                job.failure_reason = outcome.failure_reason or "training failed"
                job.training_job_status = job.secondary_status = "Failed"
            job.training_time_in_seconds = job.billable_time_in_seconds = max(1, int(outcome.seconds))
        except (engines.NoEngineError, ExecutionRoleRefused) as error:
            job.failure_reason = str(error)
            job.training_job_status = job.secondary_status = "Failed"
        except Exception as error:  # an infrastructure fault in the simulation still ends the job
            LOG.exception("training job %s crashed", job.training_job_name)
            job.failure_reason = f"InternalServerError: {error}"
            job.training_job_status = job.secondary_status = "Failed"
        finally:
            job.training_end_time = job.last_modified_time = _now()

    @staticmethod
    def _download_channels(job: Any, region: str, host_dir: Path, index: int, count: int) -> dict[str, Path]:
        """One host's channels: every object (FullyReplicated), or its share of them (ShardedByS3Key)."""
        channels: dict[str, Path] = {}
        for channel in job.input_data_config:
            local = host_dir / "channels" / channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            uri = source["S3Uri"]
            sharded = source.get("S3DataDistributionType") == "ShardedByS3Key"
            # SageMaker's words for a channel it may not read, as failed training jobs report it.
            with _as_role(job.role_arn, f"ClientError: Data download failed:Unable to download data from {uri}"):
                _download_prefix(region, uri, local, share=(index, count) if sharded else (0, 1))
            channels[channel["ChannelName"]] = local
        return channels

    @staticmethod
    def _train_cluster(
        engine: Any,
        job_dir: Path,
        hosts: list[str],
        hyperparameters: dict[str, str],
        channels: dict[str, dict[str, Path]],
        limit: float,
        content_types: dict[str, str],
    ) -> Any:
        from localcloud.sagemaker_engine import engines

        if not hasattr(engine, "train_cluster"):
            raise engines.NoEngineError(
                "ClientError: the offline container of this image trains on one instance; "
                f"InstanceCount is {len(hosts)}"
            )
        code = job_dir / "opt-ml" / "code"
        dirs = {host: job_dir / host / "opt-ml" for host in hosts}
        if code.exists():  # script mode: every host runs the same code
            for host_dir in dirs.values():
                shutil.copytree(code, host_dir / "code", dirs_exist_ok=True)
        return engine.train_cluster(dirs, hyperparameters, channels, limit, content_types)

    @staticmethod
    def _download_code(job: Any, region: str, target: Path) -> None:
        """Script mode: the container fetches ``sagemaker_submit_directory`` as the job's role, then unpacks it."""
        uri = str((job.hyper_parameters or {}).get("sagemaker_submit_directory", "")).strip('"')
        if not uri.startswith("s3://"):
            return
        with _as_role(job.role_arn, f"ClientError: Unable to download the training code from {uri}"):
            archive = _get_bytes(region, uri)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as sources:
            sources.extractall(target, filter="data")

    def _record_training_version(self, model_tar_gz: bytes, image_uri: str) -> None:
        version = rules.framework_version(_image_tag(image_uri))
        if version is not None:
            with self._trained_lock:
                self._trained_with[hashlib.sha256(model_tar_gz).hexdigest()] = version

    def trained_with(self, model_tar_gz: bytes) -> tuple[int, int] | None:
        """The framework version an offline training job produced this artefact with, if one did."""
        with self._trained_lock:
            return self._trained_with.get(hashlib.sha256(model_tar_gz).hexdigest())

    # ------------------------------------------------------------------ processing
    def start_processing(self, backend: SageMakerModelBackend, job: Any) -> None:
        """A processing job moto just recorded (moto marks it Completed): InProgress, then run for real."""
        job.processing_job_status = "InProgress"
        job.processing_end_time = None
        job.failure_reason = None
        job.exit_message = None
        job.processing_start_time = _now()
        self._submit(self._run_processing, backend, job)

    def _run_processing(self, backend: SageMakerModelBackend, job: Any) -> None:
        from localcloud import sagemaker_processing as processing

        region = backend.region_name
        request = processing_request(job)
        cluster = request["ProcessingResources"]["ClusterConfig"]
        names = processing.hosts(int(cluster["InstanceCount"]))
        work = self._work_dir(job.processing_job_name)
        roots = {host: work / host / "opt-ml" for host in names}
        try:
            for index, (host, root) in enumerate(roots.items()):
                processing.lay_out_instance(root, host, names, request)
                for entry in request.get("ProcessingInputs", []):
                    self._download_input(job, region, entry["S3Input"], root, index, len(names))
                if self.faults.processing_output_broken(job.processing_job_name, host):
                    processing.break_outputs(root, request)
            workers = {
                host: processing.start_instance(root, request["AppSpecification"], request.get("Environment") or {})
                for host, root in roots.items()
            }
            limit = float(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 86400))
            codes, still_running = processing.wait_all(workers, limit)
            job.exit_message = processing.exit_message(roots)
            failed = sorted(host for host, code in codes.items() if code != 0)
            for host in failed:
                LOG.info(
                    "processing job %s: %s exited %s: %s",
                    job.processing_job_name,
                    host,
                    codes[host],
                    processing.log_tail(roots[host]),
                )
            if still_running:
                job.failure_reason = (
                    f"MaxRuntimeExceeded: Processing job exceeded MaxRuntimeInSeconds of {limit:g} s; "
                    f"stopped {', '.join(still_running)}, still running"
                )
            elif failed:
                job.failure_reason = processing.ALGORITHM_FAILURE
            else:
                self._upload_outputs(job, region, request, roots)
            job.processing_job_status = "Failed" if job.failure_reason else "Completed"
        except (processing.ProcessingRefused, ExecutionRoleRefused) as refused:
            job.failure_reason = str(refused)[: processing.MESSAGE_LIMIT]
            job.processing_job_status = "Failed"
        except Exception as error:  # an infrastructure fault in the simulation still ends the job
            LOG.exception("processing job %s crashed", job.processing_job_name)
            job.failure_reason = f"InternalServerError: {error}"[: processing.MESSAGE_LIMIT]
            job.processing_job_status = "Failed"
        finally:
            job.processing_end_time = job.last_modified_time = _now()

    @staticmethod
    def _download_input(job: Any, region: str, s3_input: dict[str, Any], root: Path, index: int, count: int) -> None:
        from localcloud import sagemaker_processing as processing

        uri = s3_input["S3Uri"]
        target = processing.local(root, s3_input["LocalPath"])
        with _as_role(job.role_arn, f"ClientError: Failed to download data. Unable to download {uri}"):
            s3 = _s3(region)
            objects = processing.input_objects(s3, s3_input)
            for item in processing.share(objects, s3_input.get("S3DataDistributionType", ""), index, count):
                path = target / item.relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=item.bucket, Key=item.key)["Body"].read())

    @staticmethod
    def _upload_outputs(job: Any, region: str, request: dict[str, Any], roots: dict[str, Path]) -> None:
        from localcloud import sagemaker_processing as processing

        for output in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
            s3_output = output["S3Output"]
            uri = s3_output["S3Uri"].rstrip("/")
            with _as_role(job.role_arn, f"ClientError: Failed to upload output to {uri}"):
                for root in roots.values():
                    for name, path in processing.output_files(root, s3_output["LocalPath"]):
                        _put_bytes(region, f"{uri}/{name}", path.read_bytes())

    # ------------------------------------------------------------------ compilation
    def start_compilation(self, backend: SageMakerModelBackend, job: Any) -> None:
        """A compilation job moto just recorded: INPROGRESS now, really compiled in the background."""
        job.compilation_job_status = "INPROGRESS"
        job.status_message = ""
        # moto answers with the literal string "InferenceImage"; Neo names one once a job for a cloud
        # instance has completed.
        job.inference_image = None
        self._submit(self._run_compilation, backend, job)

    def _neo_refusal(self, engine: Any, model: bytes, framework: str, job: Any) -> str | None:
        """Why Neo fails this job before compiling (rules.neo_target_refusal, rules.neo_version_refusal)."""
        output = job.output_config
        requested_version = str(job.input_config.get("FrameworkVersion", ""))
        refusal = rules.neo_target_refusal(
            framework, str(output.get("TargetDevice", "")), output.get("TargetPlatform") or {}, requested_version
        )
        if refusal is not None:
            return refusal
        version = self.trained_with(model) or engine.saved_by_version(model)
        return rules.neo_version_refusal(framework, version, requested_version)

    def _run_compilation(self, backend: SageMakerModelBackend, job: Any) -> None:
        from localcloud.sagemaker_engine import engines

        started = time.monotonic()
        try:
            work = self._work_dir(job.compilation_job_name)
            source = job.input_config["S3Uri"]
            # Neo reports problems with its input and output under these headings; the rest is ours.
            with _as_role(job.role_arn, f"ClientError: InputConfiguration: Unable to download {source}"):
                model = _get_bytes(backend.region_name, source)
            target = job.output_config.get("TargetDevice") or job.output_config.get("TargetPlatform", {}).get("Os", "")
            framework = str(job.input_config.get("Framework", ""))
            engine = engines.for_framework(framework)
            refusal = self._neo_refusal(engine, model, framework, job)
            if refusal is not None:
                job.failure_reason = job.status_message = refusal
                job.compilation_job_status = "FAILED"
                return
            outcome = engine.compile(
                model, framework, str(target), work, str(job.input_config.get("FrameworkVersion", ""))
            )
            self._hold_until(started, self.job_durations.compilation_seconds)
            if outcome.status == "COMPLETED" and outcome.artifact_tar_gz is not None:
                uri = job.output_config["S3OutputLocation"].rstrip("/") + f"/model-{target}.tar.gz"
                with _as_role(job.role_arn, f"ClientError: OutputConfiguration: Unable to upload {uri}"):
                    _put_bytes(backend.region_name, uri, outcome.artifact_tar_gz)
                job.model_artifacts = {"S3ModelArtifacts": uri}
                job.failure_reason = ""
                job.inference_image = rules.inference_image_for_job(
                    framework,
                    str(job.output_config.get("TargetDevice", "")),
                    backend.region_name,
                    str(job.input_config.get("FrameworkVersion", "")),
                )
                job.compilation_job_status = "COMPLETED"
            else:
                job.failure_reason = outcome.failure_reason or "compilation failed"
                job.compilation_job_status = "FAILED"
            job.status_message = outcome.status_message
        except (engines.NoEngineError, ExecutionRoleRefused) as error:
            job.failure_reason = str(error)
            job.compilation_job_status = "FAILED"
        except Exception as error:
            LOG.exception("compilation job %s crashed", job.compilation_job_name)
            job.failure_reason = f"ClientError: {error}"
            job.compilation_job_status = "FAILED"
        finally:
            job.compilation_end_time = job.last_modified_time = _now()

    # ------------------------------------------------------------------ batch transform
    def start_transform(self, backend: SageMakerModelBackend, job: Any) -> None:
        """A transform job moto just recorded as Completed: InProgress now, really run in the background."""
        job.transform_job_status = "InProgress"
        job.failure_reason = ""
        self._submit(self._run_transform, backend, job)

    def _run_transform(self, backend: SageMakerModelBackend, job: Any) -> None:
        from localcloud.sagemaker_engine import engines
        from localcloud.sagemaker_engine.inference import format_csv_predictions, parse_csv_payload, read_tar_members

        region = backend.region_name
        try:
            first_column = rules.csv_input_filter_start(job.data_processing or {})
            model = backend._models[job.model_name]
            container = model.primary_container or (model.containers or [{}])[0]
            url = container["ModelDataUrl"]
            with _as_role(model.execution_role_arn, f"ClientError: Failed to download model data from {url}"):
                artefact = _get_bytes(region, url)
            loaded = engines.for_artefact(read_tar_members(artefact)).load(
                artefact, self._work_dir(job.transform_job_name)
            )
            source = job.transform_input["DataSource"]["S3DataSource"]["S3Uri"]
            output = job.transform_output["S3OutputPath"].rstrip("/")
            with _as_role(model.execution_role_arn, f"ClientError: Unable to read or write the data of {source}"):
                for name, body in _objects_under(region, source):
                    lines = [line for line in body.decode("utf-8-sig").splitlines() if line.strip()]
                    # DataProcessing.InputFilter "$[k:]" drops the first k CSV columns (a label, say).
                    rows = "\n".join(",".join(line.split(",")[first_column:]) for line in lines)
                    predictions = loaded.predict(parse_csv_payload(rows.encode(), loaded.num_features))
                    # Batch transform writes <input name>.out beside the others, one answer a line.
                    _put_bytes(region, f"{output}/{name}.out", format_csv_predictions(predictions) + b"\n")
            job.transform_job_status = "Completed"
        except (engines.NoEngineError, ExecutionRoleRefused, ValueError) as error:
            job.failure_reason = str(error)
            job.transform_job_status = "Failed"
        except Exception as error:
            LOG.exception("transform job %s crashed", job.transform_job_name)
            job.failure_reason = f"InternalServerError: {error}"
            job.transform_job_status = "Failed"
        finally:
            job.transform_end_time = job.last_modified_time = _now()

    # ------------------------------------------------------------------ hosting
    def host(self, account_id: str, region: str, endpoint_name: str) -> EndpointHost | None:
        return self.hosts.get((account_id, region, endpoint_name))

    def traffic_shares(self, account_id: str, region: str, endpoint_name: str) -> dict[str, float]:
        """The share of requests each variant receives now (what InvokeEndpoint routing would do)."""
        host = self.host(account_id, region, endpoint_name)
        return host.shares() if host is not None else {}

    def config_shares(self, account_id: str, region: str, endpoint_name: str) -> dict[str, float]:
        """The share of requests the old and the new fleet receive now, by endpoint config name."""
        host = self.host(account_id, region, endpoint_name)
        return host.config_shares() if host is not None else {}

    def _load_fleet(
        self, backend: SageMakerModelBackend, config_name: str, fleet: list[rules.FleetVariant] | None = None
    ) -> Fleet:
        """Load every variant's model, as its container would; ``fleet`` gives the instance counts kept."""
        from localcloud.sagemaker_engine import engines
        from localcloud.sagemaker_engine.inference import read_tar_members

        config = backend.endpoint_configs[config_name]
        kept = {variant.name: variant for variant in fleet or []}
        variants = []
        for variant in config.production_variants:
            model = backend._models[variant["ModelName"]]
            container = model.primary_container or (model.containers or [{}])[0]
            url = container["ModelDataUrl"]
            # SageMaker's own words when the model's role may not read its artefact.
            refused_as = (
                f'Failed to download model data for container "container_1" from URL: "{url}". Please ensure '
                "that there is an object located at the URL and that the role passed to CreateModel has "
                "permissions to download the object."
            )
            with _as_role(model.execution_role_arn, refused_as, quote_service=False):
                artefact = _get_bytes(backend.region_name, url)
            work = self._work_dir(variant["ModelName"])
            files = read_tar_members(artefact)
            engine = engines.for_artefact(files)
            refusal = rules.hosting_refusal(
                engine.compiled_for(files),
                str(container.get("Image", "")),
                str(variant.get("InstanceType", "")),
                backend.region_name,
                str(variant["VariantName"]),
            )
            if refusal is not None:
                raise ValueError(refusal)
            loaded = self.faults.wrap_model(variant["ModelName"], engine.load(artefact, work))
            fleet_variant = kept.get(variant["VariantName"])
            weight = fleet_variant.weight if fleet_variant is not None else None
            variants.append(
                HostedVariant(
                    variant["VariantName"],
                    variant["ModelName"],
                    float(variant.get("InitialVariantWeight", 1.0)) if weight is None else weight,
                    loaded,
                    str(variant.get("InstanceType", "")),
                    fleet_variant.instance_count
                    if fleet_variant is not None
                    else int(variant.get("InitialInstanceCount", 1) or 1),
                    dict(config.data_capture_config or {}),
                    model.execution_role_arn,
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
        except ExecutionRoleRefused as refused:
            LOG.warning("endpoint %s failed: %s", endpoint.endpoint_name, refused.message)
            endpoint.failure_reason = str(refused)
            endpoint.endpoint_status = "Failed"
        except Exception as error:
            LOG.exception("endpoint %s failed to start", endpoint.endpoint_name)
            endpoint.failure_reason = f"Failed to load the model: {error}"
            endpoint.endpoint_status = "Failed"
        finally:
            endpoint.last_modified_time = _now()

    def endpoint_deleted(self, backend: SageMakerModelBackend, endpoint_name: str) -> None:
        """Forget the endpoint's fleet, and deregister its autoscaled variants as SageMaker does.

        https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-delete-with-scaling.html: deleting an
        endpoint deregisters its variants' scalable targets (and their policies) for the caller.
        """
        self.hosts.pop(_host_key(backend, endpoint_name), None)
        autoscaling = _autoscaling(backend)
        for resource_id in _registered_variants(backend, endpoint_name):
            for policy in list(autoscaling.policies.values()):
                if policy.service_namespace == "sagemaker" and policy.resource_id == resource_id:
                    autoscaling.delete_scaling_policy(
                        policy.policy_name, "sagemaker", resource_id, rules.SCALABLE_DIMENSION
                    )
            autoscaling.deregister_scalable_target("sagemaker", resource_id, rules.SCALABLE_DIMENSION)

    def _alarm_read_refusal(
        self, backend: SageMakerModelBackend, alarm_names: list[str], readers: list[str]
    ) -> str | None:
        """Why SageMaker may not read the auto-rollback alarms as ``readers``; None when it may.

        The guardrails docs ask that "your IAM execution role" may call cloudwatch:DescribeAlarms on
        the alarms without saying which role; the product reads it as the new models' execution role
        (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
        """
        access = self.access()
        if access is None or not alarm_names:
            return None
        region = backend.region_name
        for role in readers:
            principal = Principal(role, "SageMaker", f"role:{role}")
            access.record_call(principal)  # one DescribeAlarms call for every alarm it watches
            for name in alarm_names:
                alarm_arn = f"arn:aws:cloudwatch:{region}:{backend.account_id}:alarm:{name}"
                grant = Authorization("cloudwatch:DescribeAlarms", alarm_arn)
                decision = checks.authorize(principal, region, grant, access)
                if not decision.allowed:
                    return errors.message(principal, grant, decision, "cloudwatch")
        return None

    def _bake(
        self, backend: SageMakerModelBackend, seconds: float, alarm_names: list[str], readers: list[str]
    ) -> list[str]:
        """Wait ``seconds`` of simulated time; return the alarms that fired meanwhile.

        ``_AlarmsUnreadable`` when a poll may not read the alarms as ``readers`` (the new models' roles).
        """
        remaining = seconds
        while True:
            refusal = self._alarm_read_refusal(backend, alarm_names, readers)
            if refusal is not None:
                raise _AlarmsUnreadable(refusal)
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
        retain_all_variant_properties: bool = False,
        exclude_retained_variant_properties: list[dict[str, Any]] | None = None,
    ) -> str:
        """UpdateEndpoint, which moto lacks: SageMaker's rules, then the rollout in the background."""
        endpoint = rules.require_endpoint(backend, endpoint_name)
        new_config = rules.require_endpoint_config(backend, endpoint_config_name)
        rules.check_endpoint_updatable(endpoint)
        host = self.hosts.get(_host_key(backend, endpoint_name))
        current = _fleet_variants(host.blue) if host is not None else []
        excluded = [item.get("VariantPropertyType", "") for item in exclude_retained_variant_properties or []]
        fleet = rules.new_fleet(new_config, endpoint.production_variants, retain_all_variant_properties, excluded)
        rules.check_autoscaled_variants_kept(
            endpoint_name, current, fleet, _registered_variants(backend, endpoint_name)
        )
        deployment = rules.guarded_deployment(
            deployment_config,
            [v["VariantName"] for v in endpoint.production_variants],
            endpoint_config_name,
            fleet,
            _alarm_names(backend),
        )
        endpoint.endpoint_status = "Updating"
        endpoint.last_deployment_config = deployment_config or None
        self._submit(self._roll_out, backend, endpoint, endpoint_config_name, deployment, fleet)
        return str(endpoint.arn)

    def _roll_out(
        self,
        backend: SageMakerModelBackend,
        endpoint: Any,
        new_config: str,
        deployment: dict[str, Any],
        fleet: list[rules.FleetVariant],
    ) -> None:
        host = self.hosts.get(_host_key(backend, endpoint.endpoint_name))
        policy = deployment.get("BlueGreenUpdatePolicy", {})
        routing = policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})
        alarms = [alarm["AlarmName"] for alarm in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
        started = time.monotonic()
        try:
            green = self._load_fleet(backend, new_config, fleet)
        except ExecutionRoleRefused as refused:
            LOG.warning("new fleet for %s refused: %s", endpoint.endpoint_name, refused.message)
            endpoint.failure_reason = str(refused)
            endpoint.endpoint_status = "InService"
            return
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
        """Move traffic to ``green`` step by step, baking under the alarms; roll back if one fires.

        An update whose alarms SageMaker may not read fails and rolls back too. What SageMaker does then
        is undocumented; chosen: the strict reading, the update fails with a FailureReason naming the
        permission, rather than a rollout that goes on unguarded.
        """
        firing: list[str] = []
        unreadable: str | None = None
        readers = self._alarm_readers(backend, green)
        with host.lock:
            host.green, host.green_share = green, 0.0
        for share in _traffic_steps(routing, max(v.instance_count for v in green.variants)):
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
            try:
                firing = self._bake(backend, wait_seconds, alarms, readers)
            except _AlarmsUnreadable as refused:
                unreadable = str(refused)
                break
            if firing:
                break
        if firing or unreadable:
            endpoint.endpoint_status = "RollingBack"
            with host.lock:
                host.green_share = 0.0
            if not self.clock.sleep(ALARM_POLL_SECONDS, self._closing):
                raise _Stopping
            with host.lock:
                host.green = None
            if unreadable:
                endpoint.failure_reason = (
                    f"Deployment rolled back: the auto-rollback alarms could not be read: {unreadable}"
                )
            else:
                endpoint.failure_reason = f"Deployment rolled back: alarm(s) {', '.join(firing)} went to ALARM"
            LOG.info("rollout of %s to %s rolled back: %s", endpoint.endpoint_name, new_config, endpoint.failure_reason)
        else:
            with host.lock:
                host.blue, host.green, host.green_share = green, None, 0.0
            endpoint.endpoint_config_name = new_config
            endpoint.production_variants = _variant_descriptions(green)
            endpoint.failure_reason = None

    def _alarm_readers(self, backend: SageMakerModelBackend, fleet: Fleet) -> list[str]:
        """The execution roles of ``fleet``'s models that IAM holds (the others are not checked)."""
        readers: list[str] = []
        for variant in fleet.variants:
            model = backend._models.get(variant.model_name)
            role = str(getattr(model, "execution_role_arn", "") or "")
            if role and role not in readers and lookups.role_exists(role):
                readers.append(role)
        return readers

    def update_weights(
        self,
        backend: SageMakerModelBackend,
        endpoint_name: str,
        desired_weights_and_capacities: list[dict[str, Any]],
        record: Callable[[], Any],
    ) -> str:
        """UpdateEndpointWeightsAndCapacities: ``record`` is moto's own call, then SageMaker's delay."""
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is not None:
            rules.check_endpoint_updatable(endpoint)
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
                    variant.instance_count = counts.get(variant.name, variant.instance_count)
        for variant in endpoint.production_variants:
            if variant["VariantName"] in weights:
                variant["CurrentWeight"] = variant["DesiredWeight"] = weights[variant["VariantName"]]
            if variant["VariantName"] in counts:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = counts[variant["VariantName"]]
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = _now()


# --------------------------------------------------------------------------- stateless fixes


def processing_request(job: Any) -> dict[str, Any]:
    """The CreateProcessingJob request moto recorded, as the container's processingjobconfig.json has it."""
    return {
        "ProcessingJobName": job.processing_job_name,
        "ProcessingJobArn": job.arn,
        "AppSpecification": job.app_specification,
        "Environment": getattr(job, "environment", None) or {},
        "ProcessingInputs": job.processing_inputs or [],
        "ProcessingOutputConfig": job.processing_output_config or {},
        "ProcessingResources": job.processing_resources,
        "RoleArn": job.role_arn,
        "StoppingCondition": job.stopping_condition or {},
    }


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
