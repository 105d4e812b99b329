"""EventBridge targets that moto cannot reach: Lambda functions and Step Functions state machines.

moto cannot deliver to these targets (it raises on them). Delivery here is asynchronous, like
EventBridge, and honours the target's ``Input``, ``InputPath`` and ``InputTransformer``.
Lambda targets get Lambda's asynchronous retries (two more attempts) on a function error.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

from localcloud.clock import CLOCK

LOG = logging.getLogger("localcloud.events")
ASYNC_RETRY_DELAYS_SECONDS = (60, 120)


class Dispatcher:
    """Runs deliveries on a pool and lets callers wait until every delivery has finished."""

    def __init__(self, workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbridge")
        self._in_flight = 0
        self._idle = threading.Condition()
        self.delivered = 0
        self.failed = 0

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


DISPATCHER = Dispatcher()


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


def invoke_lambda_async(arn: str, payload: Any) -> None:
    from moto.awslambda.utils import get_backend

    parsed = parse_arn(arn)
    function = get_backend(parsed.account, parsed.region).get_function(arn)
    for attempt, delay in enumerate((0, *ASYNC_RETRY_DELAYS_SECONDS)):
        if delay:
            CLOCK.sleep(delay)
        _, errored, _ = function._invoke_lambda(event=payload)
        if not errored:
            return
        LOG.warning("async invoke of %s failed (attempt %d)", arn, attempt + 1)
    raise RuntimeError(f"async invoke of {arn} failed after {1 + len(ASYNC_RETRY_DELAYS_SECONDS)} attempts")


def start_execution(arn: str, payload: Any) -> None:
    from moto.stepfunctions.responses import get_backend

    parsed = parse_arn(arn)
    backend = get_backend(parsed.account, parsed.region)
    document = payload if isinstance(payload, str) else json.dumps(payload)
    backend.start_execution(arn, name=str(uuid.uuid4()), execution_input=document)


_original_send_to_targets = Rule.send_to_targets


def _send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    # moto's S3 path offers every event to every rule, disabled ones included.
    if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
        return
    others = []
    for target in self.targets:
        service = parse_arn(target["Arn"]).service
        if service == "lambda":
            DISPATCHER.submit(invoke_lambda_async, target["Arn"], target_input(target, original_event))
        elif service == "states":
            DISPATCHER.submit(start_execution, target["Arn"], target_input(target, original_event))
        else:
            others.append(target)
    if others:
        clone = copy.copy(self)
        clone.targets = others
        _original_send_to_targets(clone, original_event, transform_input)


def install() -> None:
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign]
