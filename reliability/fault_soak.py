"""Soak the whole pipeline under injected faults and prove that no dataset drop is lost.

    python -m reliability.fault_soak --runs 50 --rate 0.10      # the figures in docs/reliability.md
    python -m reliability.fault_soak --runs 3                   # a quick check (tests run this)

The offline cloud deploys ``template.yaml``; then ``--runs`` dataset drops are uploaded, a few at a
time, in a fixed mix: good data (trains, gates, registers, compiles, deploys or is rejected on a
tie-break), noisy data (the quality gate rejects it), a dataset with a header row (Preprocess
quarantines it), a key with a tab (Ingest quarantines it) and a folder drop (parts, then
``_SUCCESS``). Meanwhile ``--rate`` of every AWS API call the product makes (from a Lambda handler,
a state machine task or an EventBridge delivery) is answered with a throttle, a 5xx or a timeout,
in the service's own wire format. The harness's own reads are never faulted.

What must hold, and is checked:

* every drop ends in exactly one terminal notification (``pipeline.succeeded``, ``model.rejected``,
  ``pipeline.failed``, ``data.quarantined`` or ``deployment.rolled_back``): none lost, none twice;
* every execution ends, and each has its notification: none stuck, none timed out silently;
* no outcome a fault caused: good data never ends in ``pipeline.failed``.

The exit status is 0 only when all of that holds. The figures say how the faults were absorbed:
SDK retries inside handlers (botocore standard mode, from ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``),
Step Functions ``Retry`` on tasks (counted from the execution histories), EventBridge delivery
retries and Lambda's asynchronous retries.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from unittest import mock

from localcloud.cloud import ACCOUNT_ID, Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.faults import KINDS

TERMINAL_EVENTS = frozenset(
    {"pipeline.succeeded", "model.rejected", "pipeline.failed", "data.quarantined", "deployment.rolled_back"}
)
# The mix, repeated: it starts with good data so that the first run creates the endpoint.
DROP_PATTERN = ("good", "noisy", "bad-data", "good", "bad-key", "good", "noisy", "folder", "good", "good")
EXPECTED_OUTCOMES = {
    "good": {"pipeline.succeeded", "model.rejected"},  # an equal or slightly worse model is rejected
    "folder": {"pipeline.succeeded", "model.rejected"},
    "noisy": {"model.rejected"},
    "bad-data": {"data.quarantined"},
    "bad-key": {"data.quarantined"},
}
# A smaller model (20 trees of depth 3) trains and compiles faster; short bakes keep the canary rollout
# real but quick (60 simulated seconds are 0.6 s at scale 0.01). Everything else is the defaults.
STACK_PARAMETERS = {
    "Hyperparameters": '{"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}',
    "BakeTimeSeconds": "60",
}
TASK_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionStartFailed",
    }
)
TASK_STARTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})
_RUNNING = frozenset({"RUNNING", "PENDING_REDRIVE"})


@dataclass
class Drop:
    index: int
    kind: str
    objects: list[tuple[str, bytes]]
    trigger: str  # the key whose arrival starts the run
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (event, reason)
    uploaded_at: float = 0.0
    settled_after: float | None = None
    diagnosis: str = ""  # the endpoint's and alarms' state when an unexpected outcome arrived
    rolled_back: RollbackEvidence | None = None  # filled in when a deployment.rolled_back arrives

    @property
    def terminal(self) -> list[tuple[str, str]]:
        return [outcome for outcome in self.outcomes if outcome[0] in TERMINAL_EVENTS]


@dataclass
class RollbackEvidence:
    """Why a run ended in ``deployment.rolled_back``: enough to tell a guardrail doing its job from a bug.

    The endpoint and the alarms are read the moment the notification arrives (the next rollout would
    change them); the rest when the soak has settled. moto has no DescribeAlarmHistory, so the alarms'
    state history is read from its alarm records.
    """

    drop: str
    execution: str = ""
    notification: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""  # status, serving config and FailureReason (DescribeEndpoint)
    alarms_in_alarm: list[str] = field(default_factory=list)  # "name: StateReason"
    alarm_history: list[str] = field(default_factory=list)  # every alarm state in force during the run
    faults: list[str] = field(default_factory=list)  # faults injected while the run ran, by any caller
    task_failures: list[str] = field(default_factory=list)  # the run's failed tasks (its execution history)
    verdict: str = ""


class FaultLog:
    """Every fault the injector decides on, with when and for whom (its stats only count them)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str, str, str]] = []  # (epoch, caller, service, operation, kind)

    @contextlib.contextmanager
    def recording(self, cloud: OfflineCloud) -> Iterator[None]:
        faults = cloud.faults
        decide = faults.decide

        def logged(service: str, operation: str, response_lost: bool = False) -> Any:
            kind = decide(service, operation, response_lost)
            if kind is not None:
                caller = str(faults.current_caller())
                self.records.append((time.time(), caller, service, operation, str(kind)))
            return kind

        with mock.patch.object(faults, "decide", logged):
            yield

    def between(self, start: float, stop: float) -> list[str]:
        return [
            f"+{at - start:.2f}s {caller} {service}:{operation} {kind}"
            for at, caller, service, operation, kind in self.records
            if start <= at <= stop
        ]


def make_drop(index: int, kind: str, tag: str) -> Drop:
    prefix = f"incoming/soak-{tag}-{index:03d}"
    if kind == "good":
        return Drop(index, kind, [(f"{prefix}.csv", breast_cancer_csv(seed=index))], f"{prefix}.csv")
    if kind == "noisy":
        body = breast_cancer_csv(label_noise=0.3, seed=index)
        return Drop(index, kind, [(f"{prefix}.csv", body)], f"{prefix}.csv")
    if kind == "bad-data":
        body = b"label,f1,f2\n" + breast_cancer_csv(rows=60, seed=index)
        return Drop(index, kind, [(f"{prefix}.csv", body)], f"{prefix}.csv")
    if kind == "bad-key":
        # A tab, a control character: Ingest refuses the key (spaces, accents and any script are accepted).
        key = f"incoming/soak\t{tag}\t{index:03d}.csv"
        return Drop(index, kind, [(key, breast_cancer_csv(rows=60, seed=index))], key)
    if kind == "folder":
        rows = breast_cancer_csv(seed=index).splitlines(keepends=True)
        half = len(rows) // 2
        parts = [(f"{prefix}/part-0.csv", b"".join(rows[:half])), (f"{prefix}/part-1.csv", b"".join(rows[half:]))]
        return Drop(index, kind, [*parts, (f"{prefix}/_SUCCESS", b"")], f"{prefix}/_SUCCESS")
    raise ValueError(f"unknown drop kind {kind}")


@dataclass
class SoakReport:
    runs: int
    rate: float
    seed: int
    time_scale: float
    wall_seconds: float = 0.0
    machine: str = ""
    drops_by_kind: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    outcomes_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    faults_by_service: dict[str, int] = field(default_factory=dict)
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    faults_by_caller: dict[str, int] = field(default_factory=dict)
    faults_injected: int = 0
    sdk_retry_attempts: int = 0
    sdk_calls_absorbed: dict[str, int] = field(default_factory=dict)
    sdk_calls_surfaced: dict[str, int] = field(default_factory=dict)
    sync_poll_faults_ridden_out: int = 0
    eventbridge_delivery_faults: int = 0
    asl_retries: int = 0
    asl_failures_caught: int = 0
    asl_retries_by_state: dict[str, int] = field(default_factory=dict)
    eventbridge_delivery_retries: int = 0
    lambda_async_retries: int = 0
    dead_lettered: int = 0
    executions: dict[str, int] = field(default_factory=dict)
    executions_stuck: list[str] = field(default_factory=list)
    executions_without_notification: list[str] = field(default_factory=list)
    executions_with_several_notifications: list[str] = field(default_factory=list)
    drops_lost: list[str] = field(default_factory=list)
    drops_notified_twice: list[str] = field(default_factory=list)
    unexpected_outcomes: list[str] = field(default_factory=list)
    unattributed_notifications: list[str] = field(default_factory=list)
    rollbacks: list[RollbackEvidence] = field(default_factory=list)
    seconds_per_drop_p50: float = 0.0
    seconds_per_drop_max: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.executions_stuck
            or self.executions_without_notification
            or self.executions_with_several_notifications
            or self.drops_lost
            or self.drops_notified_twice
            or self.unexpected_outcomes
        )


class _Attributor:
    """Which drop a notification is about: by its execution's input, or the keys it names."""

    def __init__(self, cloud: OfflineCloud, drops: Sequence[Drop]) -> None:
        self._sfn = cloud.client("stepfunctions")
        self._by_trigger = {drop.trigger: drop for drop in drops}
        self._executions: dict[str, str | None] = {}

    def drop_for(self, note: Notification) -> Drop | None:
        key = self._key(note)
        return self._by_trigger.get(key) if key else None

    def _key(self, note: Notification) -> str | None:
        execution = note.body.get("execution")
        if execution:
            if execution not in self._executions:
                self._executions[execution] = self._execution_key(str(execution))
            return self._executions[execution]
        details = note.body.get("details") or {}
        uri = details.get("dataset") or next(iter(details.get("sources") or []), None)
        return str(uri).removeprefix("s3://").partition("/")[2] if uri else None

    def _execution_key(self, execution_arn: str) -> str | None:
        document = json.loads(self._sfn.describe_execution(executionArn=execution_arn)["input"])
        dataset = document.get("dataset") or {}
        identity = str(dataset.get("identity") or "")
        if identity.count("|") >= 2:
            return identity.split("|")[1]
        keys = dataset.get("keys") or []
        return str(keys[0]) if len(keys) == 1 else None


def asl_retries(history: Sequence[dict[str, Any]]) -> tuple[Counter[str], int]:
    """(task failures that a Retry re-ran, by state; failures that left the state: caught)."""
    retried: Counter[str] = Counter()
    caught = 0
    state = ""
    failed = False
    for event in history:
        kind = str(event.get("type", ""))
        if "stateEnteredEventDetails" in event:
            state = str(event["stateEnteredEventDetails"].get("name", ""))
        if kind in TASK_FAILURES:
            if failed:
                caught += 1
            failed = True
        elif kind in TASK_STARTS and failed:
            retried[state] += 1
            failed = False
        elif kind.endswith(("StateExited", "StateEntered")) and failed:
            caught += 1
            failed = False
    return retried, caught


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in ("", "moto", "localcloud", "botocore")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _machine() -> str:
    cpus = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"


def run_soak(
    runs: int = 50,
    rate: float = 0.10,
    seed: int = 7,
    burst: int = 2,
    time_scale: float = 0.01,
    drop_timeout: float = 300.0,
    verbose: bool = False,
    progress: Any = None,
) -> SoakReport:
    """Run the soak on a fresh offline cloud and return its figures."""
    report = SoakReport(runs=runs, rate=rate, seed=seed, time_scale=time_scale, machine=_machine())
    tag = uuid.uuid4().hex[:6]
    drops = [make_drop(index, DROP_PATTERN[index % len(DROP_PATTERN)], tag) for index in range(runs)]
    started = time.monotonic()
    fault_log = FaultLog()
    with _quiet(verbose):
        cloud = OfflineCloud(parameters=STACK_PARAMETERS, time_scale=time_scale, use_sam_build=False).start()
        counts = cloud.deliveries.counts
        delivery_before = asdict(counts)
        try:
            cloud.faults.seed(seed)
            cloud.faults.inject(rate, kinds=KINDS, scope="pipeline")
            with fault_log.recording(cloud):
                _drive(cloud, drops, burst, drop_timeout, progress)
                _settle(cloud, drop_timeout)
            stats = cloud.faults.stats()
            cloud.faults.clear()
            _collect(cloud, drops, report)
            report.rollbacks = [_explain(cloud, drop.rolled_back, fault_log) for drop in drops if drop.rolled_back]
        finally:
            cloud.faults.clear()
            cloud.stop()
    delivery = {key: value - delivery_before[key] for key, value in asdict(counts).items()}
    report.wall_seconds = round(time.monotonic() - started, 1)
    report.api_calls = dict(stats.api_calls.most_common())
    report.faults_injected = stats.total
    by_service: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for (service, kind), count in stats.injected.items():
        by_service[service] += count
        by_kind[kind] += count
    report.faults_by_service = dict(by_service.most_common())
    report.faults_by_kind = dict(by_kind.most_common())
    report.faults_by_caller = dict(stats.by_caller.most_common())
    report.sdk_retry_attempts = sum(stats.sdk_retries.values())
    report.sdk_calls_absorbed = {kind: n for (kind, outcome), n in stats.faulted_calls.items() if outcome == "absorbed"}
    report.sdk_calls_surfaced = {kind: n for (kind, outcome), n in stats.faulted_calls.items() if outcome == "surfaced"}
    # Inside the state machine only the .sync integration's poller calls DescribeTrainingJob.
    report.sync_poll_faults_ridden_out = stats.by_operation[("states", "sagemaker", "DescribeTrainingJob")]
    report.eventbridge_delivery_faults = sum(n for caller, n in stats.by_caller.items() if caller.startswith("events:"))
    report.eventbridge_delivery_retries = delivery["delivery_retries"]
    report.lambda_async_retries = delivery["async_retries"]
    report.dead_lettered = delivery["dead_lettered"]
    return report


def _drive(cloud: OfflineCloud, drops: Sequence[Drop], burst: int, drop_timeout: float, progress: Any) -> None:
    attributor = _Attributor(cloud, drops)
    seen = 0
    # The first drop goes alone: it creates the endpoint that the quality gate compares against.
    batches = [drops[:1], *(drops[first : first + burst] for first in range(1, len(drops), burst))]
    for batch in batches:
        for drop in batch:
            drop.uploaded_at = time.monotonic()
            for key, body in drop.objects:
                cloud.upload(key, body)
        deadline = time.monotonic() + drop_timeout
        while time.monotonic() < deadline:
            notes = cloud.notifications()
            for note in notes[seen:]:
                target = attributor.drop_for(note)
                if target is not None:
                    target.outcomes.append((note.event, str(note.body.get("reason", ""))[:300]))
                    if note.event == "deployment.rolled_back" and target.rolled_back is None:
                        target.rolled_back = _rollback_snapshot(cloud, target, note)
                    if target.settled_after is None and note.event in TERMINAL_EVENTS:
                        target.settled_after = time.monotonic() - target.uploaded_at
                        if note.event not in EXPECTED_OUTCOMES[target.kind]:
                            target.diagnosis = _diagnose(cloud)
            seen = len(notes)
            if all(drop.terminal for drop in batch):
                break
            time.sleep(0.1)
        if progress is not None:
            for drop in batch:
                progress(drop)


def _diagnose(cloud: OfflineCloud) -> str:
    """What the endpoint and the rollback alarms said when an unexpected outcome arrived."""
    parts = []
    with contextlib.suppress(Exception):
        endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
        parts.append(f"endpoint {endpoint['EndpointStatus']}: {endpoint.get('FailureReason', 'no FailureReason')}")
    with contextlib.suppress(Exception):
        alarms = cloud.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
        parts.append(f"alarms in ALARM: {[a['AlarmName'] + ': ' + a['StateReason'] for a in alarms]}")
    return "; ".join(parts)


def _rollback_snapshot(cloud: OfflineCloud, drop: Drop, note: Notification) -> RollbackEvidence:
    """The endpoint and the alarms in ALARM as the rollback's notification arrives."""
    evidence = RollbackEvidence(f"#{drop.index} {drop.kind} {drop.trigger}", str(note.body.get("execution", "")))
    evidence.notification = dict(note.body)
    with contextlib.suppress(Exception):
        endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
        evidence.endpoint = (
            f"{endpoint['EndpointStatus']} on {endpoint.get('EndpointConfigName', '?')}; "
            f"FailureReason: {endpoint.get('FailureReason', 'none')}"
        )
    with contextlib.suppress(Exception):
        alarms = cloud.client("cloudwatch").describe_alarms(StateValue="ALARM")["MetricAlarms"]
        evidence.alarms_in_alarm = [f"{alarm['AlarmName']}: {alarm['StateReason']}" for alarm in alarms]
    return evidence


def _epoch(when: dt.datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def _alarm_history(cloud: OfflineCloud, start: float, stop: float) -> list[str]:
    """Each alarm's states in force between ``start`` and ``stop`` (moto keeps them; it has no DescribeAlarmHistory)."""
    from moto.cloudwatch.models import cloudwatch_backends

    lines = []
    for alarm in list(cloudwatch_backends[ACCOUNT_ID][cloud.region].alarms.values()):
        # moto's history holds each *previous* (reason, state, since); the current state comes last.
        states = [(entry[3], entry[1], _epoch(entry[4])) for entry in list(alarm.history) if entry[0] == "StateUpdate"]
        states.append((alarm.state_value, alarm.state_reason, _epoch(alarm.state_updated_timestamp)))
        for position, (state, reason, since) in enumerate(states):
            until = states[position + 1][2] if position + 1 < len(states) else float("inf")
            if since <= stop and until >= start:
                lines.append(f"{alarm.name} {state} from {since - start:+.2f}s: {reason}")
    return lines


def _explain(cloud: OfflineCloud, evidence: RollbackEvidence, faults: FaultLog) -> RollbackEvidence:
    """Complete a rollback's evidence from the run's execution, the alarms' history and the fault log."""
    start, stop = 0.0, time.time()
    if evidence.execution:
        execution = cloud.client("stepfunctions").describe_execution(executionArn=evidence.execution)
        start = _epoch(execution["startDate"])
        stop = _epoch(execution["stopDate"]) if execution.get("stopDate") else stop
        for event in cloud.history(evidence.execution):
            if str(event.get("type", "")) in TASK_FAILURES:
                details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
                evidence.task_failures.append(f"{details.get('error', '?')}: {str(details.get('cause', ''))[:160]}")
    evidence.alarm_history = _alarm_history(cloud, start, stop)
    evidence.faults = faults.between(start, stop)
    reason = evidence.endpoint.partition("FailureReason: ")[2]
    fed_alarms = [line for line in evidence.faults if " sagemaker-runtime:" in line]
    if "alarm(s)" in reason:
        cause = "a guardrail alarm fired during the bake"
        cause += (
            f"; {len(fed_alarms)} injected InvokeEndpoint fault(s) could have fed it"
            if fed_alarms
            else "; no fault was injected into InvokeEndpoint, so no injected fault fed it: look at the alarm history"
        )
    elif reason.startswith(("Failed to load", "Failed to download")):
        cause = "the new fleet did not load, and the endpoint kept its previous config"
    elif reason and reason != "none":
        cause = "SageMaker rolled the update back"
    else:
        cause = "no rollback reason on the endpoint: it serves another config than the run deployed"
    evidence.verdict = cause
    return evidence


def _settle(cloud: OfflineCloud, timeout: float) -> None:
    """Wait until deliveries are idle and no execution runs (a queued drop may still be starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cloud.deliveries.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
        if not any(run["status"] in _RUNNING for run in cloud.executions()):
            time.sleep(1.0)  # a late duplicate notification would arrive now
            if cloud.deliveries.wait_idle(timeout=5) and not any(
                run["status"] in _RUNNING for run in cloud.executions()
            ):
                return
        time.sleep(0.2)


def _collect(cloud: OfflineCloud, drops: Sequence[Drop], report: SoakReport) -> None:
    attributor = _Attributor(cloud, drops)
    diagnoses = {drop.index: drop.diagnosis for drop in drops}
    for drop in drops:
        drop.outcomes.clear()
    unattributed: list[str] = []
    by_execution: Counter[str] = Counter()
    for note in cloud.notifications():
        if note.event in TERMINAL_EVENTS and note.body.get("execution"):
            by_execution[str(note.body["execution"])] += 1
        target = attributor.drop_for(note)
        if target is None:
            if note.event in TERMINAL_EVENTS:
                unattributed.append(f"{note.event}: {str(note.body.get('reason', ''))[:160]}")
            continue
        target.outcomes.append((note.event, str(note.body.get("reason", ""))[:300]))
    report.unattributed_notifications = unattributed
    report.drops_by_kind = dict(Counter(drop.kind for drop in drops))
    outcomes: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    for drop in drops:
        terminal = drop.terminal
        label = f"#{drop.index} {drop.kind} {drop.trigger}"
        if not terminal:
            report.drops_lost.append(label)
            continue
        if len(terminal) > 1:
            report.drops_notified_twice.append(f"{label}: {[event for event, _ in terminal]}")
        event, reason = terminal[0]
        outcomes[event] += 1
        by_kind.setdefault(drop.kind, Counter())[event] += 1
        if event not in EXPECTED_OUTCOMES[drop.kind]:
            diagnosis = f" [{diagnoses[drop.index]}]" if diagnoses[drop.index] else ""
            report.unexpected_outcomes.append(f"{label}: {event}: {reason}{diagnosis}")
    report.outcomes = dict(outcomes.most_common())
    report.outcomes_by_kind = {kind: dict(counter) for kind, counter in sorted(by_kind.items())}
    settled = sorted(drop.settled_after for drop in drops if drop.settled_after is not None)
    if settled:
        report.seconds_per_drop_p50 = round(settled[len(settled) // 2], 1)
        report.seconds_per_drop_max = round(settled[-1], 1)
    statuses: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    for run in cloud.executions():
        statuses[run["status"]] += 1
        arn = run["executionArn"]
        if run["status"] in _RUNNING or run["status"] in ("TIMED_OUT", "ABORTED"):
            report.executions_stuck.append(f"{run['name']}: {run['status']}")
        if by_execution[arn] == 0:
            report.executions_without_notification.append(f"{run['name']}: {run['status']}")
        elif by_execution[arn] > 1:
            report.executions_with_several_notifications.append(f"{run['name']}: {by_execution[arn]}")
        states, caught = asl_retries(cloud.history(arn))
        retried.update(states)
        report.asl_failures_caught += caught
    report.executions = dict(statuses)
    report.asl_retries = sum(retried.values())
    report.asl_retries_by_state = dict(retried.most_common())


def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in values.items()) or "none"


def format_report(report: SoakReport) -> str:
    calls = sum(report.api_calls.values())
    percent = 100.0 * report.faults_injected / calls if calls else 0.0
    lines = [
        f"Conveyor fault soak: {report.runs} runs, {report.rate:.0%} of the pipeline's AWS API calls faulted "
        f"(throttle / 5xx / timeout), seed {report.seed}, time scale {report.time_scale}",
        f"machine: {report.machine}; wall time {report.wall_seconds:.0f} s; seconds from upload to its "
        f"notification: p50 {report.seconds_per_drop_p50}, max {report.seconds_per_drop_max}",
        "",
        f"drops                     {report.runs} ({_counts(report.drops_by_kind)})",
        f"outcomes                  {_counts(report.outcomes)}",
        *(f"  {kind:<23} {_counts(counts)}" for kind, counts in report.outcomes_by_kind.items()),
        f"API calls by the pipeline {calls} ({_counts(report.api_calls)})",
        f"faults injected           {report.faults_injected} ({percent:.1f}% of calls)",
        f"  by service              {_counts(report.faults_by_service)}",
        f"  by kind                 {_counts(report.faults_by_kind)}",
        f"  by caller               {_counts(report.faults_by_caller)}",
        "retries absorbed",
        f"  in Lambda handlers      {report.sdk_calls_absorbed.get('lambda', 0)} faulted calls retried to success by "
        f"botocore ({report.sdk_retry_attempts} retry attempts), {report.sdk_calls_surfaced.get('lambda', 0)} "
        "gave up",
        f"  in the state machine    {report.sdk_calls_surfaced.get('states', 0)} faulted calls (one attempt each): "
        f"{report.asl_retries} re-run by a Task's Retry, {report.sync_poll_faults_ridden_out} ridden out by the "
        f".sync job poller, {report.asl_failures_caught} caught",
        f"    Retry by state        {_counts(report.asl_retries_by_state)}",
        f"  EventBridge delivery    {report.eventbridge_delivery_faults} faulted Invoke calls, "
        f"{report.eventbridge_delivery_retries} retries (the rule's RetryPolicy)",
        f"  Lambda async retries    {report.lambda_async_retries}; events dead-lettered {report.dead_lettered}",
        f"executions                {_counts(report.executions)}",
        f"stuck / timed out         {len(report.executions_stuck)}",
        f"executions without their notification {len(report.executions_without_notification)}; "
        f"with more than one {len(report.executions_with_several_notifications)}",
        f"drops lost (no terminal notification) {len(report.drops_lost)}; notified more than once "
        f"{len(report.drops_notified_twice)}",
        f"unexpected outcomes       {len(report.unexpected_outcomes)}",
    ]
    for title, items in (
        ("stuck", report.executions_stuck),
        ("without notification", report.executions_without_notification),
        ("several notifications", report.executions_with_several_notifications),
        ("lost", report.drops_lost),
        ("notified twice", report.drops_notified_twice),
        ("unexpected", report.unexpected_outcomes),
        ("unattributed notifications", report.unattributed_notifications),
    ):
        lines += [f"  {title}: {item}" for item in items]
    for rollback in report.rollbacks:
        notification = rollback.notification
        lines += [
            f"rolled back: {rollback.drop}: {rollback.verdict}",
            f"  notification    {notification.get('reason', '')} {json.dumps(notification.get('details', {}))}",
            f"  endpoint        {rollback.endpoint or 'not read'}",
            f"  alarms in ALARM {rollback.alarms_in_alarm or 'none'}",
            *(f"  alarm state     {line}" for line in rollback.alarm_history),
            f"  faults in run   {len(rollback.faults)}",
            *(f"    {line}" for line in rollback.faults),
            *(f"  task failed     {line}" for line in rollback.task_failures),
        ]
    lines.append("RESULT: " + ("PASS" if report.ok else "FAIL"))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.fault_soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="dataset drops (pipeline runs) to make")
    parser.add_argument("--rate", type=float, default=0.10, help="share of the pipeline's API calls to fault")
    parser.add_argument("--seed", type=int, default=7, help="seed of the fault dice")
    parser.add_argument("--burst", type=int, default=2, help="drops uploaded together (they queue on the lock)")
    parser.add_argument("--time-scale", type=float, default=0.01, help="offline clock scale")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="keep the offline cloud's logs")
    args = parser.parse_args(argv)

    def progress(drop: Drop) -> None:
        outcome = drop.terminal[0][0] if drop.terminal else "NO NOTIFICATION"
        seconds = f"{drop.settled_after:.1f}s" if drop.settled_after is not None else "-"
        print(f"  #{drop.index:03d} {drop.kind:<8} {outcome:<20} {seconds}", file=sys.stderr, flush=True)

    report = run_soak(
        runs=args.runs,
        rate=args.rate,
        seed=args.seed,
        burst=args.burst,
        time_scale=args.time_scale,
        verbose=args.verbose,
        progress=progress,
    )
    print(format_report(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(asdict(report), out, indent=2)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
