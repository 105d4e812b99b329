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

Before its call, EventBridge must be allowed to make it (``localcloud/iam``, recorded in the cloud's
``AccessChecks``). With a target's ``RoleArn`` (SAM gives a rule's state machine target one,
Scheduler requires one), the role's trust policy must let the service assume it and its policies
must allow ``states:StartExecution`` or ``lambda:InvokeFunction`` on the target
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-iam-roles.html,
https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-templated.html). A rule's
Lambda target without a role must be allowed by the function's resource policy, SAM's
``<Function><Event>Permission``
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html). A refusal is
not retried: the event goes straight to the dead-letter queue with ``ERROR_CODE``
``NO_PERMISSIONS`` (``FAILED_TO_ASSUME_ROLE`` for the trust policy), as
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html says of missing
permissions; Scheduler's guide says nothing either way, and its refusals are treated alike (chosen).
Writing to that queue is checked too: a rule writes as ``events.amazonaws.com``
(the queue's policy and its key's policy decide), a schedule as its execution role
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html); an event
refused there is lost. A role IAM does not hold (a schedule built by hand against moto) is not
checked, as the request path does not check a caller whose role it does not know.

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
from localcloud.iam import checks, errors, lookups
from localcloud.iam.actions import Authorization
from localcloud.iam.conditions import Context, conditions_hold
from localcloud.iam.evaluator import ALLOWED, Decision
from localcloud.iam.policies import Policy, Principal, Statement
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


# The services that assume a target's role, by the caller kind their deliveries carry.
_SERVICE_PRINCIPALS = {
    "events": "events.amazonaws.com",
    "scheduler": "scheduler.amazonaws.com",
    "cloudwatch": "cloudwatch.amazonaws.com",
}
_TARGET_ACTIONS = {"lambda": "lambda:InvokeFunction", "stepfunctions": "states:StartExecution"}


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


def as_delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge delivers it: moto keeps ``time`` as epoch seconds, AWS sends ISO 8601.

    AWS's envelope reads ``"time": "2019-10-02T17:04:40Z"`` (seconds, UTC); moto converts only on
    its own SQS and log targets, so a handler that parses the envelope would meet a float offline.
    """
    when = event.get("time")
    if isinstance(when, int | float):
        stamp = dt.datetime.fromtimestamp(float(when), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**event, "time": stamp}
    return event


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    event = as_delivered(event)
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


@dataclass(frozen=True)
class DeliveryRefused:
    """Why EventBridge or Scheduler may not make a delivery: the dead-letter message's ERROR_CODE and text."""

    code: str
    message: str


@dataclass(frozen=True)
class _ServicePrincipal(Principal):
    """A service acting as itself (``events.amazonaws.com``): only a resource's own policy can allow it."""

    @property
    def session_arn(self) -> str:
        return self.session_name


def _names(statement: Statement, service: str) -> bool:
    principals = statement.principals or {}
    return service in principals.get("Service", ()) or "*" in principals.get("AWS", ())


def _service_decision(policy: Policy | None, service: str, action: str, resource: str, context: Context) -> Decision:
    """Whether a resource's policy (or a role's trust policy) lets ``service`` itself perform ``action``.

    No identity policy speaks for a service principal, so the resource's policy alone decides; a trust
    policy names no Resource, which then matches its role.
    """
    reason = f"because no resource-based policy allows the {action} action"
    if policy is None:
        return Decision(False, reason)

    def applies(statement: Statement) -> bool:
        unscoped = not statement.resources and statement.not_resources is None
        return (
            _names(statement, service)
            and statement.matches_action(action)
            and (unscoped or statement.matches_resource(resource))
            and conditions_hold(statement.conditions, context)
        )

    if any(applies(s) for s in policy.statements if s.effect == "Deny"):
        return Decision(False, "with an explicit deny in a resource-based policy")
    if any(applies(s) for s in policy.statements if s.effect == "Allow"):
        return ALLOWED
    return Decision(False, reason)


def _service_context(account: str, source_arn: str) -> dict[str, tuple[str, ...]]:
    # What a service adds when it acts for a resource: the confused-deputy keys policies test.
    return {
        "aws:sourcearn": (source_arn,),
        "aws:sourceaccount": (account,),
        "aws:securetransport": ("true",),
    }


def _trust_policy(role_arn: str) -> Policy:
    from moto.iam.models import iam_backends

    role = iam_backends[role_arn.split(":")[4]]["aws"].get_role_by_arn(role_arn)
    return Policy.parse(f"trust policy of {role.name}", role.assume_role_policy_document)


def _function_policy(function_arn: str) -> Policy | None:
    from moto.awslambda.utils import get_backend

    parsed = parse_arn(function_arn)
    try:
        function = get_backend(parsed.account, parsed.region).get_function(function_arn)
    except Exception:  # no such function: the call itself fails as Lambda answers it
        return None
    statements = function.policy.statements
    return (
        Policy.parse(f"resource policy of {function.function_name}", {"Statement": statements}) if statements else None
    )


def start_execution(arn: str, payload: Any) -> None:
    from moto.stepfunctions.responses import get_backend

    parsed = parse_arn(arn)
    backend = get_backend(parsed.account, parsed.region)
    document = payload if isinstance(payload, str) else json.dumps(payload)
    backend.start_execution(arn, name=str(uuid.uuid4()), execution_input=document)


class Deliveries:
    """One cloud's asynchronous deliveries: run on a pool, retried on its clock, waited for by callers."""

    def __init__(
        self,
        clock: Clock,
        faults: FaultInjector,
        lambdas: LocalLambdaRuntime,
        workers: int = 16,
        access: checks.AccessChecks | None = None,
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.lambdas = lambdas
        # The cloud's IAM record; by default the running cloud's (none running: nothing is checked).
        self._access = access
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

    # ------------------------------------------------------------------ permissions
    def access(self) -> checks.AccessChecks | None:
        if self._access is not None:
            return self._access
        from localcloud import runtime

        cloud = runtime.active()
        return cloud.iam if cloud is not None else None

    def _authorize_role(
        self, access: checks.AccessChecks, role_arn: str, source: str, authorizations: list[Authorization]
    ) -> DeliveryRefused | None:
        """The service assumes ``role_arn`` for ``source`` (``events:<rule ARN>``...) and asks for each grant."""
        kind, _, source_arn = source.partition(":")
        service = _SERVICE_PRINCIPALS[kind]
        parsed = parse_arn(source_arn)
        # Scheduler's confused-deputy key is the schedule group's ARN
        # (https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
        if kind == "scheduler":
            group = parsed.resource_id.split("/")[0]
            source_arn = f"arn:aws:scheduler:{parsed.region}:{parsed.account}:schedule-group/{group}"
        assume = Authorization("sts:AssumeRole", role_arn)
        trusted = _service_decision(
            _trust_policy(role_arn), service, assume.action, role_arn, _service_context(parsed.account, source_arn)
        )
        access.record(_ServicePrincipal(service, service, source), assume, trusted)
        if not trusted.allowed:
            text = f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn} {trusted.reason}"
            return DeliveryRefused("FAILED_TO_ASSUME_ROLE", text)
        # Session names are opaque on AWS; the rule's or schedule's name reads better offline.
        principal = Principal(role_arn, parsed.resource_id.rsplit("/", 1)[-1], source)
        access.record_call(principal)
        for authorization in authorizations:
            decision = checks.authorize(principal, parsed.region, authorization, access)
            if not decision.allowed:
                service_name = authorization.action.split(":")[0]
                return DeliveryRefused(
                    "NO_PERMISSIONS", errors.message(principal, authorization, decision, service_name)
                )
        return None

    def _authorize_as_service(
        self, access: checks.AccessChecks, source: str, policy: Policy | None, authorization: Authorization
    ) -> DeliveryRefused | None:
        """EventBridge acting as itself, allowed by the resource's own policy only."""
        kind, _, source_arn = source.partition(":")
        service = _SERVICE_PRINCIPALS[kind]
        principal = _ServicePrincipal(service, service, source)
        context = _service_context(parse_arn(source_arn).account, source_arn)
        decision = _service_decision(policy, service, authorization.action, authorization.resource, context)
        access.record(principal, authorization, decision)
        if decision.allowed:
            return None
        text = (
            f"{service} is not authorized to perform: {authorization.action} on resource: "
            f"{authorization.resource} {decision.reason}"
        )
        return DeliveryRefused("NO_PERMISSIONS", text)

    def service_refusal(self, kind: str, source_arn: str, grants: list[Authorization]) -> DeliveryRefused | None:
        """Why a service acting as itself for ``source_arn`` (``kind``: cloudwatch, events) may not make
        these calls, each allowed only by the resource's own policy; None: it may (or nothing is checked)."""
        access = self.access()
        if access is None:
            return None
        source = f"{kind}:{source_arn}"
        access.record_call(_ServicePrincipal(_SERVICE_PRINCIPALS[kind], _SERVICE_PRINCIPALS[kind], source))
        for grant in grants:
            parsed = parse_arn(grant.resource)
            resource_policy = lookups.resource_policy(parsed.account, parsed.region, grant.resource)
            policy = resource_policy.policy if resource_policy is not None else None
            refused = self._authorize_as_service(access, source, policy, grant)
            if refused is not None:
                return refused
        return None

    def refusal(self, service: str, target: dict[str, Any], source: str) -> DeliveryRefused | None:
        """Why the delivering service may not call ``target`` (``service``: lambda or stepfunctions); None: it may."""
        access = self.access()
        kind, _, source_arn = source.partition(":")
        if access is None or kind not in _SERVICE_PRINCIPALS or not source_arn.startswith("arn:"):
            return None
        grant = Authorization(_TARGET_ACTIONS[service], str(target["Arn"]))
        role = target.get("RoleArn")
        if role:
            return self._authorize_role(access, str(role), source, [grant]) if lookups.role_exists(str(role)) else None
        if service == "lambda" and kind == "events":
            # No role: the function's resource policy is what lets EventBridge invoke it.
            access.record_call(_ServicePrincipal(_SERVICE_PRINCIPALS[kind], _SERVICE_PRINCIPALS[kind], source))
            return self._authorize_as_service(access, source, _function_policy(grant.resource), grant)
        return None

    def _dead_letter_refusal(self, target: dict[str, Any], queue_arn: str, source: str) -> DeliveryRefused | None:
        """Why the delivering service may not write to the target's dead-letter queue; None: it may.

        A rule writes as ``events.amazonaws.com``, so the queue's policy and its key's policy must allow
        it (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html); a schedule
        writes with its execution role (sqs:SendMessage, and the key's actions for an encrypted queue).
        """
        access = self.access()
        kind, _, source_arn = source.partition(":")
        if access is None or kind not in _SERVICE_PRINCIPALS or not source_arn.startswith("arn:"):
            return None
        parsed = parse_arn(queue_arn)
        key = lookups.MotoResources(parsed.account, parsed.region).queue_kms_key(queue_arn)
        via = {"kms:viaservice": (f"sqs.{parsed.region}.amazonaws.com",), "kms:calleraccount": (parsed.account,)}
        grants = [Authorization("sqs:SendMessage", queue_arn)]
        grants += [Authorization(action, key, via) for action in ("kms:GenerateDataKey", "kms:Decrypt") if key]
        if kind == "scheduler":
            role = str(target.get("RoleArn") or "")
            return self._authorize_role(access, role, source, grants) if lookups.role_exists(role) else None
        access.record_call(_ServicePrincipal(_SERVICE_PRINCIPALS[kind], _SERVICE_PRINCIPALS[kind], source))
        for grant in grants:
            resource_policy = lookups.resource_policy(parsed.account, parsed.region, grant.resource)
            policy = resource_policy.policy if resource_policy is not None else None
            refused = self._authorize_as_service(access, source, policy, grant)
            if refused is not None:
                return refused
        return None

    # ------------------------------------------------------------------ delivering
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
        refused = self.refusal(service, target, caller)
        if refused is not None:
            # Missing permissions are not retried: the event goes to the dead-letter queue at once.
            LOG.warning("delivery to %s refused: %s", target["Arn"], refused.message)
            self._dead_letter(target, payload, rule_arn, caller, refused.code, refused.message, 0, None)
            return False
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
        self._dead_letter(target, payload, rule_arn, caller, error.code, error.message, retries, condition)
        return False

    def _dead_letter(
        self,
        target: dict[str, Any],
        payload: Any,
        rule_arn: str | None,
        caller: str,
        code: str,
        message: str,
        retries: int,
        condition: str | None,
    ) -> None:
        """Send a delivery that failed to the target's DeadLetterConfig queue; raise when it cannot go there."""
        dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dead_letter:
            raise RuntimeError(f"delivery to {target['Arn']} failed ({code}) and the target has no dead-letter queue")
        refused = self._dead_letter_refusal(target, dead_letter, caller)
        if refused is not None:
            raise RuntimeError(
                f"delivery to {target['Arn']} failed ({code}) and its dead-letter queue {dead_letter} "
                f"refused the event: {refused.message}"
            )
        attributes = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message,
            "TARGET_ARN": str(target["Arn"]),
            "RETRY_ATTEMPTS": str(retries),
        }
        if condition is not None:  # a failure that was not retried exhausted no retry limit
            attributes["EXHAUSTED_RETRY_CONDITION"] = condition
        if rule_arn:
            attributes["RULE_ARN"] = rule_arn
        self.send_to_queue(dead_letter, _body(payload), attributes)
        LOG.warning("delivery to %s dead-lettered to %s after %d retries", target["Arn"], dead_letter, retries)

    def deliver_to_lambda(
        self, target: dict[str, Any], payload: Any, rule_arn: str | None = None, source: str | None = None
    ) -> None:
        """Deliver to a Lambda target: EventBridge's Invoke (retried, dead-lettered), then Lambda's async run.

        ``source`` names the deliverer (``scheduler:<arn>``), whose permissions and faults apply; a rule
        by default.
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
            # Lambda discards such an event; the function's Errors metric is what records it.
            LOG.warning(
                "async invoke of %s failed after %d attempt(s) and was discarded (no dead-letter queue): %s: %s",
                arn, attempts, error_type, error_message[:300],
            )  # fmt: skip
            return
        LOG.warning("async invoke of %s failed after %d attempts; the event was dead-lettered", arn, attempts)
