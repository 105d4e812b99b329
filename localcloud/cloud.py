"""The offline cloud: moto plus Conveyor's local runtime, with ``template.yaml`` deployed into it.

``OfflineCloud`` runs in-process (``mock_aws``), which tests use, or as a server on a loopback
port (``ThreadedMotoServer``) that the AWS CLI, boto3 scripts and the ``conveyor`` CLI reach with
``--endpoint-url``. Either way the state machine is the deployed ASL file, the handlers are the
files in ``functions/``, and the rules are the template's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.core.config import default_user_config

from localcloud import (
    cloudwatch,
    dynamodb,
    environ,
    eventbridge,
    execution_events,
    faults,
    invocations,
    lambdas,
    sagemaker,
    stepfunctions,
)
from localcloud.alarms import EVALUATOR, state_change_event
from localcloud.clock import CLOCK
from localcloud.faults import FAULTS
from localcloud.lambdas import LocalLambdaRuntime, decode_event
from localcloud.scheduler import RUNNER, target_payload
from localcloud.template import Deployer, Stack, boto_factory
from localcloud.workers import WorkerLambdaRuntime

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})

LambdaMode = Literal["in-process", "workers"]


class _ActiveRuntime:
    """The Lambda runtime moto's invoke path uses now: in-process, or awslambdaric worker processes."""

    runtime: LocalLambdaRuntime = LocalLambdaRuntime()


ACTIVE = _ActiveRuntime()


def _invoke_locally(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    self.logs_backend.ensure_log_group(self.logs_group_name)
    payload, errored, logs = ACTIVE.runtime.invoke(self.function_name, decode_event(event) if event is not None else {})
    stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]local"
    if stream not in self.logs_backend.groups[self.logs_group_name].streams:
        self.logs_backend.create_log_stream(self.logs_group_name, stream)
    now = int(time.time() * 1000)
    self.logs_backend.put_log_events(
        self.logs_group_name, stream, [{"timestamp": now, "message": line} for line in logs.splitlines() if line]
    )
    return payload, errored, logs


def install_runtime() -> None:
    """Patch moto once per process: DynamoDB, Lambda, CloudWatch, Step Functions, EventBridge and SageMaker."""
    environ.install()
    faults.install()
    dynamodb.install()
    lambdas.install()
    cloudwatch.install()
    stepfunctions.install()
    eventbridge.install()
    execution_events.install()
    sagemaker.install()
    invocations.install()
    LambdaFunction._invoke_lambda = _invoke_locally  # type: ignore[method-assign]
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True


@dataclass(frozen=True)
class Notification:
    subject: str
    body: dict[str, Any]
    attributes: dict[str, str]

    @property
    def event(self) -> str:
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
        use_sam_build: bool = True,
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
        self.build_dir = template.parent / ".aws-sam" / "build" if use_sam_build else None
        self.evaluate_alarms = evaluate_alarms
        self.run_schedules = run_schedules
        self.lambda_mode = lambda_mode
        self._mock: Any = None
        self._server: Any = None
        self.stack: Stack | None = None
        self._notification_queue: str | None = None
        self._seen: list[Notification] = []

    # ----------------------------------------------------------------- lifecycle
    @property
    def endpoint_url(self) -> str | None:
        return f"http://127.0.0.1:{self.server_port}" if self.server_port else None

    def start(self) -> OfflineCloud:
        for variable, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", self.region),
        ):
            os.environ.setdefault(variable, value)
        install_runtime()
        # A boto3 default session made before install_runtime() holds the original os.environ, so
        # handlers' clients would miss their per-function variables (AWS_ENDPOINT_URL included).
        boto3.DEFAULT_SESSION = None
        CLOCK.set_scale(self.time_scale)
        stepfunctions.refresh_sync_polling()
        FAULTS.clear()
        if self.server_port:
            from moto.server import ThreadedMotoServer

            os.environ["MOTO_PORT"] = str(self.server_port)
            # One access-log line per API call would bury everything else the runtime logs.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.server_port)
            self._server.start()
        else:
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
            self._mock.start()
        ACTIVE.runtime = (
            WorkerLambdaRuntime(layer_paths=[self._layer_dir()])
            if self.lambda_mode == "workers"
            else LocalLambdaRuntime()
        )
        if self.server_port:
            ACTIVE.runtime._extra_environment["AWS_ENDPOINT_URL"] = self.endpoint_url or ""
        deployer = Deployer(
            self.template,
            self.stack_name,
            self.region,
            ACCOUNT_ID,
            self.parameters,
            ACTIVE.runtime,
            boto_factory(self.region, self.endpoint_url),
            self.build_dir,
        )
        self.stack = deployer.deploy()
        self._subscribe_to_notifications()
        if self.evaluate_alarms:
            EVALUATOR.start()
        if self.run_schedules:
            RUNNER.start()
        return self

    def _layer_dir(self) -> Path:
        built = self.build_dir / "ConveyorLayer" / "python" if self.build_dir else None
        return built if built is not None and built.is_dir() else self.template.parent / "layers" / "conveyor"

    def stop(self) -> None:
        RUNNER.stop()
        EVALUATOR.stop()
        eventbridge.DISPATCHER.wait_idle(timeout=30)
        sagemaker.wait_idle(timeout=120)
        sagemaker.reset()
        invocations.reset()
        if isinstance(ACTIVE.runtime, WorkerLambdaRuntime):
            ACTIVE.runtime.close()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> OfflineCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- access
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

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

    def wait_for_executions(self, count: int = 1, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` executions exist and every one of them has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            eventbridge.DISPATCHER.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
            runs = self.executions()
            if len(runs) >= count and all(run["status"] in _TERMINAL for run in runs):
                eventbridge.DISPATCHER.wait_idle(timeout=5)
                if len(self.executions()) == len(runs):
                    return runs
            time.sleep(0.05)
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
        when = dt.datetime.fromisoformat(scheduled_time).timestamp() if scheduled_time else CLOCK.now()
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
        while time.monotonic() < deadline:
            eventbridge.DISPATCHER.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
            runs = self.rollback_executions()
            if len(runs) >= count and all(run["status"] in _TERMINAL for run in runs):
                return runs
            time.sleep(0.05)
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


@contextmanager
def offline_cloud(**kwargs: Any) -> Iterator[OfflineCloud]:
    cloud = OfflineCloud(**kwargs).start()
    try:
        yield cloud
    finally:
        cloud.stop()
