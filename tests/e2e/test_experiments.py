"""A/B tests and bandits end to end: a seeded client drives the endpoint while the run evaluates.

The client's conversions depend on which variant answered (``localcloud.experiment_client``); the
evaluator joins them to the captured requests by inference id. Capture is at 100 % so every outcome
joins; the mixing scale is set to the simulated effect, so the test decides within a few intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.experiment_client import SimulatedClient

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]
EXPERIMENT = {
    "DataCapturePercent": "100",
    "ExperimentIntervalSeconds": "300",
    "AbMinimumEffect": "0.15",
    "AbMinSamples": "60",
    "BakeTimeSeconds": "60",
    "AbMaxDurationSeconds": "7200",
}


def feature_rows() -> list[str]:
    lines = breast_cancer_csv().decode().splitlines()
    return [line.split(",", 1)[1] + "\n" for line in lines if line.strip()]


def drive(
    cloud: OfflineCloud, client: SimulatedClient, runs: int, batch: int = 20, timeout: float = 300
) -> list[dict[str, Any]]:
    """Send traffic, ``batch`` requests at a time, until ``runs`` executions have ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.send(batch)
        executions = cloud.executions()
        if len(executions) >= runs and all(e["status"] != "RUNNING" for e in executions):
            return cloud.wait_for_executions(runs, timeout=30)
        time.sleep(0.1)
    raise TimeoutError(f"still running: {[(e['name'], e['status']) for e in cloud.executions()]}")


def experiment_record(cloud: OfflineCloud, run_id: str) -> dict[str, Any]:
    from conveyor_core.release import history

    record = history.experiment(cloud.client("dynamodb"), cloud.output("HistoryTableName"), "tabular", run_id)
    assert record is not None
    return record.model_dump()


def weights_set(cloud: OfflineCloud, execution_arn: str) -> list[float]:
    """The candidate weights the bandit applied, in order."""
    import json

    found = []
    for event in cloud.history(execution_arn):
        scheduled = event.get("taskScheduledEventDetails")
        if scheduled and scheduled["resource"].lower() == "updateendpointweightsandcapacities":
            weights = json.loads(scheduled["parameters"])["DesiredWeightsAndCapacities"]
            found += [w["DesiredWeight"] for w in weights if w["VariantName"] == "candidate"]
    return found


def start_test(
    cloud_factory: CloudFactory, rates: dict[str, float], **parameters: str
) -> tuple[OfflineCloud, SimulatedClient]:
    cloud = cloud_factory(**{**EXPERIMENT, **parameters})
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=180)
    client = SimulatedClient(cloud, rates, feature_rows(), seed=7)
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    return cloud, client


def test_an_ab_test_promotes_a_candidate_that_converts_better(cloud_factory: CloudFactory) -> None:
    cloud, client = start_test(cloud_factory, {"primary": 0.10, "candidate": 0.40}, DeploymentStrategy="ab-test")
    runs = drive(cloud, client, 2)

    assert runs[1]["status"] == "SUCCEEDED", [(n.event, n.body["reason"]) for n in cloud.notifications()]
    note = [n for n in cloud.notifications() if n.event == "pipeline.succeeded"][-1]
    assert "(ab-test): ab-test: the candidate is better: effect +" in note.body["reason"]
    verdict = note.body["details"]["experiment"]
    assert verdict["decision"] == "promote"
    assert verdict["ci_low"] > 0, "the confidence sequence excludes no effect"
    assert verdict["production"]["n"] >= 60
    assert verdict["candidate"]["n"] >= 60
    assert verdict["unmatched_outcomes"] >= 0
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert [v["VariantName"] for v in endpoint["ProductionVariants"]] == ["primary"]
    config = cloud.client("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == runs[1]["name"], "the winner serves alone"
    record = experiment_record(cloud, runs[1]["name"])
    assert record["state"] == "promoted"
    assert record["effect"] == pytest.approx(verdict["effect"])
    assert record["candidate_share"] == pytest.approx(0.5), "an A/B test keeps its split"


def test_an_ab_test_keeps_production_when_the_candidate_converts_worse(cloud_factory: CloudFactory) -> None:
    cloud, client = start_test(cloud_factory, {"primary": 0.40, "candidate": 0.10}, DeploymentStrategy="ab-test")
    runs = drive(cloud, client, 2)

    assert runs[1]["status"] == "SUCCEEDED", "a verdict for production is an outcome"
    note = cloud.notifications()[-1]
    assert note.event == "model.rejected"
    assert note.body["reason"].startswith("ab-test: production is better: effect -")
    assert note.body["details"]["experiment"]["ci_high"] < 0
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert endpoint["EndpointConfigName"] == runs[0]["name"] + "-cfg", "the previous config serves again"
    assert experiment_record(cloud, runs[1]["name"])["state"] == "kept"
    group = cloud.output("ModelPackageGroupName")
    packages = cloud.client("sagemaker").list_model_packages(ModelPackageGroupName=group)
    assert sorted(p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]) == ["Approved", "Rejected"]


def test_a_bandit_moves_traffic_to_the_better_variant_then_promotes_it(cloud_factory: CloudFactory) -> None:
    # 150 outcomes per variant before a verdict, far more than an interval brings: the first evaluations
    # move the weights, and production's 10 % floor keeps it measured until it has its 150.
    cloud, client = start_test(
        cloud_factory,
        {"primary": 0.05, "candidate": 0.60},
        DeploymentStrategy="bandit",
        AbMinSamples="150",
        AbMaxDurationSeconds="60000",
    )
    runs = drive(cloud, client, 2, batch=5, timeout=400)

    assert runs[1]["status"] == "SUCCEEDED"
    note = [n for n in cloud.notifications() if n.event == "pipeline.succeeded"][-1]
    assert "bandit: the candidate is better" in note.body["reason"]
    assert note.body["details"]["experiment"]["probability_candidate_best"] >= 0.95
    applied = weights_set(cloud, runs[1]["executionArn"])
    assert applied, "the bandit moved the weights before its verdict"
    assert max(applied) == 90.0, f"the floor caps the candidate at 90 %: {applied}"
    verdict = note.body["details"]["experiment"]
    assert verdict["candidate"]["n"] > verdict["production"]["n"], "most requests went to the better variant"


def test_a_candidate_alarm_during_an_ab_test_sends_traffic_back_and_rolls_back(cloud_factory: CloudFactory) -> None:
    cloud, client = start_test(cloud_factory, {"primary": 0.10, "candidate": 0.10}, DeploymentStrategy="ab-test")
    candidate_alarm = f"{cloud.stack_name}-tabular-candidate-5xx"
    deadline = time.monotonic() + 180
    while cloud.traffic_shares().get("candidate", 0) == 0 and time.monotonic() < deadline:
        client.send(5)
    # Held in ALARM until the run reads it: the offline evaluator would return an alarm with no errors
    # behind it to OK at its next period, before the interval's alarm check.
    arn = cloud.executions()[-1]["executionArn"]
    while "AbortShift" not in cloud.states_entered(arn) and time.monotonic() < deadline:
        cloud.client("cloudwatch").set_alarm_state(
            AlarmName=candidate_alarm, StateValue="ALARM", StateReason="candidate 5XX errors"
        )
        client.send(5)
    runs = drive(cloud, client, 2)

    assert runs[1]["status"] == "FAILED", "a rollback ends the run failed, with its notification"
    states = cloud.states_entered(runs[1]["executionArn"])
    assert "AbortShift" in states
    assert "PromoteShift" not in states
    [body] = [n.body for n in cloud.notifications() if n.event == "deployment.rolled_back"]
    assert "ab-test rollout" in body["reason"]
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert [(v["VariantName"], v["CurrentWeight"]) for v in endpoint["ProductionVariants"]] == [("primary", 1.0)]
