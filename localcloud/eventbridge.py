"""EventBridge targets that moto cannot reach: Lambda functions and Step Functions state machines.

moto cannot deliver to these targets (it raises on them). Delivery here is asynchronous, like
EventBridge, and honours the target's ``Input``, ``InputPath`` and ``InputTransformer``, and what
happens when things fail:

* EventBridge's own call (Lambda ``Invoke``, ``StartExecution``) can be throttled or fail (an
  injected fault): it is retried with backoff up to the target's ``RetryPolicy``
  (``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``), then the event goes to the target's
  ``DeadLetterConfig`` queue with EventBridge's message attributes (``ERROR_CODE``,
  ``ERROR_MESSAGE``, ``RULE_ARN``, ``TARGET_ARN``, ``RETRY_ATTEMPTS``);
* a Lambda function that accepted the event and then fails gets Lambda's asynchronous retries
  (``EventInvokeConfig.MaximumRetryAttempts``, two by default, 1 and 2 minutes apart), then the
  event goes to the function's dead-letter queue (``DeadLetterQueue``) with Lambda's attributes
  (``RequestID``, ``ErrorCode``, ``ErrorMessage``) and to an ``OnFailure`` SQS destination with
  Lambda's invocation record.

An event that fails with nowhere to go is lost, and counted (``Deliveries.failed``).

Each offline cloud owns one ``Deliveries`` (``Runtime.deliveries``): its thread pool, its counts,
and the clock its retries wait on. ``moto_patches/events.py`` routes moto's ``Rule.send_to_targets``
here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

from localcloud import faults
from localcloud.clock import Clock
from localcloud.faults import FaultInjector
from localcloud.lambdas import LocalLambdaRuntime, invoke_and_log

LOG = logging.getLogger("localcloud.events")
# Lambda retries a failed asynchronous invocation after about 1 and then 2 minutes.
ASYNC_RETRY_DELAYS_SECONDS = (60, 120)
LAMBDA_DEFAULT_MAX_EVENT_AGE_SECONDS = 21600
# EventBridge's defaults without a RetryPolicy: 185 attempts over 24 hours.
EVENTBRIDGE_DEFAULT_RETRIES = 185
EVENTBRIDGE_DEFAULT_MAX_EVENT_AGE_SECONDS = 86400
EVENTBRIDGE_MAX_BACKOFF_SECONDS = 60.0
# Lambda keeps this much of the error message in a dead-letter message's ErrorMessage attribute.
DLQ_ERROR_MESSAGE_LIMIT = 1024


@dataclass
class DeliveryCounts:
    """What happened to asynchronous deliveries since the cloud started."""

    delivery_retries: int = 0  # EventBridge re-sending after its call to the target failed
    async_retries: int = 0  # Lambda re-running a function that failed an asynchronous event
    dead_lettered: int = 0  # events sent to a dead-letter queue or an OnFailure destination


def _select_path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in [p for p in path.removeprefix("$").split(".") if p]:
        value = value[part]
    return value


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _select_path(event, target["InputPath"])
    if "InputTransformer" in target:
        transformer = target["InputTransformer"]
        rendered = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return rendered
    return event


def is_runtime_target(target: dict[str, Any]) -> bool:
    """Whether the offline runtime delivers to this target (moto cannot: Lambda, Step Functions)."""
    return parse_arn(target["Arn"]).service in ("lambda", "states")


def _body(payload: Any) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


def _error_message(result: str) -> tuple[str, str]:
    try:
        error = json.loads(result)
    except (TypeError, ValueError):
        return "Unhandled", str(result)
    if not isinstance(error, dict):
        return "Unhandled", str(result)
    return str(error.get("errorType", "Unhandled")), str(error.get("errorMessage", result))


def start_execution(arn: str, payload: Any) -> None:
    from moto.stepfunctions.responses import get_backend

    parsed = parse_arn(arn)
    backend = get_backend(parsed.account, parsed.region)
    document = payload if isinstance(payload, str) else json.dumps(payload)
    backend.start_execution(arn, name=str(uuid.uuid4()), execution_input=document)


class Deliveries:
    """One cloud's asynchronous deliveries: run on a pool, retried on its clock, waited for by callers."""

    def __init__(self, clock: Clock, faults: FaultInjector, lambdas: LocalLambdaRuntime, workers: int = 16) -> None:
        self.clock = clock
        self.faults = faults
        self.lambdas = lambdas
        self.counts = DeliveryCounts()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbridge")
        self._in_flight = 0
        self._idle = threading.Condition()
        self.delivered = 0
        self.failed = 0

    # ------------------------------------------------------------------ the pool
    def submit(self, work: Any, *args: Any) -> None:
        with self._idle:
            self._in_flight += 1
        self._pool.submit(self._run, work, *args)

    def _run(self, work: Any, *args: Any) -> None:
        try:
            work(*args)
            self.delivered += 1
        except Exception:
            self.failed += 1
            LOG.exception("event delivery failed")
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """Stop taking deliveries; those still queued are dropped (wait_idle first to keep them)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ routing
    def route(self, rule_arn: str, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        """Deliver a matched event to a rule's Lambda and Step Functions targets, asynchronously."""
        for target in targets:
            service = parse_arn(target["Arn"]).service
            if service == "lambda":
                self.submit(self.deliver_to_lambda, target, target_input(target, event), rule_arn)
            elif service == "states":
                self.submit(self.deliver_to_state_machine, target, target_input(target, event), rule_arn)

    def send_to_queue(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        """Put a message on an SQS queue as an AWS service does (no fault injection: AWS-internal)."""
        from moto.sqs.models import sqs_backends

        parsed = parse_arn(queue_arn)
        message_attributes = {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}
        sqs_backends[parsed.account][parsed.region].send_message(
            parsed.resource_id, body, message_attributes=message_attributes
        )
        self.counts.dead_lettered += 1

    def _accepted(
        self,
        service: str,
        operation: str,
        target: dict[str, Any],
        payload: Any,
        rule_arn: str | None,
        caller: str,
    ) -> bool:
        """Make EventBridge's call to a target, retrying failures per its RetryPolicy; False: given up."""
        policy = target.get("RetryPolicy") or {}
        max_retries = int(policy.get("MaximumRetryAttempts", EVENTBRIDGE_DEFAULT_RETRIES))
        max_age = float(policy.get("MaximumEventAgeInSeconds", EVENTBRIDGE_DEFAULT_MAX_EVENT_AGE_SECONDS))
        retries, waited = 0, 0.0
        with self.faults.caller(caller):
            while True:
                fault = self.faults.decide(service, operation)
                if fault is None:
                    return True
                error = faults.wire_error(service, fault)
                delay = min(2.0**retries, EVENTBRIDGE_MAX_BACKOFF_SECONDS)
                if retries >= max_retries or waited + delay > max_age:
                    condition = "MaximumRetryAttempts" if retries >= max_retries else "MaximumEventAgeInSeconds"
                    break
                LOG.info("delivery to %s failed with %s; retrying in %.0f s", target["Arn"], error.code, delay)
                self.clock.sleep(delay)
                waited += delay
                retries += 1
                self.counts.delivery_retries += 1
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dead_letter:
            raise RuntimeError(
                f"delivery to {target['Arn']} failed ({error.code}) and the target has no dead-letter queue"
            )
        attributes = {
            "ERROR_CODE": error.code,
            "ERROR_MESSAGE": error.message,
            "TARGET_ARN": str(target["Arn"]),
            "RETRY_ATTEMPTS": str(retries),
            "EXHAUSTED_RETRY_CONDITION": condition,
        }
        if rule_arn:
            attributes["RULE_ARN"] = rule_arn
        self.send_to_queue(dead_letter, _body(payload), attributes)
        LOG.warning("delivery to %s dead-lettered to %s after %d retries", target["Arn"], dead_letter, retries)
        return False

    def deliver_to_lambda(
        self, target: dict[str, Any], payload: Any, rule_arn: str | None = None, source: str | None = None
    ) -> None:
        """Deliver to a Lambda target: EventBridge's Invoke (retried, dead-lettered), then Lambda's async run.

        ``source`` names the deliverer for fault injection (``scheduler:<arn>``); a rule by default.
        """
        caller = source or f"events:{rule_arn or 'delivery'}"
        if self._accepted("lambda", "Invoke", target, payload, rule_arn, caller):
            self.invoke_lambda_async(target["Arn"], payload)

    def deliver_to_state_machine(
        self, target: dict[str, Any], payload: Any, rule_arn: str | None = None, source: str | None = None
    ) -> None:
        caller = source or f"events:{rule_arn or 'delivery'}"
        if self._accepted("stepfunctions", "StartExecution", target, payload, rule_arn, caller):
            start_execution(target["Arn"], payload)

    def invoke_lambda_async(self, arn: str, payload: Any) -> None:
        """Lambda's asynchronous invocation: retries, then the function's dead-letter queue and destination."""
        from moto.awslambda.utils import get_backend

        parsed = parse_arn(arn)
        function = get_backend(parsed.account, parsed.region).get_function(arn)
        config = function.event_invoke_config[0].config if function.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", len(ASYNC_RETRY_DELAYS_SECONDS)))
        max_age = float(config.get("MaximumEventAgeInSeconds", LAMBDA_DEFAULT_MAX_EVENT_AGE_SECONDS))
        delays = [0.0, *ASYNC_RETRY_DELAYS_SECONDS[:retries]]
        request_id = str(uuid.uuid4())
        started = dt.datetime.now(dt.UTC)
        waited, attempts, result, condition = 0.0, 0, "", "RetriesExhausted"
        for delay in delays:
            if waited + delay > max_age:
                condition = "EventAgeExceeded"
                break
            if delay:
                self.clock.sleep(delay)
                waited += delay
                self.counts.async_retries += 1
            attempts += 1
            result, errored, _ = invoke_and_log(self.lambdas, function, payload)
            if not errored:
                return
            LOG.warning("async invoke of %s failed (attempt %d): %s", arn, attempts, result[:2000])
        error_type, error_message = _error_message(result)
        dead_letter = self.lambdas.dead_letter_arn(arn) or self.lambdas.dead_letter_arn(function.function_name)
        destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if dead_letter:
            attributes = {
                "RequestID": request_id,
                "ErrorCode": "200",
                "ErrorMessage": f"{error_type}: {error_message}"[:DLQ_ERROR_MESSAGE_LIMIT],
            }
            self.send_to_queue(dead_letter, _body(payload), attributes)
        if destination and parse_arn(destination).service == "sqs":
            record = {
                "version": "1.0",
                "timestamp": started.isoformat(),
                "requestContext": {
                    "requestId": request_id,
                    "functionArn": f"{function.function_arn}:$LATEST",
                    "condition": condition,
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": payload,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": json.loads(result) if result.startswith("{") else result,
            }
            self.send_to_queue(destination, json.dumps(record), {})
        if not dead_letter and not destination:
            raise RuntimeError(f"async invoke of {arn} failed after {attempts} attempts and has no dead-letter queue")
        LOG.warning("async invoke of %s failed after %d attempts; the event was dead-lettered", arn, attempts)
