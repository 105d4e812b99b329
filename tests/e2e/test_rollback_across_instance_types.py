"""An alarm rollback to a config on the instance type the stack served before its last update.

SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered for
autoscaling (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html), and the
offline cloud enforces it: the rollback must deregister the variant first and register it again
once the restored config serves.
"""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv, feature_rows_csv

pytestmark = pytest.mark.e2e

OLD_TYPE, NEW_TYPE = "ml.c5.xlarge", "ml.m5.xlarge"


def _update_stack_instance_type(cloud: OfflineCloud, instance_type: str) -> None:
    """What a stack update of ``EndpointInstanceType`` does: every function that reads it gets the new value.

    The offline cloud deploys its template once, so the update is made as CloudFormation makes it, one
    ``UpdateFunctionConfiguration`` per function; the cloud's Lambda runtime runs each function with
    the environment it registered at deployment, so that is updated to match.
    """
    lambda_client = cloud.client("lambda")
    updated = []
    for function in cloud.lambdas.functions():
        if "ENDPOINT_INSTANCE_TYPE" not in function.environment:
            continue
        variables = {**function.environment, "ENDPOINT_INSTANCE_TYPE": instance_type}
        lambda_client.update_function_configuration(FunctionName=function.name, Environment={"Variables": variables})
        function.environment.update(variables)
        updated.append(function.name)
    assert len(updated) == 4, (
        "Preprocess (the compilation target), PlanNonRegression (where the candidate answers), "
        f"ChooseServingTarget and PlanDeployment read it: {updated}"
    )


def _serving(cloud: OfflineCloud) -> tuple[str, str]:
    """The endpoint's config and its production variant's instance type."""
    sagemaker = cloud.client("sagemaker")
    config = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointConfigName"]
    [variant] = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    return config, variant["InstanceType"]


def _scalable_targets(cloud: OfflineCloud) -> list[dict[str, Any]]:
    resource = f"endpoint/{cloud.output('EndpointName')}/variant/primary"
    targets: list[dict[str, Any]] = cloud.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    return targets


def _rolled_back(cloud: OfflineCloud) -> list[dict[str, Any]]:
    return [n.body for n in cloud.notifications() if n.event == "deployment.rolled_back"]


def _deploy_then_move_the_stack_to_another_instance_type(cloud: OfflineCloud) -> tuple[str, str]:
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    [first] = cloud.wait_for_executions(1, timeout=180)
    assert first["status"] == "SUCCEEDED"
    good, good_type = _serving(cloud)
    assert good_type == OLD_TYPE

    _update_stack_instance_type(cloud, NEW_TYPE)
    # The same data again passes the gate (a tie promotes): the update moves the endpoint to ml.m5.
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=240)
    assert runs[1]["status"] == "SUCCEEDED"
    assert "DeregisterAutoscaling" in cloud.states_entered(runs[1]["executionArn"])
    bad, bad_type = _serving(cloud)
    assert (bad_type, len(_scalable_targets(cloud))) == (NEW_TYPE, 1)
    return good, bad


@pytest.fixture
def fast_cloud(cloud_factory: Any) -> OfflineCloud:
    cloud: OfflineCloud = cloud_factory(BakeTimeSeconds="60", EndpointInstanceType=OLD_TYPE)
    return cloud


def test_an_alarm_restores_the_config_on_the_previous_instance_type_and_registers_autoscaling_again(
    fast_cloud: OfflineCloud,
) -> None:
    cloud = fast_cloud
    good, bad = _deploy_then_move_the_stack_to_another_instance_type(cloud)

    cloud.alarm_event(cloud.output("RollbackAlarmNames").split(",")[0])
    [rollback] = cloud.wait_for_rollbacks(1)

    assert rollback["status"] == "SUCCEEDED"
    assert _serving(cloud) == (good, OLD_TYPE)
    states = cloud.states_entered(rollback["executionArn"])
    assert (
        states.index("DeregisterAutoscaling")
        < states.index("RestoreEndpointConfig")
        < states.index("RegisterAutoscaling")
        < states.index("PutScalingPolicy")
        < states.index("RecordRollback")
    )
    [target] = _scalable_targets(cloud)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4), "the stack's AutoscalingMin/MaxInstances"
    [policy] = cloud.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=target["ResourceId"]
    )["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    [body] = _rolled_back(cloud)
    assert (body["details"]["from_config"], body["details"]["to_config"]) == (bad, good)
    assert body["details"]["autoscaling"] == {"status": "registered"}
    assert (
        f"the instance type changes from {NEW_TYPE} to {OLD_TYPE}: autoscaling is deregistered for the restore "
        "and registered again after it" in body["reason"]
    )
    predictions, _ = cloud.invoke_endpoint(feature_rows_csv(rows=1))
    assert predictions.strip()


def test_autoscaling_that_fails_after_a_restore_is_reported_and_the_rollback_still_succeeds(
    fast_cloud: OfflineCloud,
) -> None:
    cloud = fast_cloud
    good, _ = _deploy_then_move_the_stack_to_another_instance_type(cloud)
    cloud.faults.fail_api("application-autoscaling", "RegisterScalableTarget", kind="error")

    cloud.alarm_event(cloud.output("RollbackAlarmNames").split(",")[0])
    [rollback] = cloud.wait_for_rollbacks(1)

    assert rollback["status"] == "SUCCEEDED", "the good config serves; autoscaling is an extra"
    assert _serving(cloud) == (good, OLD_TYPE)
    assert _scalable_targets(cloud) == []
    [body] = _rolled_back(cloud)
    assert body["details"]["autoscaling"]["Error"].startswith("ApplicationAutoScaling.")
    assert "autoscaling was not set up" in body["reason"]


def test_a_rollout_to_another_instance_type_rolled_back_by_the_guardrails_registers_autoscaling_again(
    fast_cloud: OfflineCloud,
) -> None:
    cloud = fast_cloud
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=180)
    good, _ = _serving(cloud)
    _update_stack_instance_type(cloud, NEW_TYPE)
    cloud.faults.fail_model_load(times=1)  # the new fleet never loads: SageMaker keeps the old one

    cloud.upload("incoming/second.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=240)

    states = cloud.states_entered(runs[1]["executionArn"])
    assert states.index("DeregisterAutoscaling") < states.index("UpdateEndpoint")
    assert states.index("RecordRolledBackDeployment") < states.index("RestoreRegisterAutoscaling")
    assert _serving(cloud) == (good, OLD_TYPE)
    [target] = _scalable_targets(cloud)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    [body] = _rolled_back(cloud)
    assert body["details"]["autoscaling"] == {"status": "registered"}
