"""`make demo` (`conveyor demo`): Conveyor's whole loop on the offline cloud, in eight steps, shown live.

1. A dataset lands: the model is trained, gated, registered, compiled and deployed to a new
   endpoint, which then serves real predictions.
2. A better dataset lands: a canary rollout bakes under the alarms and is promoted.
3. A worse dataset lands: the quality gate rejects its model.
4. A larger dataset lands in parts: over ProcessingThresholdBytes, so a SageMaker Processing job on
   two instances validates and splits it and two instances train it (distributed XGBoost). Its
   model goes live and starts failing (an injected fault): its 5XX alarm is evaluated from the
   endpoint's real metrics, fires, and the alarm rollback puts the last good model back.
5. The retraining schedule fires on the runtime's clock and skips: no new data has arrived.
6. Production traffic drifts: the hourly monitor measures it, its alarm fires, a notification names
   the drifting features.
7. A second stack, the pytorch family: a network trained, compiled by Neo for ml_g4dn and served.
8. A third stack releases by bandit: a simulated client converts better on the candidate; Thompson
   sampling moves traffic to it each evaluation until the candidate wins and serves alone.

Traffic runs against the endpoint the whole time, so the alarms see real invocations. Every SNS
notification is printed as it arrives.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from conveyor_core.release import history
from localcloud.cloud import ACCOUNT_ID, Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.experiment_client import SimulatedClient

DEMO_PARAMETERS = {
    "BakeTimeSeconds": "200",
    "CanaryPercent": "20",
    "RetrainSchedule": "rate(1 day)",
    # Every request captured, and a monitor that judges from 400 rows: the demo's traffic is small.
    "DataCapturePercent": "100",
    "DriftMinRows": "400",
    # Step 4's drop (about 230 KiB in four parts) is over this; the single-file drops (117 KiB) are not.
    "ProcessingThresholdBytes": "204800",
    "TrainingInstanceCount": "2",
}
# Step 4's drop: the parts of a folder, completed by its _SUCCESS marker.
LARGE_DROP_FOLDER = "incoming/patients-2026-11-22/"
LARGE_DROP_PARTS = 4
# Step 6's shift: the first and third features of every request scaled by this.
DRIFT_SCALE = 1.6
DRIFTED_FEATURES = (0, 2)
# Step 6's stack: the pytorch family, compiled by Neo for the GPU instance that serves it.
DEEP_PARAMETERS = {
    "ModelFamily": "pytorch",
    "EndpointInstanceType": "ml.g4dn.xlarge",
    "Hyperparameters": json.dumps({"objective": "binary:logistic", "epochs": "15", "eval_metric": "auc"}),
    # The latency alarm's threshold, which is also the target advisor's objective: 50 ms per request.
    "MaxP99LatencyMicroseconds": "50000",
}
# Step 8's stack: a bandit between the production model and the candidate, evaluated every 10
# simulated minutes (3 s here) on the outcomes of a simulated client.
BANDIT_PARAMETERS = {
    "DeploymentStrategy": "bandit",
    "DataCapturePercent": "100",
    "ExperimentIntervalSeconds": "600",
    "AbMaxDurationSeconds": "86400",
    "AbMinimumEffect": "0.1",
    "AbMinSamples": "60",
    "BanditFloorPercent": "20",
}
# The simulated client's true conversion rate per variant: the candidate converts better.
BANDIT_CONVERSION = {"primary": 0.10, "candidate": 0.25}
# Neo is first polled after 7 simulated minutes and a new endpoint after 7: 2.1 s each here.
TIME_SCALE = 0.005
FAULTY_ERROR_RATE = 0.4
_TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_COLOURS = {"info": "green", "warning": "yellow", "error": "red"}


@dataclass
class StepResult:
    title: str
    outcome: str
    transitions: int
    seconds: float
    requests: int
    errors_5xx: int


@dataclass
class DemoReport:
    steps: list[StepResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    endpoint: dict[str, Any] = field(default_factory=dict)
    good_config: str = ""
    faulty_config: str = ""
    served: list[str] = field(default_factory=list)
    advice: str = ""
    drift: dict[str, Any] = field(default_factory=dict)
    # Step 4: the instances its Processing job and its training job ran on.
    large_drop: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Traffic:
    """Steady requests against the endpoint, so its metrics and alarms have something to see."""

    def __init__(self, cloud: OfflineCloud, requests_per_second: float = 40.0) -> None:
        self._cloud = cloud
        self._interval = 1.0 / requests_per_second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        lines = breast_cancer_csv().decode().splitlines()
        self._rows = [line.split(",", 1)[1] for line in lines]
        self._random = random.Random(11)
        self.sent = 0
        self.errors = 0
        self.scale = 1.0  # step 6 shifts DRIFTED_FEATURES by DRIFT_SCALE

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def row(self) -> str:
        row = self._random.choice(self._rows)
        if self.scale == 1.0:
            return row
        cells = row.split(",")
        for index in DRIFTED_FEATURES:
            cells[index] = f"{float(cells[index]) * self.scale:.6g}"
        return ",".join(cells)

    def _run(self) -> None:
        client = self._cloud.client("sagemaker-runtime")
        endpoint = self._cloud.output("EndpointName")
        while not self._stop.wait(self._interval):
            try:
                client.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=self.row())
                self.sent += 1
            except client.exceptions.ModelError:
                self.sent += 1
                self.errors += 1
            except client.exceptions.ValidationError:
                pass  # no endpoint yet: nothing is serving before step 1 deploys


class Story:
    def __init__(self, cloud: OfflineCloud, console: Console) -> None:
        self.cloud = cloud
        self.console = console
        self.report = DemoReport()
        self.traffic = Traffic(cloud)
        self._shown_notes = 0
        self._started = time.monotonic()

    # ---------------------------------------------------------------- display
    def _show_new_notifications(self) -> list[Notification]:
        notes = self.cloud.notifications()
        fresh = notes[self._shown_notes :]
        for note in fresh:
            colour = _COLOURS.get(note.attributes.get("severity", ""), "white")
            self.console.print(f"    [{colour}]SNS[/] {note.subject}")
            reason = str(note.body.get("reason", ""))
            if reason:
                self.console.print(f"        {reason[:150]}", style="dim")
        self._shown_notes = len(notes)
        self.report.notifications = notes
        return fresh

    def _follow(self, arn: str, since: float) -> int:
        """Print each state the first time the execution enters it; returns the number of states entered.

        Polling loops (Wait/Describe/Choice) are summarised at the end instead of printed each lap.
        """
        sfn = self.cloud.client("stepfunctions")
        shown = 0
        laps: dict[str, int] = {}
        while True:
            status = sfn.describe_execution(executionArn=arn)["status"]
            states = self.cloud.states_entered(arn)
            for name in states[shown:]:
                laps[name] = laps.get(name, 0) + 1
                if laps[name] == 1:
                    self.console.print(f"    [dim]{time.monotonic() - since:5.1f}s[/] {name}")
            shown = len(states)
            self._show_new_notifications()
            if status in _TERMINAL:
                loops = ", ".join(f"{name} x{count}" for name, count in laps.items() if count > 1)
                self.console.print(f"    execution {status}: {shown} states" + (f" (polled: {loops})" if loops else ""))
                return shown
            time.sleep(0.1)

    def _wait_for(self, describe: Callable[[], list[dict[str, Any]]], count: int, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = describe()
            if len(runs) >= count:
                return str(runs[count - 1]["executionArn"])
            self._show_new_notifications()
            time.sleep(0.05)
        raise TimeoutError(f"no execution #{count} after {timeout}s")

    def _wait_for_note(self, event: str, after: int, timeout: float = 60) -> Notification:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._show_new_notifications()
            match = [n for n in self.report.notifications[after:] if n.event == event]
            if match:
                return match[0]
            time.sleep(0.05)
        raise TimeoutError(f"no {event} notification after {timeout}s")

    def _endpoint(self) -> dict[str, Any]:
        sagemaker = self.cloud.client("sagemaker")
        endpoint: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=self.cloud.output("EndpointName"))
        return endpoint

    def _model_of(self, config_name: str) -> str:
        config = self.cloud.client("sagemaker").describe_endpoint_config(EndpointConfigName=config_name)
        return str(config["ProductionVariants"][0]["ModelName"])

    def _step(self, title: str, body: Callable[[float], tuple[str, int]]) -> None:
        self.console.rule(f"[bold]{title}")
        started = time.monotonic()
        sent, errors = self.traffic.sent, self.traffic.errors
        outcome, transitions = body(started)
        self.report.steps.append(
            StepResult(
                title,
                outcome,
                transitions,
                time.monotonic() - started,
                self.traffic.sent - sent,
                self.traffic.errors - errors,
            )
        )

    # ---------------------------------------------------------------- steps
    def _data_run(self, key: str, body: bytes, started: float, parts: int = 1) -> tuple[str, int]:
        """Upload a drop and follow its run: one object, or ``parts`` parts of a folder and its marker."""
        count = len(self.cloud.executions()) + 1
        notes_before = len(self.report.notifications)
        where = f"s3://{self.cloud.output('DataBucketName')}/{key}"
        if parts == 1:
            self.console.print(f"  upload {where} ({len(body) / 1024:.0f} KiB)")
            self.cloud.upload(key, body)
        else:
            self.console.print(f"  upload {where} in {parts} parts ({len(body) / 1024:.0f} KiB), then _SUCCESS")
            lines = body.splitlines(keepends=True)
            size = -(-len(lines) // parts)
            for number, start in enumerate(range(0, len(lines), size)):
                self.cloud.upload(f"{key}part-{number:04d}.csv", b"".join(lines[start : start + size]))
            self.cloud.upload(f"{key}_SUCCESS", b"")
        arn = self._wait_for(self.cloud.executions, count)
        transitions = self._follow(arn, started)
        outcome = next(
            (n.event for n in self.report.notifications[notes_before:] if n.event != "compile.fallback"), "none"
        )
        return outcome, transitions

    def first_model(self, started: float) -> tuple[str, int]:
        drop = breast_cancer_csv(label_noise=0.12, seed=1)
        outcome = self._data_run("incoming/patients-2026-11-01.csv", drop, started)
        rows = breast_cancer_csv(rows=5, seed=42).decode().splitlines()
        features = "\n".join(row.split(",", 1)[1] for row in rows)
        predictions, variant = self.cloud.invoke_endpoint(features)
        self.report.served = predictions.splitlines()
        self.console.print(f"  InvokeEndpoint (5 rows) answered by variant [bold]{variant}[/]:")
        for row, prediction in zip(rows, self.report.served, strict=True):
            label = "benign" if row.split(",", 1)[0] == "1" else "malignant"
            self.console.print(f"    true label {label:9} → P(benign) = {float(prediction):.3f}")
        self.traffic.start()
        return outcome

    def better_model(self, started: float) -> tuple[str, int]:
        outcome = self._data_run("incoming/patients-2026-11-08.csv", breast_cancer_csv(seed=2), started)
        endpoint = self._endpoint()
        self.report.good_config = str(endpoint["EndpointConfigName"])
        self.console.print(f"  endpoint serves {self.report.good_config} (canary promoted)")
        return outcome

    def worse_model(self, started: float) -> tuple[str, int]:
        return self._data_run("incoming/patients-2026-11-15.csv", breast_cancer_csv(label_noise=0.3, seed=3), started)

    def _report_large_drop(self) -> None:
        run_id = self.cloud.executions()[-1]["name"]
        sagemaker = self.cloud.client("sagemaker")
        processing = sagemaker.describe_processing_job(ProcessingJobName=run_id)
        training = sagemaker.describe_training_job(TrainingJobName=run_id)
        self.report.large_drop = {
            "processing_instances": processing["ProcessingResources"]["ClusterConfig"]["InstanceCount"],
            "training_instances": training["ResourceConfig"]["InstanceCount"],
        }
        self.console.print(
            f"  over ProcessingThresholdBytes: a Processing job validated it on "
            f"{self.report.large_drop['processing_instances']} instances; training ran on "
            f"{self.report.large_drop['training_instances']} (distributed XGBoost)"
        )

    def faulty_model(self, started: float) -> tuple[str, int]:
        drop = breast_cancer_csv(seed=4) + breast_cancer_csv(seed=5)
        outcome, transitions = self._data_run(LARGE_DROP_FOLDER, drop, started, parts=LARGE_DROP_PARTS)
        self._report_large_drop()
        endpoint = self._endpoint()
        self.report.faulty_config = str(endpoint["EndpointConfigName"])
        model = self._model_of(self.report.faulty_config)
        rollbacks = len(self.cloud.rollback_executions()) + 1
        self.console.print(
            f"  {model} is live; it now fails {FAULTY_ERROR_RATE:.0%} of requests (injected fault). "
            "Waiting for its 5XX alarm ..."
        )
        self.cloud.faults.degrade_model(model, error_rate=FAULTY_ERROR_RATE)
        try:
            arn = self._wait_for(self.cloud.rollback_executions, rollbacks, timeout=120)
            self.console.print("  alarm state change → rollback state machine:")
            transitions += self._follow(arn, started)
        finally:
            self.cloud.faults.clear()
        endpoint = self._endpoint()
        self.console.print(f"  endpoint serves {endpoint['EndpointConfigName']} again")
        notes = [n.event for n in self.report.notifications if n.event.startswith(("deployment.", "rollback."))]
        return (notes[-1] if notes else outcome), transitions

    def schedule_skips(self, started: float) -> tuple[str, int]:
        after = len(self.report.notifications)
        self.console.print("  advancing the offline cloud's clock by one day; the rate(1 day) schedule fires ...")
        self.cloud.clock.advance(86_400)
        note = self._wait_for_note("retrain.skipped", after)
        return note.event, 0

    def drift_detected(self, started: float) -> tuple[str, int]:
        after = len(self.report.notifications)
        simulated = self.cloud.clock.now()
        self.traffic.scale = DRIFT_SCALE
        features = " and ".join(f"_c{i}" for i in DRIFTED_FEATURES)
        self.console.print(f"  traffic shifts: {features} of every request x{DRIFT_SCALE}; 600 rows in batches ...")
        for _ in range(6):
            self.cloud.invoke_endpoint("\n".join(self.traffic.row() for _ in range(100)) + "\n")
        self.console.print("  advancing the clock one hour; the hourly drift monitor runs ...")
        self.cloud.clock.advance(3600)
        note = self._wait_for_note("model.drift_detected", after)
        wall, simulated = time.monotonic() - started, self.cloud.clock.now() - simulated
        drifting = ", ".join(f"{f['feature']} {f['distance']:.2f}" for f in note.body["details"]["drifting_features"])
        self.console.print(f"  drifting features (distance > {note.body['details']['threshold']}): {drifting}")
        self.console.print(f"  shift to notification: {wall:.1f} s here, {simulated / 60:.0f} simulated minutes")
        self.report.drift = {"features": drifting, "wall_seconds": wall, "simulated_seconds": simulated}
        self.traffic.scale = 1.0
        return note.event, 0

    def deep_model(self, started: float) -> tuple[str, int]:
        outcome = self._data_run("incoming/patients-2026-11-29.csv", breast_cancer_csv(seed=5), started)
        endpoint = self._endpoint()
        config = self.cloud.client("sagemaker").describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        variant = config["ProductionVariants"][0]
        image = self.cloud.client("sagemaker").describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
        self.console.print(f"  serves on {variant['InstanceType']} with {image['Image'].split('/', 1)[1]}")
        runtime = self.cloud.runtime
        host = runtime.sagemaker.host(ACCOUNT_ID, self.cloud.region, endpoint["EndpointName"]) if runtime else None
        if host is not None:
            self.console.print(f"  offline: {host.blue.variants[0].model.note}")
        succeeded = [n for n in self.report.notifications if n.event == "pipeline.succeeded"]
        advice = str(succeeded[-1].body["details"]["target_advice"]) if succeeded else "no run succeeded"
        # The training job timed the model; the run's notification carries the advisor's reading of it.
        self.console.print(f"  target advice in the run's notification: {advice}")
        self.report.advice = advice
        rows = breast_cancer_csv(rows=3, seed=42).decode().splitlines()
        predictions, _variant = self.cloud.invoke_endpoint("\n".join(row.split(",", 1)[1] for row in rows))
        for row, prediction in zip(rows, predictions.splitlines(), strict=True):
            label = "benign" if row.split(",", 1)[0] == "1" else "malignant"
            self.console.print(f"    true label {label:9} → P(benign) = {float(prediction):.3f}")
        return outcome

    def bandit_test(self, started: float) -> tuple[str, int]:
        self._data_run("incoming/patients-2026-12-01.csv", breast_cancer_csv(seed=3), started)
        rows = [line.split(",", 1)[1] for line in breast_cancer_csv().decode().splitlines()]
        client = SimulatedClient(self.cloud, BANDIT_CONVERSION, rows, seed=8)
        stop = threading.Event()

        def drive() -> None:
            while not stop.wait(0.02):
                client.send(2)

        self.console.print(f"  a simulated client converts at {BANDIT_CONVERSION} (true rates, unknown to Conveyor)")
        driver = threading.Thread(target=drive, name="demo-bandit-client", daemon=True)
        driver.start()
        try:
            count = len(self.cloud.executions()) + 1
            notes_before = len(self.report.notifications)
            self.cloud.upload("incoming/patients-2026-12-02.csv", breast_cancer_csv(seed=4))
            arn = self._wait_for(self.cloud.executions, count)
            self._watch_experiment(arn)
        finally:
            stop.set()
            driver.join(timeout=5)
        outcome = next((n.event for n in self.report.notifications[notes_before:]), "none")
        return outcome, len(self.cloud.states_entered(arn))

    def _watch_experiment(self, arn: str) -> None:
        """Print each evaluation of the run's experiment as it lands, until the run ends."""
        sfn = self.cloud.client("stepfunctions")
        run_id = arn.rsplit(":", 1)[-1]
        seen = 0
        while True:
            status = sfn.describe_execution(executionArn=arn)["status"]
            record = history.experiment(
                self.cloud.client("dynamodb"), self.cloud.output("HistoryTableName"), "tabular", run_id
            )
            if record is not None and record.evaluations > seen:
                seen = int(record.evaluations)
                probability = record.probability_candidate_best
                self.console.print(
                    f"    evaluation {seen}: outcomes {record.production_n:g} production / {record.candidate_n:g} "
                    f"candidate, effect {record.effect if record.effect is not None else float('nan'):+.3f}, "
                    f"P(candidate better) {probability if probability is not None else float('nan'):.3f}, "
                    f"candidate share now {record.candidate_share:.0%} ({record.state})"
                )
            self._show_new_notifications()
            if status in _TERMINAL:
                self.console.print(f"    execution {status}")
                return
            time.sleep(0.1)

    def run(self) -> DemoReport:
        try:
            self._step("1. a dataset lands: train, gate, register, compile, deploy", self.first_model)
            self._step("2. a better dataset lands: canary rollout, bake, promotion", self.better_model)
            self._step("3. a worse dataset lands: the quality gate rejects it", self.worse_model)
            self._step(
                "4. a larger drop in parts: Processing, 2-instance training; the model fails live, rollback",
                self.faulty_model,
            )
            self._step("5. the schedule fires: nothing new, the run is skipped", self.schedule_skips)
            self._step("6. production traffic drifts: monitor, alarm, notification", self.drift_detected)
        finally:
            self.traffic.stop()
        self._show_new_notifications()
        self.report.endpoint = self._endpoint()
        self.report.seconds = time.monotonic() - self._started
        return self.report


def summary_table(report: DemoReport) -> Table:
    table = Table(title="Conveyor offline demo")
    # The outcome is what a reader greps for: it never shrinks or wraps; the step name wraps instead.
    outcome_width = max((len(step.outcome) for step in report.steps), default=len("outcome"))
    table.add_column("step", overflow="fold", min_width=10)
    table.add_column("outcome", no_wrap=True, min_width=outcome_width)
    for column in ("states", "seconds", "requests", "5xx"):
        table.add_column(column, justify="right", no_wrap=True)
    for step in report.steps:
        table.add_row(
            step.title.split(":")[0],
            step.outcome,
            str(step.transitions),
            f"{step.seconds:.1f}",
            str(step.requests),
            str(step.errors_5xx),
        )
    return table


def _story_on_own_stack(
    console: Console,
    what: str,
    cloud: OfflineCloud,
    title: str,
    step: Callable[[Story, float], tuple[str, int]],
) -> DemoReport:
    """One step on a stack of its own (another family or strategy), deployed for it and stopped after."""
    with console.status(f"deploying {what} ..."):
        cloud.start()
    try:
        story = Story(cloud, console)
        story._step(title, lambda started: step(story, started))
        story._show_new_notifications()
    finally:
        cloud.stop()
    return story.report


def run_demo(console: Console | None = None, time_scale: float = TIME_SCALE) -> DemoReport:
    console = console or Console()
    overall = time.monotonic()
    console.rule("[bold]Conveyor offline demo")
    with console.status("starting the offline cloud and deploying template.yaml ..."):
        cloud = OfflineCloud(time_scale=time_scale, parameters=DEMO_PARAMETERS).start()
    console.print(
        f"stack [bold]{cloud.stack_name}[/] deployed in {time.monotonic() - overall:.1f}s "
        f"(time scale {time_scale}: a 200 s bake takes {200 * time_scale:g} s)"
    )
    try:
        report = Story(cloud, console).run()
    finally:
        cloud.stop()
    deep = _story_on_own_stack(
        console,
        "a second stack for the pytorch family",
        OfflineCloud(stack_name="conveyor-deep", time_scale=time_scale, parameters=DEEP_PARAMETERS),
        "7. a deep model (pytorch): train, compile for ml_g4dn, serve",
        Story.deep_model,
    )
    bandit = _story_on_own_stack(
        console,
        "a third stack whose releases are bandit tests",
        OfflineCloud(stack_name="conveyor-bandit", time_scale=time_scale, parameters=BANDIT_PARAMETERS),
        "8. a bandit test: two models share traffic, the better one wins",
        Story.bandit_test,
    )
    for other in (deep, bandit):
        report.steps += other.steps
        report.notifications += other.notifications
    report.advice = deep.advice
    report.seconds = time.monotonic() - overall
    console.print(summary_table(report))
    endpoint = report.endpoint
    console.print(
        f"endpoint {endpoint.get('EndpointName')} is {endpoint.get('EndpointStatus')} on "
        f"{endpoint.get('EndpointConfigName')}; {len(report.notifications)} notifications; "
        f"total {report.seconds:.1f}s"
    )
    return report


def main() -> None:
    run_demo()


if __name__ == "__main__":
    main()
