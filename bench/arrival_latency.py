"""Data arrival -> CreateTrainingJob: how long after an S3 put the training job is requested.

Measured on the offline cloud (in-process moto, time scale 0.001) from each execution's history:
the put's wall-clock time against the Train state's ``TaskScheduled`` event (the moment Step
Functions calls ``CreateTrainingJob``). The path in between is the real one: S3 -> EventBridge rule
-> IngestFunction (validate, idempotency, model lock, StartExecution) -> Preprocess Lambda -> two
Choice states -> Train.

Drops on one model are serialized by the lock, so a run ends before the next starts. To keep 200
runs affordable the training call is made to fail (``cloud.faults.fail_api`` throttles
``CreateTrainingJob``): the run then exhausts the Train state's retries (scaled back-offs), is
caught and finalizes (releasing the lock) in about a second. Everything up to the measured moment
is unchanged. One last drop without the fault checks the figure against ``DescribeTrainingJob``'s
``CreationTime``.

* unqueued: one drop at a time, each after the previous run ended (no queueing);
* queued: a burst of drops put back to back; each waits for the runs ahead of it. The Conveyor
  part of that wait is the hand-over (previous run's FinalizeRun -> next StartExecution);
* the ingest handler's own time: warm ``REPORT Duration`` lines of the unqueued drops, against a
  bare handler that only calls StartExecution (no validation, idempotency or lock).

The naive arrival path is a scheduled poller that lists ``incoming/`` every 60 s (modelled: a drop
waits 30 s on average, 57 s at p95, before anything starts).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from bench.common import Figure, bench_main, log, percentile, quiet_offline_cloud, wait_until

NAME = "arrival_latency"
TIME_SCALE = 0.001
POLL_SECONDS = 60.0
# The admitting path (two AWS calls) against a handler that makes one, StartExecution.
TARGET_INGEST_BARE_RATIO = 3.0
_DURATION = re.compile(r"REPORT RequestId: \S+ Duration: ([\d.]+) ms")


@dataclass
class Drop:
    """One drop's moments, in epoch seconds.

    ``accepted_at`` is the execution's ``startDate`` (StartExecution accepted it); ``started_at`` is
    its first history event. In between, the offline interpreter parses the ASL (ANTLR, pure
    Python, about a second on a busy 2-core machine), which Step Functions does not do per run.
    """

    key: str
    put_at: float
    accepted_at: float | None = None
    started_at: float | None = None
    train_requested_at: float | None = None
    finalize_at: float | None = None
    stopped_at: float | None = None

    @property
    def complete(self) -> bool:
        return None not in (self.accepted_at, self.started_at, self.train_requested_at)

    @property
    def latency_ms(self) -> float:
        assert self.train_requested_at is not None
        return (self.train_requested_at - self.put_at) * 1000

    @property
    def interpreter_ms(self) -> float:
        assert self.started_at is not None
        assert self.accepted_at is not None
        return max(0.0, self.started_at - self.accepted_at) * 1000

    @property
    def net_latency_ms(self) -> float:
        """The latency without the offline interpreter's per-execution start-up."""
        return self.latency_ms - self.interpreter_ms

    @property
    def ingest_ms(self) -> float:
        assert self.accepted_at is not None
        return (self.accepted_at - self.put_at) * 1000

    @property
    def in_run_ms(self) -> float:
        assert self.started_at is not None
        assert self.train_requested_at is not None
        return (self.train_requested_at - self.started_at) * 1000


def _dataset() -> bytes:
    from localcloud.datasets import breast_cancer_csv

    return breast_cancer_csv(rows=60)


def _read_history(cloud: Any, execution: dict[str, Any]) -> dict[str, Any]:
    history = cloud.history(execution["executionArn"])
    started = history[0]
    document = json.loads(started["executionStartedEventDetails"]["input"])
    found: dict[str, Any] = {"key": document["dataset"]["keys"][0], "started": started["timestamp"].timestamp()}
    state = None
    for event in history:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
            if state == "FinalizeRun":
                found.setdefault("finalize", event["timestamp"].timestamp())
        if event["type"] == "TaskScheduled" and state == "Train":
            found.setdefault("train", event["timestamp"].timestamp())
    found["accepted"] = execution["startDate"].timestamp()
    found["stopped"] = execution["stopDate"].timestamp() if execution.get("stopDate") else None
    return found


def _fill(cloud: Any, drops: dict[str, Drop]) -> None:
    for execution in cloud.executions():
        found = _read_history(cloud, execution)
        drop = drops.get(found["key"])
        if drop is not None:
            drop.accepted_at = found["accepted"]
            drop.started_at = found["started"]
            drop.train_requested_at = found.get("train")
            drop.finalize_at = found.get("finalize")
            drop.stopped_at = found["stopped"]


def _warm_durations(log_entries: list[str]) -> list[float]:
    durations = []
    for entry in log_entries:
        if "Init Duration" in entry:
            continue  # a cold start
        match = _DURATION.search(entry)
        if match:
            durations.append(float(match.group(1)))
    return durations


def _naive_handler_ms(cloud: Any, calls: int) -> list[float]:
    """A hand-written ingest: parse the event, StartExecution with a fresh name. Nothing else."""
    import uuid

    sfn = cloud.client("stepfunctions")
    iam_role = f"arn:aws:iam::123456789012:role/{cloud.stack_name}-naive"
    machine = sfn.create_state_machine(
        name="naive-ingest-target",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=iam_role,
    )["stateMachineArn"]
    event = {"detail": {"bucket": {"name": "data"}, "object": {"key": "incoming/x.csv", "size": 10}}}

    def handler(payload: dict[str, Any]) -> str:
        detail = payload["detail"]
        document = {"bucket": detail["bucket"]["name"], "key": detail["object"]["key"]}
        response = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps(document))
        return str(response["executionArn"])

    handler(event)  # warm the client
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        handler(event)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure(unqueued: int, queued: int) -> dict[str, Any]:
    quiet_offline_cloud()
    from localcloud.cloud import OfflineCloud

    cloud = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False, run_schedules=False).start()
    body = _dataset()
    results: dict[str, Any] = {}
    try:
        ingest = next(fn for fn in cloud.lambdas.functions() if "IngestFunction" in fn.name)
        cloud.faults.fail_api("sagemaker", "CreateTrainingJob", kind="throttle")
        count = 0

        sfn = cloud.client("stepfunctions")

        def one_at_a_time(prefix: str, drops: int) -> dict[str, Drop]:
            # Light polling: listing hundreds of executions many times a second would starve the runs.
            nonlocal count
            placed: dict[str, Drop] = {}
            for index in range(drops):
                key = f"incoming/{prefix}-{index:04d}.csv"
                placed[key] = Drop(key, time.time())
                cloud.upload(key, body)
                count += 1
                expected = count

                def started(expected: int = expected) -> bool:
                    return len(cloud.executions()) >= expected

                wait_until(started, timeout=60, interval=0.01, what=key)
                arn = str(cloud.executions()[-1]["executionArn"])

                def finished(arn: str = arn) -> bool:
                    return bool(sfn.describe_execution(executionArn=arn)["status"] != "RUNNING")

                wait_until(finished, timeout=120, interval=0.01, what=f"the run of {key}")
                # The run's end still has a tail: its status-change event reaches WatchRunsFunction.
                # Let it finish, so each drop is measured alone on this machine's cores.
                cloud.deliveries.wait_idle(timeout=60)
            return placed

        one_at_a_time("warmup", 1)  # cold starts of every function, excluded
        log(f"{NAME}: {unqueued} drops one at a time")
        started = time.monotonic()
        sequential = one_at_a_time("unqueued", unqueued)
        results["unqueued_wall"] = time.monotonic() - started
        results["ingest_ms"] = _warm_durations(ingest.log[-unqueued:])

        log(f"{NAME}: {queued} drops back to back")
        started = time.monotonic()
        burst: dict[str, Drop] = {}
        for index in range(queued):
            key = f"incoming/queued-{index:04d}.csv"
            burst[key] = Drop(key, time.time())
            cloud.upload(key, body)
        count += queued

        def all_done() -> bool:
            runs = cloud.executions()
            return len(runs) >= count and all(run["status"] != "RUNNING" for run in runs)

        try:
            wait_until(all_done, timeout=60 + 5 * queued, interval=0.5, what="the queued runs")
            cloud.wait_for_executions(count, timeout=60)
        except TimeoutError:
            # Report what finished, and what did not, rather than lose every figure.
            runs = cloud.executions()
            stuck = [run for run in runs if run["status"] == "RUNNING"]
            results["stalled"] = {
                "expected_executions": count,
                "executions": len(runs),
                "running": [(run["name"], cloud.states_entered(run["executionArn"])[-1:]) for run in stuck[:5]],
            }
            log(f"{NAME}: the queued runs did not all finish: {results['stalled']}")
        results["queued_wall"] = time.monotonic() - started

        _fill(cloud, sequential)
        _fill(cloud, burst)
        results["unqueued"] = list(sequential.values())
        results["queued"] = sorted(burst.values(), key=lambda drop: drop.started_at or 0.0)
        results["failed_runs_as_designed"] = sum(1 for run in cloud.executions() if run["status"] == "FAILED")

        # One drop with real training: the TaskScheduled figure against the job's own CreationTime.
        cloud.faults.clear()
        key = "incoming/real-training.csv"
        put_at = time.time()
        cloud.upload(key, body)
        sagemaker, sfn = cloud.client("sagemaker"), cloud.client("stepfunctions")

        def training_job() -> dict[str, Any] | None:
            jobs = sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]
            return jobs[0] if jobs else None

        deadline = time.monotonic() + 60
        while training_job() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        job = training_job()
        if job is not None:
            created = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])["CreationTime"]
            execution = next(e for e in cloud.executions() if e["name"] == job["TrainingJobName"])
            found = _read_history(cloud, execution)
            results["real"] = {
                "put_to_creation_ms": (created.timestamp() - put_at) * 1000,
                "task_scheduled_to_creation_ms": (created.timestamp() - found.get("train", created.timestamp())) * 1000,
            }
            # Its result does not matter here: stop it rather than wait for training and deployment.
            sfn.stop_execution(executionArn=execution["executionArn"])
        results["naive_ingest_ms"] = _naive_handler_ms(cloud, max(20, unqueued))
    finally:
        cloud.faults.clear()
        cloud.stop()
    return results


def _p(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def run(smoke: bool = False, drops: int | None = None, queued_drops: int | None = None) -> list[Figure]:
    """S3 put -> CreateTrainingJob latency (unqueued and queued) and the ingest handler's own time."""
    # 30 isolated drops (the p95 is the second slowest) and 15 queued ones keep `make bench` within its
    # 10 minutes (they were 100 and 30 until issue 19, then 40 and 15).
    unqueued = drops or (3 if smoke else 30)
    # The queue's figures grow with its length by construction; 15 show the hand-over as well as 100.
    queued = queued_drops or drops or (3 if smoke else 15)
    results = measure(unqueued, queued)
    sequential: list[Drop] = [d for d in results["unqueued"] if d.complete]
    burst: list[Drop] = [d for d in results["queued"] if d.complete]
    latencies = [drop.latency_ms for drop in sequential]
    net = [drop.net_latency_ms for drop in sequential]
    queued_latencies = [drop.latency_ms for drop in burst]
    queued_net = [drop.net_latency_ms for drop in burst]
    handovers = [
        ((later.accepted_at or 0.0) - (earlier.finalize_at or 0.0)) * 1000
        for earlier, later in itertools.pairwise(burst)
        if earlier.finalize_at and later.accepted_at
    ]
    service = [((drop.stopped_at or 0.0) - (drop.accepted_at or 0.0)) * 1000 for drop in burst if drop.stopped_at]
    ingest = results["ingest_ms"]
    naive_ingest = results["naive_ingest_ms"]
    naive_p50, naive_p95 = POLL_SECONDS / 2 * 1000, POLL_SECONDS * 0.95 * 1000
    poller = "cron lists incoming/ every 60 s (modelled)"
    parse_note = "offline interpreter (ASL parsed once per definition, cached)"
    figures = [
        Figure(
            NAME,
            f"S3 put → CreateTrainingJob call, no queue, p50 of {len(latencies)} drops",
            _p(net, 50),
            "ms",
            naive=naive_p50,
            naive_label=poller,
            note=f"{_p(latencies, 50) or 0:,.0f} ms with the offline interpreter's start-up",
            details={
                "with_offline_interpreter_p50_ms": _p(latencies, 50),
                "with_offline_interpreter_p95_ms": _p(latencies, 95),
                "put_to_start_execution_accepted_p50_ms": _p([d.ingest_ms for d in sequential], 50),
                "put_to_start_execution_accepted_p95_ms": _p([d.ingest_ms for d in sequential], 95),
                "offline_interpreter_startup_p50_ms": _p([d.interpreter_ms for d in sequential], 50),
                "first_event_to_train_call_p50_ms": _p([d.in_run_ms for d in sequential], 50),
                "first_event_to_train_call_p95_ms": _p([d.in_run_ms for d in sequential], 95),
                "max_net_ms": max(net) if net else None,
                "wall_seconds": round(results["unqueued_wall"], 1),
            },
        ),
        Figure(
            NAME,
            f"S3 put → CreateTrainingJob call, no queue, p95 of {len(latencies)} drops",
            _p(net, 95),
            "ms",
            naive=naive_p95,
            naive_label=poller,
            note=f"{_p(latencies, 95) or 0:,.0f} ms with the offline interpreter's start-up",
        ),
        Figure(
            NAME,
            "  of which S3 put → StartExecution accepted (EventBridge + ingest), p50",
            _p([d.ingest_ms for d in sequential], 50),
            "ms",
            details={"p95_ms": _p([d.ingest_ms for d in sequential], 95)},
        ),
        Figure(
            NAME,
            "  of which Preprocess + Choices → Train call (first event → TaskScheduled), p50",
            _p([d.in_run_ms for d in sequential], 50),
            "ms",
            details={"p95_ms": _p([d.in_run_ms for d in sequential], 95)},
        ),
        Figure(
            NAME,
            f"S3 put → CreateTrainingJob call, {len(queued_latencies)} drops back to back (queued), p50",
            _p(queued_latencies, 50),
            "ms",
            naive_label="no lock: concurrent runs race for the endpoint",
            note=(
                f"{parse_note}; grows with the runs ahead, each failing fast after the call here"
                + (f"; {queued - len(burst)} drop(s) never reached the call" if len(burst) < queued else "")
            ),
            details={
                "p95_ms": _p(queued_latencies, 95),
                "max_ms": max(queued_latencies) if queued_latencies else None,
                "net_of_offline_interpreter_p50_ms": _p(queued_net, 50),
                "run_service_time_p50_ms": _p(service, 50),
                "wall_seconds": round(results["queued_wall"], 1),
                "stalled": results.get("stalled"),
            },
        ),
        Figure(
            NAME,
            f"S3 put → CreateTrainingJob call, {len(queued_latencies)} drops back to back (queued), p95",
            _p(queued_latencies, 95),
            "ms",
            naive_label="no lock: concurrent runs race for the endpoint",
            note=parse_note,
        ),
        Figure(
            NAME,
            "hand-over to the next queued drop (FinalizeRun → StartExecution accepted), p95",
            _p(handovers, 95),
            "ms",
            details={"p50_ms": _p(handovers, 50), "samples": len(handovers)},
        ),
        Figure(
            NAME,
            f"ingest handler warm Duration, p50 of {len(ingest)}",
            _p(ingest, 50),
            "ms",
            naive=_p(naive_ingest, 50),
            naive_label="bare StartExecution handler",
        ),
        Figure(
            NAME,
            f"ingest handler warm Duration, p95 of {len(ingest)}",
            _p(ingest, 95),
            "ms",
            naive=_p(naive_ingest, 95),
            naive_label="bare StartExecution handler",
            target=f"≤ {TARGET_INGEST_BARE_RATIO:g}x the bare handler's p95 in the same run",
            met=bool(ingest and naive_ingest)
            and percentile(ingest, 95) <= TARGET_INGEST_BARE_RATIO * percentile(naive_ingest, 95),
            note=f"{percentile(ingest, 95) / percentile(naive_ingest, 95):.2f}x the bare handler"
            if ingest and naive_ingest
            else "",
        ),
    ]
    real = results.get("real")
    figures.append(
        Figure(
            NAME,
            "check with real training: S3 put → DescribeTrainingJob CreationTime (1 drop)",
            real["put_to_creation_ms"] if real else None,
            "ms",
            note=(
                f"{parse_note}; CreationTime is {real['task_scheduled_to_creation_ms']:.1f} ms after TaskScheduled"
                if real
                else "no training job appeared"
            ),
        )
    )
    return figures


def _arguments(parser: Any) -> None:
    parser.add_argument("--drops", type=int, help="drops per phase (default 30 unqueued and 15 queued, smoke 3)")
    parser.add_argument("--queued-drops", type=int, help="drops put back to back (default 15)")


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
