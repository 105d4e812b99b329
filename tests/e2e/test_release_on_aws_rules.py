"""The release path under the rules a real AWS account applies (issue 14), end to end offline.

Each test drives the deployed template, handlers and ASL through a situation the offline cloud
used to accept and AWS refuses: a Failed endpoint, a canary on a fleet too small for it, a Neo
target that cannot serve, an artefact with the wrong image, metadata outside SageMaker's alphabet,
an uppercase stack name, a create whose response was lost, an autoscaling call that fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from conveyor_core.release.registry import unescape
from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e

NEO_XGBOOST_IMAGE_US_EAST_1 = "785573368785.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest"


def _terminal(cloud: OfflineCloud) -> list[Any]:
    return [n for n in cloud.notifications() if n.event != "run.started"]


def _serving_container(cloud: OfflineCloud) -> dict[str, Any]:
    sagemaker = cloud.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    return dict(model["PrimaryContainer"])


def test_a_failed_endpoint_is_deleted_and_created_again_and_the_run_says_so(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.fail_model_load(times=1)
    cloud.upload("incoming/unloadable.csv", breast_cancer_csv())
    [failed_run] = cloud.wait_for_executions(1, timeout=180)
    sagemaker = cloud.client("sagemaker")
    assert failed_run["status"] == "FAILED"
    assert sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointStatus"] == "Failed"

    cloud.upload("incoming/second.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=240)

    assert runs[1]["status"] == "SUCCEEDED"
    states = cloud.states_entered(runs[1]["executionArn"])
    assert "UpdateEndpoint" not in states, "SageMaker allows only DeleteEndpoint on a Failed endpoint"
    assert states.index("DeleteFailedEndpoint") < states.index("CreateEndpoint")
    note = _terminal(cloud)[-1]
    assert note.event == "pipeline.succeeded"
    assert "was Failed" in note.body["reason"]
    assert "deleted and created again" in note.body["reason"]
    assert sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointStatus"] == "InService"


def test_a_canary_on_a_one_instance_fleet_rolls_out_all_at_once_and_says_why(cloud_factory: Any) -> None:
    cloud = cloud_factory(EndpointInstanceCount="1", DeploymentStrategy="canary", CanaryPercent="10")
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=180)

    cloud.upload("incoming/second.csv", breast_cancer_csv())  # a tie promotes: an update runs
    runs = cloud.wait_for_executions(2, timeout=240)

    assert runs[1]["status"] == "SUCCEEDED"
    note = _terminal(cloud)[-1]
    assert note.event == "pipeline.succeeded"
    assert "(all-at-once)" in note.body["reason"]
    assert "canary rollout planned all at once" in note.body["reason"]
    assert "more than half the fleet" in note.body["reason"]


def test_the_default_model_is_compiled_for_the_serving_cpu_and_served_and_registered_with_neos_image(
    cloud: OfflineCloud,
) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    sagemaker = cloud.client("sagemaker")
    [job] = sagemaker.list_compilation_jobs()["CompilationJobSummaries"]
    compilation = sagemaker.describe_compilation_job(CompilationJobName=job["CompilationJobName"])
    assert compilation["OutputConfig"]["TargetDevice"] == "ml_c5", "the target follows ml.c5.xlarge"
    assert compilation["InferenceImage"] == NEO_XGBOOST_IMAGE_US_EAST_1

    container = _serving_container(cloud)
    assert container["Image"] == NEO_XGBOOST_IMAGE_US_EAST_1
    assert container["ModelDataUrl"] == compilation["ModelArtifacts"]["S3ModelArtifacts"]

    note = _terminal(cloud)[-1]
    assert "compiled with Neo for ml_c5 and served on ml.c5.xlarge" in note.body["reason"]
    package = sagemaker.describe_model_package(ModelPackageName=note.body["details"]["model_package"])
    [registered] = package["InferenceSpecification"]["Containers"]
    assert (registered["Image"], registered["ModelDataUrl"]) == (container["Image"], container["ModelDataUrl"]), (
        "the registry records what the endpoint serves"
    )


def test_a_gpu_endpoint_serves_the_uncompiled_trees_and_the_notification_says_why(cloud_factory: Any) -> None:
    cloud = cloud_factory(EndpointInstanceType="ml.g4dn.xlarge")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    assert "CompileModel" not in cloud.states_entered(run["executionArn"])
    assert cloud.client("sagemaker").list_compilation_jobs()["CompilationJobSummaries"] == []
    training_image = cloud.client("sagemaker").describe_training_job(TrainingJobName=run["name"])[
        "AlgorithmSpecification"
    ]["TrainingImage"]
    assert _serving_container(cloud)["Image"] == training_image
    reason = _terminal(cloud)[-1].body["reason"]
    assert "not compiled" in reason
    assert "ml_g4dn" in reason


def test_an_edge_target_is_compiled_and_published_while_the_endpoint_serves_the_uncompiled_model(
    cloud_factory: Any,
) -> None:
    cloud = cloud_factory(NeoTargetDevice="jetson_nano")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    sagemaker = cloud.client("sagemaker")
    [job] = sagemaker.list_compilation_jobs()["CompilationJobSummaries"]
    compilation = sagemaker.describe_compilation_job(CompilationJobName=job["CompilationJobName"])
    assert "InferenceImage" not in compilation, "Neo names an inference image for ml_* targets only"
    training = sagemaker.describe_training_job(TrainingJobName=run["name"])
    container = _serving_container(cloud)
    assert container["Image"] == training["AlgorithmSpecification"]["TrainingImage"]
    assert container["ModelDataUrl"] == training["ModelArtifacts"]["S3ModelArtifacts"]
    note = _terminal(cloud)[-1]
    assert note.body["details"]["published_artifact"] == compilation["ModelArtifacts"]["S3ModelArtifacts"]
    assert "edge device jetson_nano" in note.body["reason"]


def test_an_autoscaling_failure_is_reported_in_a_successful_runs_notification(cloud: OfflineCloud) -> None:
    cloud.faults.fail_api("application-autoscaling", "RegisterScalableTarget", kind="error")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED", "the model serves; autoscaling is an extra"
    note = _terminal(cloud)[-1]
    assert note.event == "pipeline.succeeded"
    assert "autoscaling was not set up" in note.body["reason"]
    assert note.body["details"]["autoscaling"]["Error"].startswith("ApplicationAutoScaling.")


def test_metadata_from_a_long_key_with_punctuation_is_registered_within_sagemakers_limits(
    cloud: OfflineCloud,
) -> None:
    # One object directly under incoming/ (a deeper key is a part of a folder drop, which waits for its marker).
    key = "incoming/" + "quarterly-sales-export-" * 12 + "(Q3)!final.csv"
    cloud.upload(key, breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    note = _terminal(cloud)[-1]
    package = cloud.client("sagemaker").describe_model_package(ModelPackageName=note.body["details"]["model_package"])
    metadata = package["CustomerMetadataProperties"]
    assert all(len(value) <= 256 for value in metadata.values())
    dataset_uri = unescape(metadata["dataset_uri"])
    assert f"s3://{cloud.output('DataBucketName')}/{key}".startswith(dataset_uri)


def test_an_uppercase_stack_name_deploys_and_runs(tmp_path: Any) -> None:
    cloud = OfflineCloud(stack_name="Conveyor-Prod", time_scale=TIME_SCALE, use_sam_build=False).start()
    try:
        cloud.upload("incoming/cancer.csv", breast_cancer_csv())
        [run] = cloud.wait_for_executions(1, timeout=180)
        assert run["status"] == "SUCCEEDED"
        endpoint = cloud.output("EndpointName")
        assert endpoint == endpoint.lower()
        assert cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    finally:
        cloud.stop()


@pytest.mark.parametrize("operation", ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"])
def test_a_create_whose_response_was_lost_finds_its_own_resource_and_carries_on(
    cloud: OfflineCloud, operation: str
) -> None:
    cloud.faults.fail_api("sagemaker", operation, kind="lost_response", times=1)
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    states = cloud.states_entered(run["executionArn"])
    assert f"Find{operation}" in states, "the retry met 'already exists' and described its own resource"
    assert _terminal(cloud)[-1].event == "pipeline.succeeded"
