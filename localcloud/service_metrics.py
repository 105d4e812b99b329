"""The metrics AWS services publish by themselves, put into the offline cloud's CloudWatch (moto).

moto records a datapoint only when someone calls PutMetricData. On AWS, Step Functions, Lambda, SQS
and CloudWatch Logs (embedded metric format) publish theirs unasked, and the template's dashboard
and dead-letter alarms read them. The runtime's hooks call one function each:

* ``execution_started`` / ``execution_ended`` (``stepfunctions.py``, ``execution_events.py``):
  ``AWS/States`` per ``StateMachineArn`` (``ExecutionsStarted``, ``ExecutionsSucceeded``,
  ``ExecutionsFailed``, ``ExecutionsTimedOut``, ``ExecutionsAborted``, ``ExecutionTime``), and, from
  the ended execution's history, per ``LambdaFunctionArn`` (``LambdaFunctionTime``,
  ``LambdaFunctionsSucceeded``, ``LambdaFunctionsFailed``, ``LambdaFunctionsTimedOut``) and per
  ``ServiceIntegrationResourceArn`` (``ServiceIntegrationTime``, ``ServiceIntegrationsSucceeded``,
  ``ServiceIntegrationsFailed``, ``ServiceIntegrationsTimedOut``);
* ``lambda_invoked`` (``lambdas.invoke_and_log``): ``AWS/Lambda`` per ``FunctionName``
  (``Invocations``, ``Errors``, ``Duration``), and the embedded-metric-format documents in the
  invocation's log lines (``emf_metrics``);
* ``QueueMetricsPublisher``: ``AWS/SQS`` per ``QueueName`` for every queue of every account and
  region, every simulated minute (``ApproximateNumberOfMessagesVisible``,
  ``ApproximateNumberOfMessagesNotVisible``, ``ApproximateAgeOfOldestMessage``).

Times, as the alarm evaluator (``alarms.py``) reads them: a datapoint is stamped with real UTC time
(moto's own default, naive UTC), and a period of the simulated clock is ``period * scale`` real
seconds. Durations are what the service measured: Step Functions' from its execution history, whose
timestamps are real time (a 600 s ``Wait`` at scale 0.01 counts 6 s), Lambda's from the invocation's
``REPORT`` line. The age of a queue's oldest message is in simulated seconds (real age / scale), so a
threshold in seconds means what it means on AWS against the scaled periods.

Every datapoint goes straight into moto's backend of the resource's account and region: no API call,
so neither the caller's IAM policies nor injected faults apply (the services publish as themselves),
and a put costs microseconds. Publishing is best effort, as on AWS: a failure is logged, never raised
into the execution or invocation that caused it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeGuard

from localcloud.background import BackgroundLoop
from localcloud.clock import Clock

LOG = logging.getLogger("localcloud.service_metrics")

STATES = "AWS/States"
LAMBDA = "AWS/Lambda"
SQS = "AWS/SQS"
# moto keeps every datapoint; a long-lived local server would grow without bound (as invocations.py).
MAX_DATAPOINTS = 200_000
# SQS publishes its queue metrics once a minute.
QUEUE_PERIOD_SIMULATED_SECONDS = 60.0

Datum = dict[str, Any]


# ------------------------------------------------------------------------------------ the put


def timestamp(when: dt.datetime | float | None = None) -> dt.datetime:
    """A datapoint's timestamp as moto stores its own: naive UTC, real time (now by default).

    ``when`` is a datetime (naive means UTC) or epoch seconds.
    """
    if when is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if isinstance(when, int | float):
        return dt.datetime.fromtimestamp(when, dt.UTC).replace(tzinfo=None)
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo is not None else when


def datum(
    name: str, value: float, unit: str, dimensions: dict[str, str], when: dt.datetime | float | None = None
) -> Datum:
    """One MetricDatum, as PutMetricData takes it."""
    return {
        "MetricName": name,
        "Value": float(value),
        "Unit": unit,
        "Dimensions": [{"Name": key, "Value": item} for key, item in dimensions.items()],
        "Timestamp": timestamp(when),
    }


def put(account_id: str, region: str, namespace: str, data: list[Datum]) -> None:
    """PutMetricData into moto's CloudWatch of ``account_id``/``region``, as the service itself."""
    if not data:
        return
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    backend.put_metric_data(namespace, data)
    if len(backend.metric_data) > MAX_DATAPOINTS:
        del backend.metric_data[: MAX_DATAPOINTS // 2]


def _arn_account_region(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN."""
    parts = arn.split(":", 5)
    return parts[1], parts[3], parts[4]


# ------------------------------------------------------------------------------- Step Functions

_EXECUTION_ENDS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
# The event that opens each family's attempt, and the outcome metric of each event that closes it.
_LAMBDA_OPEN = "LambdaFunctionScheduled"
_LAMBDA_CLOSE = {
    "LambdaFunctionSucceeded": "LambdaFunctionsSucceeded",
    "LambdaFunctionFailed": "LambdaFunctionsFailed",
    "LambdaFunctionStartFailed": "LambdaFunctionsFailed",
    "LambdaFunctionTimedOut": "LambdaFunctionsTimedOut",
}
_TASK_OPEN = "TaskScheduled"
_TASK_CLOSE = {
    "TaskSucceeded": "ServiceIntegrationsSucceeded",
    "TaskFailed": "ServiceIntegrationsFailed",
    "TaskStartFailed": "ServiceIntegrationsFailed",
    "TaskSubmitFailed": "ServiceIntegrationsFailed",
    "TaskTimedOut": "ServiceIntegrationsTimedOut",
}
# How far back from a closing event its Scheduled event may be (Scheduled, Started, Submitted, close).
_MAX_CHAIN = 8


def execution_started(state_machine_arn: str, when: dt.datetime | float | None = None) -> None:
    """``ExecutionsStarted`` of a state machine, in its account and region."""
    try:
        _, region, account = _arn_account_region(state_machine_arn)
        started = datum("ExecutionsStarted", 1, "Count", {"StateMachineArn": state_machine_arn}, when)
        put(account, region, STATES, [started])
    except Exception:  # best effort: a metric must never fail the execution
        LOG.exception("could not put ExecutionsStarted of %s", state_machine_arn)


def execution_ended(execution: Any) -> None:
    """An ended execution's metrics (moto's ``Execution``): its end and time, and its tasks' from its history."""
    try:
        machine = str(execution.state_machine.arn)
        status = getattr(execution.exec_status, "value", execution.exec_status)
        stop = execution.stop_date or dt.datetime.now(dt.UTC)
        dimensions = {"StateMachineArn": machine}
        data = []
        if status in _EXECUTION_ENDS:
            data.append(datum(_EXECUTION_ENDS[status], 1, "Count", dimensions, stop))
        elapsed = _millis_between(execution.start_date, stop)
        if elapsed is not None:
            data.append(datum("ExecutionTime", elapsed, "Milliseconds", dimensions, stop))
        partition = machine.split(":", 2)[1]
        data.extend(task_metrics(_history(execution), partition))
        put(execution.account_id, execution.region_name, STATES, data)
    except Exception:
        LOG.exception("could not put the metrics of %s", getattr(execution, "exec_arn", execution))


def _history(execution: Any) -> list[dict[str, Any]]:
    """The ended execution's history events (moto's own list: the execution adds no more)."""
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:
        return []
    manager = env.event_manager
    events = getattr(manager, "_history_event_list", None)
    if events is None:  # a moto without the attribute: its public, deep-copying accessor
        history: list[dict[str, Any]] = manager.get_event_history()
        return history
    with manager._mutex:
        return list(events)


def _event_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
    return None


def _millis_between(start: Any, end: Any) -> float | None:
    begun, ended = _event_time(start), _event_time(end)
    if begun is None or ended is None:
        return None
    return max(0.0, (ended - begun).total_seconds() * 1000.0)


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def task_metrics(events: Iterable[dict[str, Any]], partition: str = "aws") -> list[Datum]:
    """``AWS/States`` datapoints of the Lambda and service-integration tasks in an execution history.

    Each attempt (a Scheduled event and the Succeeded/Failed/TimedOut event that closes it, found by
    following ``previousEventId``) gives its outcome count and its time, scheduled to closed, stamped
    when it closed: ``LambdaFunctionTime`` per ``LambdaFunctionArn`` for a function ARN as the
    Resource, ``ServiceIntegrationTime`` per ``ServiceIntegrationResourceArn``
    (``arn:aws:states:::sagemaker:createTrainingJob.sync``) for an integration.
    """
    by_id: dict[int, dict[str, Any]] = {}
    closing: list[dict[str, Any]] = []
    for event in events:
        kind = str(getattr(event.get("type"), "value", event.get("type")))
        by_id[int(event.get("id", 0))] = event
        if kind in _LAMBDA_CLOSE or kind in _TASK_CLOSE:
            closing.append(event)
    data: list[Datum] = []
    for close in closing:
        kind = str(getattr(close.get("type"), "value", close.get("type")))
        is_lambda = kind in _LAMBDA_CLOSE
        opened = _opening(close, by_id, _LAMBDA_OPEN if is_lambda else _TASK_OPEN)
        if opened is None:
            continue
        details = _details(opened)
        if is_lambda:
            dimensions = {"LambdaFunctionArn": str(details.get("resource", ""))}
            outcome, time_metric = _LAMBDA_CLOSE[kind], "LambdaFunctionTime"
        else:
            resource = f"arn:{partition}:states:::{details.get('resourceType', '')}:{details.get('resource', '')}"
            dimensions = {"ServiceIntegrationResourceArn": resource}
            outcome, time_metric = _TASK_CLOSE[kind], "ServiceIntegrationTime"
        if not next(iter(dimensions.values())):
            continue
        when = _event_time(close.get("timestamp"))
        data.append(datum(outcome, 1, "Count", dimensions, when))
        elapsed = _millis_between(opened.get("timestamp"), close.get("timestamp"))
        if elapsed is not None:
            data.append(datum(time_metric, elapsed, "Milliseconds", dimensions, when))
    return data


def _opening(close: dict[str, Any], by_id: dict[int, dict[str, Any]], opening_type: str) -> dict[str, Any] | None:
    event: dict[str, Any] | None = close
    for _ in range(_MAX_CHAIN):
        if event is None:
            return None
        event = by_id.get(int(event.get("previousEventId", 0)))
        if event is not None and str(getattr(event.get("type"), "value", event.get("type"))) == opening_type:
            return event
    return None


# ------------------------------------------------------------------------------------- Lambda

_REPORT_DURATION = re.compile(r"^REPORT RequestId: \S+\s+Duration: ([0-9.]+) ms", re.MULTILINE)


def lambda_invoked(account_id: str, region: str, function_name: str, errored: bool, log_text: str) -> None:
    """One invocation of a function: ``AWS/Lambda`` per ``FunctionName``, and its log's EMF metrics.

    ``Duration`` is the invocation's ``REPORT`` line (the handler's time, without the cold start's
    init, as Lambda reports it); ``Errors`` counts an invocation that ended in a function error.
    """
    try:
        dimensions = {"FunctionName": function_name}
        now = timestamp()
        data = [
            datum("Invocations", 1, "Count", dimensions, now),
            datum("Errors", float(errored), "Count", dimensions, now),
        ]
        reports = _REPORT_DURATION.findall(log_text)
        if reports:
            data.append(datum("Duration", float(reports[-1]), "Milliseconds", dimensions, now))
        put(account_id, region, LAMBDA, data)
        if '"_aws"' in log_text:
            for namespace, extracted in emf_metrics(log_text.splitlines(), function_name):
                put(account_id, region, namespace, extracted)
    except Exception:
        LOG.exception("could not put the metrics of an invocation of %s", function_name)


# ------------------------------------------------------------------------ embedded metric format

# CloudWatch's units (MetricDatum.Unit); an EMF metric without one is "None".
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
        "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
        "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
_MAX_DIMENSIONS = 30
_MAX_METRICS = 100
_MAX_VALUES = 100
_MAX_DIMENSION_VALUE = 1024


class InvalidEmf(ValueError):
    """A log line that claims to be an EMF document (a JSON object with ``_aws``) and breaks the specification."""


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _emf_document(line: str) -> dict[str, Any] | None:
    """The JSON object a log line holds if it has an ``_aws`` member; Lambda may put text before it."""
    start = line.find("{")
    if start < 0 or '"_aws"' not in line:
        return None
    try:
        document = json.loads(line[start:])
    except ValueError:
        return None
    return document if isinstance(document, dict) and "_aws" in document else None


def parse_emf(document: dict[str, Any]) -> list[tuple[str, Datum]]:
    """(namespace, MetricDatum) for each metric of each dimension set of an EMF document.

    The specification (CloudWatch_Embedded_Metric_Format_Specification): ``_aws`` holds ``Timestamp``
    (epoch milliseconds) and ``CloudWatchMetrics``, an array of directives, each a ``Namespace``, a
    ``Dimensions`` array of dimension sets (at most 30 keys each, possibly none) and ``Metrics`` (at
    most 100, each a ``Name`` with an optional ``Unit``). Names and dimension keys refer to members of
    the root: a dimension's is a string, a metric's a number or an array of at most 100 numbers.
    Every dimension set makes a metric of its own. A document that breaks a rule raises
    ``InvalidEmf`` and gives no metric, as CloudWatch Logs rejects it whole.
    """
    metadata = document.get("_aws")
    if not isinstance(metadata, dict):
        raise InvalidEmf("_aws must be an object")
    stamp = metadata.get("Timestamp")
    directives = metadata.get("CloudWatchMetrics")
    if not _is_number(stamp):
        raise InvalidEmf("_aws.Timestamp must be a number of epoch milliseconds")
    if not isinstance(directives, list):
        raise InvalidEmf("_aws.CloudWatchMetrics must be an array")
    when = timestamp(float(stamp) / 1000.0)
    extracted: list[tuple[str, Datum]] = []
    for directive in directives:
        extracted.extend(_directive_metrics(document, directive, when))
    return extracted


def _directive_metrics(document: dict[str, Any], directive: Any, when: dt.datetime) -> Iterator[tuple[str, Datum]]:
    if not isinstance(directive, dict):
        raise InvalidEmf("a MetricDirective must be an object")
    namespace, dimension_sets, metrics = (directive.get(key) for key in ("Namespace", "Dimensions", "Metrics"))
    if not isinstance(namespace, str) or not namespace:
        raise InvalidEmf("a MetricDirective needs a Namespace")
    if not isinstance(dimension_sets, list) or not dimension_sets:
        raise InvalidEmf(f"{namespace}: Dimensions must be an array of dimension sets")
    if not isinstance(metrics, list) or len(metrics) > _MAX_METRICS:
        raise InvalidEmf(f"{namespace}: Metrics must be an array of at most {_MAX_METRICS} definitions")
    resolved_sets = [_dimension_set(document, keys, namespace) for keys in dimension_sets]
    for definition in metrics:
        name, unit, values = _metric(document, definition, namespace)
        for dimensions in resolved_sets:
            metric: Datum = {"MetricName": name, "Unit": unit, "Dimensions": dimensions, "Timestamp": when}
            if isinstance(values, list):
                if values:  # an empty array carries no value to publish
                    yield namespace, {**metric, "Values": values}
            else:
                yield namespace, {**metric, "Value": values}


def _dimension_set(document: dict[str, Any], keys: Any, namespace: str) -> list[dict[str, str]]:
    if not isinstance(keys, list) or len(keys) > _MAX_DIMENSIONS:
        raise InvalidEmf(f"{namespace}: a dimension set is an array of at most {_MAX_DIMENSIONS} keys")
    dimensions = []
    for key in keys:
        value = document.get(key) if isinstance(key, str) else None
        if not isinstance(value, str) or not value or len(value) > _MAX_DIMENSION_VALUE:
            raise InvalidEmf(f"{namespace}: dimension {key!r} needs a string member of 1 to 1024 characters")
        dimensions.append({"Name": key, "Value": value})
    return dimensions


def _metric(document: dict[str, Any], definition: Any, namespace: str) -> tuple[str, str, float | list[float]]:
    if not isinstance(definition, dict) or not isinstance(definition.get("Name"), str):
        raise InvalidEmf(f"{namespace}: a MetricDefinition needs a Name")
    name = definition["Name"]
    unit = definition.get("Unit", "None")
    if unit not in UNITS:
        raise InvalidEmf(f"{namespace}/{name}: {unit!r} is not a CloudWatch unit")
    value = document.get(name)
    if _is_number(value):
        return name, unit, float(value)
    if isinstance(value, list) and len(value) <= _MAX_VALUES and all(_is_number(item) for item in value):
        return name, unit, [float(item) for item in value]
    raise InvalidEmf(f"{namespace}/{name}: the member must be a number or an array of at most 100 numbers")


def emf_metrics(lines: Iterable[str], source: str = "a log") -> list[tuple[str, list[Datum]]]:
    """The metrics of the EMF documents among ``lines``, grouped by namespace in order of appearance.

    A document that breaks the specification is logged and skipped (CloudWatch Logs counts it in
    ``AWS/Logs`` ``EMFValidationErrors``); the line itself stays in the log either way.
    """
    grouped: dict[str, list[Datum]] = {}
    for line in lines:
        document = _emf_document(line)
        if document is None:
            continue
        try:
            extracted = parse_emf(document)
        except InvalidEmf as error:
            LOG.warning("an embedded metric format document in %s is invalid, no metric extracted: %s", source, error)
            continue
        for namespace, metric in extracted:
            grouped.setdefault(namespace, []).append(metric)
    return list(grouped.items())


# ---------------------------------------------------------------------------------------- SQS


def queue_metrics(queue: Any, now_millis: float, scale: float, when: dt.datetime) -> list[Datum]:
    """A moto queue's three depth metrics, as SQS publishes them each minute."""
    visible = not_visible = 0
    oldest: float | None = None
    for message in list(queue._messages):
        if message.delayed:
            continue
        if message.visible:
            visible += 1
        else:
            not_visible += 1
        sent = message.sent_timestamp
        if sent is not None and (oldest is None or sent < oldest):
            oldest = float(sent)
    age = 0.0 if oldest is None else max(0.0, (now_millis - oldest) / 1000.0) / scale
    dimensions = {"QueueName": str(queue.name)}
    return [
        datum("ApproximateNumberOfMessagesVisible", visible, "Count", dimensions, when),
        datum("ApproximateNumberOfMessagesNotVisible", not_visible, "Count", dimensions, when),
        datum("ApproximateAgeOfOldestMessage", math.floor(age), "Seconds", dimensions, when),
    ]


class QueueMetricsPublisher:
    """Puts every SQS queue's depth metrics, every simulated minute, on a background thread.

    One per offline cloud (``Runtime.queue_metrics``), on that cloud's clock: at scale 0.01 a minute
    is 0.6 s, so an alarm period of 300 s sees five datapoints, as on AWS.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._loop = BackgroundLoop("queue-metrics")

    def start(self) -> None:
        self._loop.start(self._run)

    def stop(self) -> None:
        self._loop.stop()

    def _run(self) -> None:
        # A fixed cadence, as SQS publishes: the time a round of puts takes comes out of the wait for the
        # next one (in one loaded CI run a sleep after each round stretched a minute to about three). A round
        # that overruns a whole period is followed by the next at once, without catching up missed ones.
        period = self._clock.real_seconds(QUEUE_PERIOD_SIMULATED_SECONDS)
        due = time.monotonic() + period
        while not self._loop.stopping.wait(max(0.0, due - time.monotonic())):
            try:
                self.publish_once()
            except Exception:  # one bad queue must not stop the publishing
                LOG.exception("queue metrics failed")
            due = max(due + period, time.monotonic())

    def publish_once(self, now: dt.datetime | None = None) -> int:
        """Put one datapoint of each metric for every queue of every account and region; returns how many queues."""
        from moto.sqs.models import sqs_backends

        moment = now or dt.datetime.now(dt.UTC)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
        now_millis = moment.timestamp() * 1000.0
        when = timestamp(moment)
        published = 0
        for account_id, regions in list(sqs_backends.items()):
            for region, backend in list(regions.items()):
                data: list[Datum] = []
                for queue in list(backend.queues.values()):
                    data.extend(queue_metrics(queue, now_millis, self._clock.scale, when))
                    published += 1
                put(account_id, region, SQS, data)
        return published
