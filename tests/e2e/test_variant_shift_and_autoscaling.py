"""Variant-shift rollouts and endpoint autoscaling on the offline cloud.

A watcher samples the traffic share each variant really receives (the offline endpoint's routing),
so the tests check the steps the shift took, not only where it ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

SHIFT = {
    "DeploymentStrategy": "variant-shift",
    "BakeTimeSeconds": "60",
    "CanaryPercent": "20",
    "LinearStepPercent": "40",
}


@contextmanager
def traffic_log(cloud: OfflineCloud) -> Iterator[list[dict[str, float]]]:
    samples: list[dict[str, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            shares = cloud.traffic_shares()
            rounded = {name: round(share, 2) for name, share in shares.items()}
            if not samples or samples[-1] != rounded:
                samples.append(rounded)
            time.sleep(0.01)

    worker = threading.Thread(target=sample)
    worker.start()
    try:
        yield samples
    finally:
        done.set()
        worker.join()


def _endpoint(cloud: OfflineCloud) -> dict:
    return cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))


def test_a_variant_shift_moves_traffic_in_steps_and_promotes(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(**SHIFT)
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)

    with traffic_log(cloud) as shares:
        cloud.upload("incoming/second.csv", breast_cancer_csv())
        runs = cloud.wait_for_executions(2, timeout=180)

    assert runs[1]["status"] == "SUCCEEDED"
    candidate_steps = [s["candidate"] for s in shares if "candidate" in s]
    assert candidate_steps == [0.2, 0.6, 1.0], shares
    endpoint = _endpoint(cloud)
    assert [(v["VariantName"], v["CurrentWeight"]) for v in endpoint["ProductionVariants"]] == [("primary", 1.0)]
    success = [n.body for n in cloud.notifications() if n.event == "pipeline.succeeded"][-1]
    assert "(variant-shift)" in success["reason"]
    assert endpoint["EndpointConfigName"] == success["details"]["endpoint_config"]
    config = cloud.client("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == runs[1]["name"], (
        "the new model serves as the production variant"
    )
    print("variant-shift promotion state transitions:", len(cloud.states_entered(runs[1]["executionArn"])))


def test_a_variant_shift_returns_all_traffic_when_the_candidate_alarms(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(**SHIFT)
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    serving = _endpoint(cloud)["EndpointConfigName"]
    candidate_alarm = f"{cloud.stack_name}-tabular-candidate-5xx"

    def alarm_once_candidate_serves() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shares = cloud.traffic_shares()
            if shares.get("candidate", 0) > 0:
                cloud.client("cloudwatch").set_alarm_state(
                    AlarmName=candidate_alarm, StateValue="ALARM", StateReason="candidate 5XX errors"
                )
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=alarm_once_candidate_serves)
    with traffic_log(cloud) as shares:
        watcher.start()
        cloud.upload("incoming/second.csv", breast_cancer_csv())
        runs = cloud.wait_for_executions(2, timeout=180)
        watcher.join()

    assert runs[1]["status"] == "FAILED"
    states = cloud.states_entered(runs[1]["executionArn"])
    assert "AbortShift" in states
    assert "PromoteShift" not in states
    candidate_steps = [s["candidate"] for s in shares if "candidate" in s]
    assert candidate_steps == [0.2, 0.0], "the first step, then everything back to production"
    endpoint = _endpoint(cloud)
    assert endpoint["EndpointConfigName"] == serving
    assert [(v["VariantName"], v["CurrentWeight"]) for v in endpoint["ProductionVariants"]] == [("primary", 1.0)]
    [body] = [n.body for n in cloud.notifications() if n.event == "deployment.rolled_back"]
    assert "variant-shift rollout" in body["reason"]
    assert body["details"]["serving_config"] == serving
    package = cloud.client("sagemaker").describe_model_package(ModelPackageName=body["details"]["model_package"])
    assert package["ModelApprovalStatus"] == "Rejected"


def test_autoscaling_is_registered_on_the_production_variant_and_survives_updates(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(BakeTimeSeconds="60", AutoscalingMinInstances="2", AutoscalingMaxInstances="6")
    autoscaling = cloud.client("application-autoscaling")
    resource = f"endpoint/{cloud.output('EndpointName')}/variant/primary"

    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    [target] = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    cloud.wait_for_executions(2, timeout=180)

    assert target["ResourceId"] == resource
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    [after] = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert after["ResourceId"] == resource, "one target, on the variant name every config keeps"
    [policy] = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 1000
