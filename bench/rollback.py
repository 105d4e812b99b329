"""Rollback: from an alarm to 100% of traffic on the last known good endpoint config.

Two successful deployments on the offline cloud (time scale 0.01, no bake so they are quick), then
the second model fails:

* real alarm: ``cloud.faults.degrade_model`` makes the live model answer 5XX while traffic runs; the
  alarm evaluator sees the metric, moves the 5XX alarm to ALARM and publishes CloudWatch's event;
  the template's rule starts the rollback state machine;
* hand-fired: after a third deployment, ``cloud.alarm_event`` publishes the same event directly
  (full mode only; smoke mode measures the evaluated alarm).

A watcher thread records, every few milliseconds, which config the endpoint's router sends traffic
to (the cloud's hosted endpoint, what ``traffic_shares`` reads, per config rather than per variant
name since both configs name their variant ``primary``) and what ``DescribeEndpoint`` says. From the
alarm's own state-change time to the first moment the good config takes 100% of traffic is the
figure; the part of it spent in scaled waits (``Wait`` states and retries passed before the restore
call) is taken off to give the figure net of the time scale.

Offline, UpdateEndpoint only loads the model; on AWS it provisions instances, which takes minutes
and is not simulated. The naive figure is a scheduled Lambda that checks the alarms every 60 s.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import Figure, bench_main, log, quiet_offline_cloud, wait_until

NAME = "rollback"
TIME_SCALE = 0.01
TARGET_SECONDS = 5.0
NAIVE_POLL_SECONDS = 60.0
TRAFFIC_PER_SECOND = 50.0


@dataclass
class Sample:
    at: float
    shares: dict[str, float]
    described: tuple[str, str]


@dataclass
class Watcher:
    """Samples the router's per-config traffic shares and DescribeEndpoint, recording changes."""

    cloud: Any
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollback-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def shares(self) -> dict[str, float]:
        from localcloud.cloud import ACCOUNT_ID

        host = self.cloud.sagemaker.host(ACCOUNT_ID, self.cloud.region, self.cloud.output("EndpointName"))
        if host is None:
            return {}
        with host.lock:
            green = host.green_share if host.green is not None else 0.0
            shares = {host.blue.config_name: 1.0 - green}
            if host.green is not None:
                shares[host.green.config_name] = shares.get(host.green.config_name, 0.0) + green
        return shares

    def _run(self) -> None:
        client = self.cloud.client("sagemaker")
        endpoint = self.cloud.output("EndpointName")
        last: tuple[Any, ...] | None = None
        while not self._stop.is_set():
            shares = self.shares()
            described = client.describe_endpoint(EndpointName=endpoint)
            state = (tuple(sorted(shares.items())), described["EndpointConfigName"], described["EndpointStatus"])
            if state != last:
                self.samples.append(
                    Sample(time.time(), shares, (described["EndpointConfigName"], described["EndpointStatus"]))
                )
                last = state
            time.sleep(0.002)

    def first(self, since: float, config: str, kind: str) -> float | None:
        for sample in self.samples:
            if sample.at < since:
                continue
            if kind == "traffic" and sample.shares.get(config, 0.0) >= 0.999:
                return sample.at
            if kind == "describe" and sample.described == (config, "InService"):
                return sample.at
        return None


class Traffic:
    def __init__(self, cloud: Any) -> None:
        from localcloud.datasets import feature_rows_csv

        self._cloud = cloud
        self._rows = feature_rows_csv(rows=20).decode().splitlines()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollback-traffic", daemon=True)
        self.sent = self.errors = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        client = self._cloud.client("sagemaker-runtime")
        endpoint = self._cloud.output("EndpointName")
        while not self._stop.wait(1.0 / TRAFFIC_PER_SECOND):
            try:
                client.invoke_endpoint(
                    EndpointName=endpoint, ContentType="text/csv", Body=self._rows[self.sent % len(self._rows)]
                )
            except Exception:
                self.errors += 1
            self.sent += 1


def _scaled_waits(history: list[dict[str, Any]], before: float | None) -> float:
    """Real seconds the rollback spent in Wait states (and retry back-offs) that ended before ``before``."""
    total = 0.0
    entered: float | None = None
    failed_at: float | None = None
    for event in history:
        at = event["timestamp"].timestamp()
        if before is not None and at > before:
            break
        kind = event["type"]
        if kind == "WaitStateEntered":
            entered = at
        elif kind == "WaitStateExited" and entered is not None:
            total += at - entered
            entered = None
        elif kind == "TaskFailed":
            failed_at = at
        elif kind == "TaskScheduled" and failed_at is not None:
            total += at - failed_at  # a Retry's back-off interval
            failed_at = None
    return total


def _restore_called_at(history: list[dict[str, Any]]) -> float | None:
    state = None
    for event in history:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "TaskScheduled" and state == "RestoreEndpointConfig":
            return float(event["timestamp"].timestamp())
    return None


def measure(smoke: bool) -> dict[str, Any]:
    from moto.cloudwatch.models import cloudwatch_backends

    from localcloud.cloud import ACCOUNT_ID, OfflineCloud
    from localcloud.datasets import breast_cancer_csv

    quiet_offline_cloud()
    cloud = OfflineCloud(
        time_scale=TIME_SCALE, use_sam_build=False, run_schedules=False, parameters={"BakeTimeSeconds": "0"}
    ).start()
    sagemaker = cloud.client("sagemaker")
    endpoint_name = cloud.output("EndpointName")
    alarm_name = cloud.output("RollbackAlarmNames").split(",")[0]
    results: dict[str, Any] = {}

    def serving() -> str:
        return str(sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"])

    def deploy(index: int) -> str:
        cloud.upload(f"incoming/rollback-{index}.csv", breast_cancer_csv())
        runs = cloud.wait_for_executions(index, timeout=300)
        if runs[-1]["status"] != "SUCCEEDED":
            raise RuntimeError(f"deployment {index} ended {runs[-1]['status']}")
        return serving()

    def alarm() -> Any:
        return cloudwatch_backends[ACCOUNT_ID][cloud.region].alarms[alarm_name]

    def outcome(rollbacks: int, alarm_at: float, good: str, watcher: Watcher) -> dict[str, Any]:
        [*_, execution] = cloud.wait_for_rollbacks(rollbacks, timeout=120)
        history = cloud.history(execution["executionArn"])
        notes = [n.body for n in cloud.notifications() if n.event == "deployment.rolled_back"]
        restored = notes[-1]["details"]["to_config"] if notes else good
        time.sleep(0.1)  # let the watcher see the end state
        traffic_at = watcher.first(alarm_at, restored, "traffic")
        describe_at = watcher.first(alarm_at, restored, "describe")
        restore_called = _restore_called_at(history)
        on_path = _scaled_waits(history, restore_called)
        return {
            "status": execution["status"],
            "restored": restored,
            "expected_good": good,
            "alarm_to_traffic": (traffic_at - alarm_at) if traffic_at else None,
            "alarm_to_describe": (describe_at - alarm_at) if describe_at else None,
            "alarm_to_end": execution["stopDate"].timestamp() - alarm_at,
            "scaled_on_path": on_path,
            "scaled_total": _scaled_waits(history, None),
            "alarm_to_rollback_started": execution["startDate"].timestamp() - alarm_at,
            "offline_interpreter_startup": history[0]["timestamp"].timestamp() - execution["startDate"].timestamp(),
        }

    traffic = Traffic(cloud)
    watcher = Watcher(cloud)
    try:
        if smoke:
            # Quicker deployments: Neo refuses to start, so the uncompiled model ships (compile.fallback).
            cloud.faults.fail_api("sagemaker", "CreateCompilationJob", kind="throttle")
        log(f"{NAME}: two deployments")
        good = deploy(1)
        bad = deploy(2)
        cloud.faults.clear()
        traffic.start()
        watcher.start()

        log(f"{NAME}: the live model fails; waiting for the evaluator's alarm")
        bad_model = sagemaker.describe_endpoint_config(EndpointConfigName=bad)["ProductionVariants"][0]["ModelName"]
        fault_at = time.time()
        cloud.faults.degrade_model(bad_model, error_rate=1.0)
        wait_until(lambda: alarm().state_value == "ALARM", timeout=120, interval=0.002, what="the 5XX alarm")
        changed = alarm().state_updated_timestamp
        alarm_at = (changed if changed.tzinfo else changed.replace(tzinfo=dt.UTC)).timestamp()
        real = outcome(1, alarm_at, good, watcher)
        real["fault_to_alarm"] = alarm_at - fault_at
        cloud.faults.clear()
        results["real"] = real
        if not smoke:
            wait_until(lambda: alarm().state_value == "OK", timeout=120, interval=0.01, what="the alarm to clear")
            log(f"{NAME}: a third deployment, then a hand-fired alarm event")
            deploy(3)
            alarm_at = time.time()
            cloud.alarm_event(alarm_name, when=alarm_at)
            results["hand"] = outcome(2, alarm_at, good, watcher)
        results["requests"], results["errors"] = traffic.sent, traffic.errors
    finally:
        watcher.stop()
        traffic.stop()
        cloud.faults.clear()
        cloud.stop()
    return results


def run(smoke: bool = False) -> list[Figure]:
    """Alarm -> 100% traffic on the last good config, raw and net of scaled waits."""
    results = measure(smoke)
    naive = NAIVE_POLL_SECONDS / 2
    naive_label = "Lambda polling the alarm every 60 s (modelled mean wait)"
    figures: list[Figure] = []
    for key, title in (("real", "evaluated 5XX alarm"), ("hand", "hand-fired alarm event")):
        if key not in results:
            continue  # smoke mode measures the evaluated alarm only
        found = results[key]
        raw = found["alarm_to_traffic"]
        on_path = found["scaled_on_path"]
        net = raw - on_path if raw is not None else None
        describe = found["alarm_to_describe"]
        restored_ok = found["restored"] == found["expected_good"] and found["status"] == "SUCCEEDED"
        figures += [
            Figure(
                NAME,
                f"{title}: alarm → 100% traffic on the good config, net of scaled waits",
                net,
                "s",
                naive=naive,
                naive_label=naive_label,
                target=f"≤ {TARGET_SECONDS:g} s",
                met=net is not None and net <= TARGET_SECONDS and restored_ok,
                note=f"raw {raw:.2f} s, of which {on_path:.2f} s scaled waits" if raw is not None else "never seen",
                details={
                    "raw_seconds": raw,
                    "scaled_wait_seconds_on_path": on_path,
                    "simulated_seconds_those_waits_stand_for": on_path / TIME_SCALE,
                    "alarm_to_rollback_execution_started_s": found["alarm_to_rollback_started"],
                    "offline_asl_parse_before_first_state_s": found["offline_interpreter_startup"],
                    "restored_config": found["restored"],
                    "expected_config": found["expected_good"],
                    "rollback_status": found["status"],
                },
            ),
            Figure(
                NAME,
                f"{title}: alarm → DescribeEndpoint InService on the good config, net of scaled waits",
                describe - on_path if describe is not None else None,
                "s",
                target=f"≤ {TARGET_SECONDS:g} s",
                met=describe is not None and describe - on_path <= TARGET_SECONDS,
                note=f"raw {describe:.2f} s" if describe is not None else "never seen",
            ),
            Figure(
                NAME,
                f"{title}: alarm → rollback execution finished (raw)",
                found["alarm_to_end"],
                "s",
                note=(
                    f"{found['scaled_total']:.2f} s of it scaled waits = "
                    f"{found['scaled_total'] / TIME_SCALE:.0f} simulated s"
                ),
            ),
        ]
    real = results["real"]
    figures.append(
        Figure(
            NAME,
            "evaluated 5XX alarm: fault injected → alarm in ALARM (detection)",
            real["fault_to_alarm"],
            "s",
            note=f"= {real['fault_to_alarm'] / TIME_SCALE:.0f} simulated s (alarm period 60 s, evaluated every 10 s)",
            details={"requests": results.get("requests"), "5xx": results.get("errors")},
        )
    )
    return figures


def main() -> int:
    return bench_main(NAME, run)


if __name__ == "__main__":
    raise SystemExit(main())
