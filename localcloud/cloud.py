"""The offline cloud: moto plus Conveyor's local runtime, with ``template.yaml`` deployed into it.

``OfflineCloud`` runs in-process (``mock_aws``), which tests use, or as a server on a loopback
port (``ThreadedMotoServer``) that the AWS CLI, boto3 scripts and the ``conveyor`` CLI reach with
``--endpoint-url``. Either way the state machine is the deployed ASL file, the handlers are the
files in ``functions/``, and the rules are the template's.

Everything a cloud keeps while it runs (its clock, faults, deliveries, evaluators, SageMaker
simulation, counters and Lambda registry) is its ``runtime`` (``localcloud.runtime.Runtime``), built
in ``start()`` and dropped in ``stop()``: a second cloud started after the first sees none of it.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import importlib.machinery
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
from moto import mock_aws
from moto.core.config import default_user_config

from localcloud.alarms import state_change_event
from localcloud.clock import Clock
from localcloud.eventbridge import Deliveries
from localcloud.faults import FaultInjector
from localcloud.lambdas import LocalLambdaRuntime
from localcloud.runtime import Runtime
from localcloud.sagemaker import LocalSageMaker
from localcloud.scheduler import target_payload
from localcloud.template import Deployer, Stack, boto_factory
from localcloud.workers import WorkerLambdaRuntime

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

LambdaMode = Literal["in-process", "workers"]
LOG = logging.getLogger("localcloud.cloud")
# How often a wait for executions looks again without news from the interpreter (which tells it when
# one starts or ends).
_EXECUTION_RECHECK_SECONDS = 0.25
_UNSET: Any = object()


@dataclass(frozen=True)
class Notification:
    subject: str
    body: dict[str, Any]
    attributes: dict[str, str]

    @property
    def event(self) -> str:
        if "AlarmName" in self.body and "NewStateValue" in self.body:
            # CloudWatch's own message, published by an alarm action: not one of Conveyor's outcomes.
            return f"alarm.{str(self.body['NewStateValue']).lower()}"
        return str(self.body.get("event", self.attributes.get("event", "")))


class OfflineCloud:
    def __init__(
        self,
        stack_name: str = "conveyor",
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
        time_scale: float = 0.01,
        template: Path = REPO_ROOT / "template.yaml",
        server_port: int | None = None,
        use_sam_build: bool = False,
        evaluate_alarms: bool = True,
        run_schedules: bool = True,
        lambda_mode: LambdaMode = "in-process",
    ) -> None:
        if lambda_mode == "workers" and server_port is None:
            # A worker process cannot see this process's in-memory mocks; it needs moto's server.
            raise ValueError("lambda_mode='workers' needs server_port")
        self.stack_name = stack_name
        self.region = region
        self.parameters = dict(parameters or {})
        self.time_scale = time_scale
        self.template = template
        self.server_port = server_port
        # `sam build` targets Lambda (arm64, python3.13): loading its packages here would fail every
        # function with Runtime.ImportModuleError. Sources are the default; a build is used only when
        # asked for and built for this interpreter and machine (check_build_platform).
        self.build_dir = template.parent / ".aws-sam" / "build" if use_sam_build else None
        if self.build_dir is not None:
            check_build_platform(self.build_dir)
        self.evaluate_alarms = evaluate_alarms
        self.run_schedules = run_schedules
        self.lambda_mode = lambda_mode
        self._mock: Any = None
        self._server: Any = None
        self._restore: dict[str, str | None] = {}
        self._restore_config: Any = _UNSET
        self.runtime: Runtime | None = None
        self.stack: Stack | None = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._previous_session: boto3.Session | None = None
        self._notification_queue: str | None = None
        self._seen: list[Notification] = []

    # ----------------------------------------------------------------- lifecycle
    @property
    def endpoint_url(self) -> str | None:
        return f"http://127.0.0.1:{self.server_port}" if self.server_port else None

    def start(self) -> OfflineCloud:
        if self.runtime is not None:
            raise RuntimeError("this offline cloud is already running")
        for variable, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", self.region),
        ):
            os.environ.setdefault(variable, value)
        extra = {"AWS_ENDPOINT_URL": self.endpoint_url} if self.endpoint_url else {}
        lambdas = (
            WorkerLambdaRuntime(extra_environment=extra, layer_paths=[self._layer_dir()])
            if self.lambda_mode == "workers"
            else None
        )
        self.runtime = Runtime(self.time_scale, lambdas=lambdas, extra_environment=extra).activate()
        try:
            self._start_moto()
            deployer = Deployer(
                self.template,
                self.stack_name,
                self.region,
                ACCOUNT_ID,
                self.parameters,
                self.runtime.lambdas,
                boto_factory(self.region, self.endpoint_url),
                self.build_dir,
            )
            self.stack = deployer.deploy()
            self._subscribe_to_notifications()
        except BaseException:
            self.stop()
            raise
        if self.evaluate_alarms:
            self.runtime.queue_metrics.start()
            self.runtime.alarms.start()
        if self.run_schedules:
            self.runtime.scheduler.start()
        return self

    def _start_moto(self) -> None:
        # A boto3 default session made before the Lambda patches swapped os.environ holds the original
        # mapping, so handlers' clients would miss their per-function variables (AWS_ENDPOINT_URL too):
        # the cloud gets a default session of its own, put back in stop(). It shares botocore's parsed
        # service models with earlier ones (static data; SageMaker's alone takes a tenth of a second).
        self._previous_session = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = _fresh_session()
        if self.server_port:
            from moto.server import ThreadedMotoServer

            # The ASL interpreter's own clients call localhost:$MOTO_PORT; the server reads moto's
            # process-wide config. Both are put back in stop().
            self._restore = {"MOTO_PORT": os.environ.get("MOTO_PORT")}
            self._restore_config = copy.deepcopy(default_user_config.get("stepfunctions"))
            os.environ["MOTO_PORT"] = str(self.server_port)
            default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
            # One access-log line per API call would bury everything else the runtime logs.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.server_port)
            self._server.start()
        else:
            # The cloud's own default session (above) replaces moto's reset of it.
            self._mock = mock_aws(
                config={"core": {"reset_boto3_session": False}, "stepfunctions": {"execute_state_machine": True}}
            )
            self._mock.start()

    def _layer_dir(self) -> Path:
        built = self.build_dir / "ConveyorLayer" / "python" if self.build_dir else None
        return built if built is not None and built.is_dir() else self.template.parent / "layers" / "conveyor"

    def stop(self) -> None:
        """Stop the cloud: its loops, its work in flight, moto, and everything the runtime held."""
        runtime, self.runtime = self.runtime, None
        if runtime is None:
            return
        runtime.scheduler.stop()
        runtime.alarms.stop()
        runtime.queue_metrics.stop()
        # Nothing of this cloud may outlive it: running executions are stopped (as StopExecution
        # does), rollouts stop waiting, and deliveries and jobs in flight get to finish.
        self._stop_running_executions(runtime)
        runtime.sagemaker.cancel()
        if not runtime.wait_idle(timeout=120):
            LOG.warning("the offline cloud stopped with work still in flight")
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
            # moto's backends are process-wide: mock_aws resets them when it stops, the server does
            # not, so a later cloud in this process would deploy into this one's resources.
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
        runtime.close(timeout=0)
        with self._clients_lock:
            self._clients.clear()
        boto3.DEFAULT_SESSION, self._previous_session = self._previous_session, None
        for variable, value in self._restore.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value
        self._restore = {}
        if self._restore_config is not _UNSET:
            if self._restore_config is None:
                default_user_config.pop("stepfunctions", None)
            else:
                default_user_config["stepfunctions"] = self._restore_config
            self._restore_config = _UNSET

    def _stop_running_executions(self, runtime: Runtime) -> None:
        if self.stack is None:
            return
        try:
            with runtime.faults.suspended():
                sfn = self.client("stepfunctions")
                for machine in sfn.list_state_machines()["stateMachines"]:
                    running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
                    for execution in running["executions"]:
                        sfn.stop_execution(executionArn=execution["executionArn"], cause="the offline cloud stopped")
        except Exception:  # a cloud that failed to start has no state machine to ask about
            LOG.debug("could not stop running executions", exc_info=True)

    def __enter__(self) -> OfflineCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- the runtime
    def _runtime(self) -> Runtime:
        if self.runtime is None:
            raise RuntimeError("start() the cloud first")
        return self.runtime

    @property
    def clock(self) -> Clock:
        """This cloud's clock: ``cloud.clock.advance(86400)`` makes a daily schedule due."""
        return self._runtime().clock

    @property
    def faults(self) -> FaultInjector:
        """This cloud's fault injector (rules end with the cloud)."""
        return self._runtime().faults

    @property
    def lambdas(self) -> LocalLambdaRuntime:
        """The deployed functions and the runtime that runs them."""
        return self._runtime().lambdas

    @property
    def deliveries(self) -> Deliveries:
        """Asynchronous EventBridge and Scheduler deliveries (``wait_idle``, ``counts``)."""
        return self._runtime().deliveries

    @property
    def sagemaker(self) -> LocalSageMaker:
        """The SageMaker simulation: hosted endpoints (``host``), ``job_durations``."""
        return self._runtime().sagemaker

    def traffic_shares(self) -> dict[str, float]:
        """The share of requests each variant of the stack's endpoint receives now."""
        return self._runtime().sagemaker.traffic_shares(ACCOUNT_ID, self.region, self.output("EndpointName"))

    # ----------------------------------------------------------------- access
    def client(self, service: str) -> Any:
        """A boto3 client of this cloud (one per service, kept: clients are thread-safe and cost to make)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = boto3.client(
                    service, region_name=self.region, endpoint_url=self.endpoint_url
                )
            return client

    def output(self, name: str) -> str:
        assert self.stack is not None, "start() the cloud first"
        return str(self.stack.outputs[name])

    def upload(self, key: str, body: bytes) -> dict[str, Any]:
        """Put an object in the data bucket, exactly as a user's `aws s3 cp` would."""
        response: dict[str, Any] = self.client("s3").put_object(
            Bucket=self.output("DataBucketName"), Key=key, Body=body
        )
        return response

    # ----------------------------------------------------------------- observing
    def _all_executions(self, output: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        found: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=self.output(output)):
            found.extend(page["executions"])
        return sorted(found, key=lambda e: e["startDate"])

    def executions(self) -> list[dict[str, Any]]:
        """Every retrain execution, oldest first."""
        return self._all_executions("RetrainStateMachineArn")

    def _wait_for_news(self, seen: int) -> int:
        """Until an execution starts or ends, or a while passes (an execution can start in another process)."""
        return self._runtime().wait_for_execution_news(seen, timeout=_EXECUTION_RECHECK_SECONDS)

    def wait_for_executions(self, count: int = 1, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` executions exist and every one of them has finished."""
        deadline = time.monotonic() + timeout
        seen = self._runtime().execution_mark
        while time.monotonic() < deadline:
            self.deliveries.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
            runs = self.executions()
            if len(runs) >= count and all(run["status"] in _TERMINAL for run in runs):
                self.deliveries.wait_idle(timeout=5)
                if len(self.executions()) == len(runs):
                    return runs
            seen = self._wait_for_news(seen)
        raise TimeoutError(
            f"executions still running after {timeout}s: {[(r['name'], r['status']) for r in self.executions()]}"
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def states_entered(self, execution_arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if "stateEnteredEventDetails" in e
        ]

    def fire_schedule(self, logical_id: str, scheduled_time: str | None = None) -> dict[str, Any]:
        """Deliver one firing of a template schedule now, whatever its expression says.

        The payload is the one the scheduler runner delivers; the target is invoked synchronously
        here so that a caller can read its answer.
        """
        assert self.stack is not None, "start() the cloud first"
        name = self.stack.resources[logical_id]["Ref"]
        schedule = self.client("scheduler").get_schedule(Name=name)
        when = dt.datetime.fromisoformat(scheduled_time).timestamp() if scheduled_time else self.clock.now()
        payload = target_payload(schedule["Arn"], schedule["Target"], when)
        response = self.client("lambda").invoke(FunctionName=schedule["Target"]["Arn"], Payload=payload.encode())
        result: dict[str, Any] = json.loads(response["Payload"].read())
        return result

    def alarm_event(self, alarm_name: str, state: str = "ALARM", when: float | None = None) -> None:
        """Publish CloudWatch's "Alarm State Change" event for an alarm on the default bus, by hand.

        The evaluator sends the same event when metrics move an alarm; this skips the metrics.
        """
        moment = dt.datetime.fromtimestamp(when if when is not None else time.time(), dt.UTC)
        previous = "OK" if state == "ALARM" else "ALARM"
        reason = f"Threshold Crossed (offline cloud, set by hand to {state})"
        entry = state_change_event(alarm_name, self.region, ACCOUNT_ID, state, previous, reason, moment)
        self.client("events").put_events(Entries=[entry])

    def invoke_endpoint(self, body: bytes | str, target_variant: str | None = None) -> tuple[str, str]:
        """InvokeEndpoint on the stack's endpoint with text/csv rows; returns (predictions, variant)."""
        extra = {"TargetVariant": target_variant} if target_variant else {}
        response = self.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=self.output("EndpointName"), ContentType="text/csv", Body=body, **extra
        )
        return response["Body"].read().decode(), str(response.get("InvokedProductionVariant", ""))

    def rollback_executions(self) -> list[dict[str, Any]]:
        """Every rollback execution, oldest first."""
        return self._all_executions("RollbackStateMachineArn")

    def wait_for_rollbacks(self, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        seen = self._runtime().execution_mark
        while time.monotonic() < deadline:
            self.deliveries.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
            runs = self.rollback_executions()
            if len(runs) >= count and all(run["status"] in _TERMINAL for run in runs):
                return runs
            seen = self._wait_for_news(seen)
        states = [(r["name"], r["status"]) for r in self.rollback_executions()]
        raise TimeoutError(f"rollbacks still running after {timeout}s: {states}")

    def set_ingest(self, enabled: bool) -> None:
        """Turn the data-arrival rule off and on: how a test simulates a lost S3 event."""
        events = self.client("events")
        for rule in events.list_rules()["Rules"]:
            if rule["Name"].endswith("-ObjectCreated"):
                (events.enable_rule if enabled else events.disable_rule)(Name=rule["Name"])

    def _subscribe_to_notifications(self) -> None:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=f"{self.stack_name}-notifications-tap")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns").subscribe(TopicArn=self.output("NotificationTopicArn"), Protocol="sqs", Endpoint=arn)
        self._notification_queue = url

    def notifications(self) -> list[Notification]:
        """Every notification published so far, oldest first."""
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self._notification_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                envelope = json.loads(message["Body"])
                try:
                    body = json.loads(envelope["Message"])
                except json.JSONDecodeError:
                    body = {"raw": envelope["Message"]}
                attributes = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
                self._seen.append(Notification(envelope.get("Subject", ""), body, attributes))
                sqs.delete_message(QueueUrl=self._notification_queue, ReceiptHandle=message["ReceiptHandle"])
        return list(self._seen)


class ForeignBuildError(RuntimeError):
    """``.aws-sam/build`` holds compiled packages for another platform than this interpreter's."""


def check_build_platform(build_dir: Path) -> None:
    """Refuse a SAM build whose compiled modules this interpreter cannot load, naming what it was built for."""
    # The first suffix names this interpreter and machine (".cpython-311-x86_64-linux-gnu.so"); a
    # module tagged for any other cannot load. abi3 and untagged modules name no machine: not judged.
    own = importlib.machinery.EXTENSION_SUFFIXES[0]
    foreign = sorted(
        {
            path.name.split(".", 1)[1]
            for path in build_dir.rglob("*.so")
            if ".cpython-" in path.name and not path.name.endswith(own)
        }
    )
    if foreign:
        raise ForeignBuildError(
            f"{build_dir} was built for another platform ({', '.join(foreign)}; this interpreter loads "
            f"{own.lstrip('.')}): the offline cloud runs the sources instead; leave use_sam_build off or "
            "remove the build with `make clean`"
        )


@functools.cache
def _botocore_loader() -> Any:
    """botocore's loader of its own JSON data (service models, endpoints): static, so every cloud shares it."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def _fresh_session() -> boto3.Session:
    """A new boto3 session (it reads ``os.environ`` now) that reuses botocore's loaded service models."""
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _botocore_loader())
    return boto3.Session(botocore_session=core)


@contextmanager
def offline_cloud(**kwargs: Any) -> Iterator[OfflineCloud]:
    cloud = OfflineCloud(**kwargs).start()
    try:
        yield cloud
    finally:
        cloud.stop()
