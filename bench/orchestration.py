"""Orchestration cost of one successful run: state transitions and Lambda invocations.

Two data-arrival runs on the offline cloud with the time scale and simulated job durations
(``cloud.sagemaker.job_durations``: a 1 h training and a 10 min compilation): the first creates the endpoint, the
second updates it (canary, the template's default 600 s bake). Every figure is counted from the
execution history, so it is what Step Functions would bill.

The naive figure is modelled explicitly from the same run's job durations: a hand-rolled loop that
checks the job every 60 s until it is done. In Step Functions that is three transitions per minute
(``Wait 60`` -> a status-check Lambda -> ``Choice``) and one Lambda invocation per minute; the
business states (preprocess, gate, register, create, record, notify) cost the same on both sides.
A scheduled orchestrator Lambda (``rate(1 minute)``, no Step Functions) costs the same one
invocation per minute, and keeps firing 1,440 times a day when nothing runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.common import Figure, bench_main, log, quiet_offline_cloud, ratio

NAME = "orchestration"
TIME_SCALE = 0.01
POLL_SECONDS = 60  # the naive loop's interval
TARGET_TRANSITIONS = 40
TARGET_RATIO = 10.0
# A real CreateEndpoint provisions instances and pulls the image; the offline one only loads the model.
MODELLED_CREATE_SECONDS = 480

COMPILE_LOOP = ("WaitForCompilation", "DescribeCompilation", "CompilationDone", "BackOffCompilation")
DEPLOY_LOOP = (
    "WaitForDeployment",
    "DescribeEndpoint",
    "DeploymentSettled",
    "BackOffDeployment",
    "WaitForDeploymentAgain",
)
SHIFT_LOOP = ("WaitForShiftStep", "DescribeShiftEndpoint", "ShiftStepApplied", "ShiftNotApplied")
POLLING_STATES = frozenset(COMPILE_LOOP + DEPLOY_LOOP + SHIFT_LOOP)


@dataclass
class RunCost:
    path: str
    status: str
    wall_seconds: float
    states: list[str]
    lambda_in_run: int
    ingest_invocations: int
    training_seconds: float
    compilation_seconds: float
    deployment_seconds: float
    per_state: dict[str, int] = field(default_factory=dict)

    @property
    def transitions(self) -> int:
        return len(self.states)

    @property
    def lambda_invocations(self) -> int:
        return self.lambda_in_run + self.ingest_invocations

    def loop_cost(self, loop: tuple[str, ...]) -> int:
        return sum(self.per_state.get(name, 0) for name in loop)

    @property
    def polling_transitions(self) -> int:
        return sum(count for name, count in self.per_state.items() if name in POLLING_STATES)

    @property
    def fixed_transitions(self) -> int:
        return self.transitions - self.polling_transitions

    def naive(self) -> NaivePolling:
        return NaivePolling.model(
            self.training_seconds, self.compilation_seconds, self.deployment_seconds, self.fixed_transitions, self
        )


@dataclass
class NaivePolling:
    """A hand-rolled orchestrator that checks each job every 60 s until it is done."""

    laps: int
    transitions: int
    polling_transitions: int
    lambda_invocations: int

    @classmethod
    def model(
        cls, training: float, compilation: float, deployment: float, fixed_transitions: int, run: RunCost
    ) -> NaivePolling:
        laps = sum(max(1, math.ceil(seconds / POLL_SECONDS)) for seconds in (training, compilation, deployment))
        # Each lap: Wait 60 s, a Task invoking the status-check Lambda, a Choice.
        polling = 3 * laps
        return cls(
            laps=laps,
            transitions=fixed_transitions + polling,
            polling_transitions=polling,
            lambda_invocations=run.lambda_in_run + run.ingest_invocations + laps,
        )


def loop_polls(duration: float, waits: list[int]) -> int:
    """How many Describe calls a Wait/Describe/Choice loop makes before it sees a job of ``duration`` done."""
    elapsed, polls = 0.0, 0
    for wait in waits:
        elapsed += wait
        polls += 1
        if elapsed >= duration:
            return polls
    return polls


def deploy_loop_transitions(polls: int) -> int:
    # WaitForDeployment, then per poll DescribeEndpoint + DeploymentSettled, and between polls
    # BackOffDeployment + WaitForDeploymentAgain.
    return 1 + 2 * polls + 2 * (polls - 1)


def _history_seconds(event: dict[str, Any]) -> float:
    return float(event["timestamp"].timestamp())


def _measure_run(cloud: Any, index: int, ingest_before: int, started: float, timeout: float) -> RunCost:
    import time

    runs = cloud.wait_for_executions(index, timeout=timeout)
    run = runs[-1]
    wall = time.monotonic() - started
    arn = run["executionArn"]
    history = cloud.history(arn)
    states = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    lambdas = sum(
        1
        for e in history
        if e["type"] == "LambdaFunctionScheduled"
        or (e["type"] == "TaskScheduled" and e.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda")
    )
    ingest = next(fn for fn in cloud.lambdas.functions() if "IngestFunction" in fn.name)
    sagemaker = cloud.client("sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=run["name"])
    training = (job["TrainingEndTime"] - job["CreationTime"]).total_seconds() / TIME_SCALE
    try:
        compile_job = sagemaker.describe_compilation_job(CompilationJobName=f"{run['name']}-neo")
        compilation = (compile_job["CompilationEndTime"] - compile_job["CreationTime"]).total_seconds() / TIME_SCALE
    except Exception:  # no compilation (a rejected run): nothing to poll
        compilation = 0.0
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))
    deploy_started = None
    entered: str | None = None
    for event in history:
        if "stateEnteredEventDetails" in event:
            entered = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "TaskStateExited" and entered in ("CreateEndpoint", "UpdateEndpoint"):
            deploy_started = _history_seconds(event)
    deployment = (
        max(0.0, endpoint["LastModifiedTime"].timestamp() - deploy_started) / TIME_SCALE if deploy_started else 0.0
    )
    path = "update" if "UpdateEndpoint" in states else "create"
    return RunCost(
        path=path,
        status=run["status"],
        wall_seconds=wall,
        states=states,
        lambda_in_run=lambdas,
        ingest_invocations=ingest.invocations - ingest_before,
        training_seconds=training,
        compilation_seconds=compilation,
        deployment_seconds=deployment,
        per_state=dict(Counter(states)),
    )


def measure(training_seconds: float, compilation_seconds: float, bake_seconds: int, runs: int = 2) -> list[RunCost]:
    import time

    from localcloud.cloud import OfflineCloud
    from localcloud.datasets import breast_cancer_csv

    quiet_offline_cloud()
    cloud = OfflineCloud(
        time_scale=TIME_SCALE, use_sam_build=False, parameters={"BakeTimeSeconds": str(bake_seconds)}
    ).start()
    costs: list[RunCost] = []
    try:
        cloud.sagemaker.job_durations.training_seconds = training_seconds
        cloud.sagemaker.job_durations.compilation_seconds = compilation_seconds
        ingest = next(fn for fn in cloud.lambdas.functions() if "IngestFunction" in fn.name)
        # Expected real time: the simulated durations scaled, plus the rollout's bakes, plus local work.
        timeout = 120 + (training_seconds + compilation_seconds + 4 * bake_seconds) * TIME_SCALE * 2
        for index in range(1, runs + 1):
            before = ingest.invocations
            started = time.monotonic()
            # The same data twice: a tie passes the gate, so the second run updates the endpoint.
            cloud.upload(f"incoming/orchestration-{index}.csv", breast_cancer_csv())
            cost = _measure_run(cloud, index, before, started, timeout)
            log(f"{NAME}: {cost.path} run {cost.status}: {cost.transitions} transitions in {cost.wall_seconds:.1f} s")
            costs.append(cost)
    finally:
        cloud.stop()
    return costs


def breakdown(cost: RunCost) -> str:
    compile_cost = cost.loop_cost(COMPILE_LOOP)
    deploy_cost = cost.loop_cost(DEPLOY_LOOP)
    laps = ", ".join(f"{name} x{count}" for name, count in cost.per_state.items() if count > 1)
    return (
        f"{cost.path} path: {cost.transitions} transitions = {cost.fixed_transitions} one-off states + "
        f"{compile_cost} in the compilation loop ({cost.per_state.get('DescribeCompilation', 0)} polls of a "
        f"{cost.compilation_seconds:.0f} s job) + {deploy_cost} in the deployment loop "
        f"({cost.per_state.get('DescribeEndpoint', 0)} polls of a {cost.deployment_seconds:.0f} s rollout); "
        f"repeated states: {laps or 'none'}"
    )


def modelled_create(cost: RunCost) -> tuple[int, int]:
    """The create path if CreateEndpoint took MODELLED_CREATE_SECONDS, as it does on AWS (5-10 min)."""
    from conveyor_core.release.polling import CREATE_BUDGET_SECONDS, CREATE_FIRST_POLL_SECONDS, poll_schedule

    polls = loop_polls(MODELLED_CREATE_SECONDS, poll_schedule(CREATE_BUDGET_SECONDS, CREATE_FIRST_POLL_SECONDS))
    conveyor = cost.transitions - cost.loop_cost(DEPLOY_LOOP) + deploy_loop_transitions(polls)
    naive = NaivePolling.model(
        cost.training_seconds, cost.compilation_seconds, MODELLED_CREATE_SECONDS, cost.fixed_transitions, cost
    )
    return conveyor, naive.transitions


def run(smoke: bool = False) -> list[Figure]:
    """Orchestration cost (transitions, Lambda invocations) of a create run and an update run."""
    # Smoke mode: the create run only, with short jobs (local work then dominates their durations).
    training, compilation, bake = (120.0, 60.0, 30) if smoke else (3600.0, 600.0, 600)
    costs = measure(training, compilation, bake, runs=1 if smoke else 2)
    figures: list[Figure] = []
    for cost in costs:
        naive = cost.naive()
        label = (
            f"{cost.path} path ({cost.training_seconds / 60:.0f} min training, "
            f"{cost.compilation_seconds / 60:.1f} min compile, {cost.deployment_seconds / 60:.1f} min rollout)"
        )
        details = {
            "status": cost.status,
            "per_state": cost.per_state,
            "breakdown": breakdown(cost),
            "simulated_seconds": {
                "training": round(cost.training_seconds),
                "compilation": round(cost.compilation_seconds),
                "deployment": round(cost.deployment_seconds),
            },
            "naive_laps": naive.laps,
            "naive_scheduled_lambda_invocations": naive.laps,
        }
        if cost.status != "SUCCEEDED":
            details["warning"] = f"the run ended {cost.status}; its counts are not the successful path's"
        fold = ratio(naive.transitions, cost.transitions)
        simulated_minutes = (cost.training_seconds + cost.compilation_seconds + cost.deployment_seconds) / 60
        figures += [
            Figure(
                NAME,
                f"state transitions, {label}",
                cost.transitions,
                "transitions",
                naive=naive.transitions,
                naive_label="Step Functions loop polling every 60 s",
                target=f"≤ {TARGET_TRANSITIONS}",
                met=cost.transitions <= TARGET_TRANSITIONS and cost.status == "SUCCEEDED",
                kind="count",
                details=details,
            ),
            Figure(
                NAME,
                f"fewer transitions than 60 s polling, {cost.path} path",
                fold,
                "x",
                target=f"≥ {TARGET_RATIO:g}x",
                met=fold is not None and fold >= TARGET_RATIO,
                kind="count",
                note=f"{naive.transitions} vs {cost.transitions}",
            ),
            Figure(
                NAME,
                f"polling transitions (wait loops only), {cost.path} path",
                cost.polling_transitions,
                "transitions",
                naive=naive.polling_transitions,
                naive_label=f"{naive.laps} laps x 3",
                target=f"≥ {TARGET_RATIO:g}x fewer",
                met=cost.polling_transitions * TARGET_RATIO <= naive.polling_transitions,
                kind="count",
            ),
            Figure(
                NAME,
                f"Lambda invocations (ingest + in-run), {cost.path} path",
                cost.lambda_invocations,
                "invocations",
                naive=naive.lambda_invocations,
                naive_label="status-check Lambda every 60 s",
                target=f"≥ {TARGET_RATIO:g}x fewer",
                met=cost.lambda_invocations * TARGET_RATIO <= naive.lambda_invocations,
                kind="count",
            ),
            Figure(
                NAME,
                f"wall time of the {cost.path} run (time scale {TIME_SCALE})",
                cost.wall_seconds,
                "s",
                target="—",
                kind="timing",
                note=f"stands for {simulated_minutes:.0f} simulated min of jobs",
            ),
        ]
    create = next((cost for cost in costs if cost.path == "create"), None)
    if create is not None:
        conveyor, naive_transitions = modelled_create(create)
        figures.append(
            Figure(
                NAME,
                f"state transitions, create path with a {MODELLED_CREATE_SECONDS // 60} min CreateEndpoint (modelled)",
                conveyor,
                "transitions",
                naive=naive_transitions,
                naive_label="Step Functions loop polling every 60 s",
                target=f"≤ {TARGET_TRANSITIONS}",
                met=conveyor <= TARGET_TRANSITIONS,
                kind="count",
                note="PlanDeployment's create poll schedule applied to a real endpoint creation time",
            )
        )
    for cost in costs:
        log(f"{NAME}: {breakdown(cost)}")
    return figures


def main() -> int:
    return bench_main(NAME, run)


if __name__ == "__main__":
    raise SystemExit(main())
