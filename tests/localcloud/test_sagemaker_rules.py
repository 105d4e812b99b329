"""The offline SageMaker refuses what SageMaker refuses, with SageMaker's error code and message.

One offline cloud serves the module (a runtime and ``mock_aws``); each test names its own resources.
The rules and their AWS sources are in ``localcloud/sagemaker_rules.py``; these tests call the
offline cloud through boto3, as the product does, and assert the wire error.
"""

from __future__ import annotations

import io
import itertools
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import xgboost
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer

from localcloud import stepfunctions as sfn_names
from localcloud.cloud import ACCOUNT_ID
from localcloud.datasets import breast_cancer_csv
from localcloud.runtime import Runtime
from tests.localcloud import support

REGION = "us-east-1"
BUCKET = "localcloud-rules"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution"
STATES_ROLE = "rules-state-machine"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{}"
NEO_IMAGE = "785573368785.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest"
VARIANT = "primary"
_names = itertools.count()


# --- the offline cloud ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud() -> Iterator[Runtime]:
    env = pytest.MonkeyPatch()
    try:
        with support.offline_cloud(
            env,
            REGION,
            time_scale=0.01,
            bucket=BUCKET,
            settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=60),
            mock_config={"stepfunctions": {"execute_state_machine": True}},
        ) as runtime:
            create_state_machine_role()
            yield runtime
    finally:
        env.undo()


@pytest.fixture
def aws(cloud: Runtime) -> Iterator[Runtime]:
    yield cloud
    cloud.faults.clear()


client = partial(support.client, region=REGION)


def sagemaker() -> Any:
    return client("sagemaker")


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


wait_until = partial(support.wait_until, timeout=60.0)


def refused(call: Callable[[], Any]) -> tuple[str, str]:
    """(code, message) of the error ``call`` answers."""
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT_ID}:{kind}/{name}"


# --- models, configs, endpoints ------------------------------------------------------------------


@pytest.fixture(scope="module")
def artefact(cloud: Runtime) -> str:
    """A small XGBoost model.tar.gz in S3 (saved by this process's XGBoost)."""
    rows, labels = load_breast_cancer(return_X_y=True)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(rows, label=labels), 3)
    return upload("models/plain/model.tar.gz", tar_gz({"xgboost-model": bytes(booster.save_raw(raw_format="json"))}))


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def upload(key: str, body: bytes) -> str:
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def create_model(uri: str, image: str = XGBOOST_IMAGE.format("1.7-1"), name: str | None = None) -> str:
    name = name or unique("model")
    sagemaker().create_model(
        ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": image, "ModelDataUrl": uri}
    )
    return name


def create_config(
    model: str, instance_type: str = "ml.m5.large", count: int = 1, variant: str = VARIANT, name: str | None = None
) -> str:
    name = name or unique("config")
    sagemaker().create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": count,
                "InstanceType": instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
    )
    return name


def describe(endpoint: str) -> dict[str, Any]:
    described: dict[str, Any] = sagemaker().describe_endpoint(EndpointName=endpoint)
    return described


def settled(endpoint: str) -> dict[str, Any]:
    wait_until(lambda: describe(endpoint)["EndpointStatus"] in ("InService", "Failed"), what=f"{endpoint} settled")
    return describe(endpoint)


def serving(artefact: str, instance_type: str = "ml.m5.large", count: int = 1) -> tuple[str, str]:
    """An InService endpoint on a new model and config: (endpoint name, its model name)."""
    model = create_model(artefact)
    endpoint = unique("ep")
    sagemaker().create_endpoint(EndpointName=endpoint, EndpointConfigName=create_config(model, instance_type, count))
    assert settled(endpoint)["EndpointStatus"] == "InService"
    return endpoint, model


def failed_endpoint(aws: Runtime, artefact: str) -> str:
    """An endpoint whose model fails to load: how a test puts an endpoint into Failed."""
    model = create_model(artefact)
    aws.faults.fail_model_load(model, times=1)
    endpoint = unique("ep")
    sagemaker().create_endpoint(EndpointName=endpoint, EndpointConfigName=create_config(model))
    assert settled(endpoint)["EndpointStatus"] == "Failed"
    return endpoint


def set_status(aws: Runtime, endpoint: str, status: str) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends[ACCOUNT_ID][REGION].endpoints[endpoint].endpoint_status = status


# --- rule 1: what an endpoint's status allows; resources that do not exist ------------------------


def test_describe_update_and_delete_of_a_missing_endpoint_answer_could_not_find_endpoint(aws: Runtime) -> None:
    expected = ("ValidationException", f'Could not find endpoint "{arn("endpoint", "nowhere")}".')
    weights = [{"VariantName": VARIANT, "DesiredWeight": 1.0}]

    assert refused(lambda: sagemaker().describe_endpoint(EndpointName="nowhere")) == expected
    assert refused(lambda: sagemaker().delete_endpoint(EndpointName="nowhere")) == expected
    assert refused(lambda: sagemaker().update_endpoint(EndpointName="nowhere", EndpointConfigName="x")) == expected
    assert (
        refused(
            lambda: sagemaker().update_endpoint_weights_and_capacities(
                EndpointName="nowhere", DesiredWeightsAndCapacities=weights
            )
        )
        == expected
    )


def test_missing_endpoint_configs_and_models_answer_could_not_find(aws: Runtime, artefact: str) -> None:
    config_missing = (
        "ValidationException",
        f'Could not find endpoint configuration "{arn("endpoint-config", "nope")}".',
    )
    model_missing = ("ValidationException", f'Could not find model "{arn("model", "nope")}".')
    endpoint, _model = serving(artefact)

    assert refused(lambda: sagemaker().describe_endpoint_config(EndpointConfigName="nope")) == config_missing
    assert refused(lambda: sagemaker().delete_endpoint_config(EndpointConfigName="nope")) == config_missing
    assert refused(lambda: sagemaker().create_endpoint(EndpointName=unique("ep"), EndpointConfigName="nope")) == (
        config_missing
    )
    assert refused(lambda: sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName="nope")) == (
        config_missing
    )
    assert refused(lambda: sagemaker().describe_model(ModelName="nope")) == model_missing
    assert refused(lambda: sagemaker().delete_model(ModelName="nope")) == model_missing
    assert refused(lambda: create_config("nope")) == model_missing


def test_describe_training_job_of_a_missing_job_answers_requested_resource_not_found(aws: Runtime) -> None:
    assert refused(lambda: sagemaker().describe_training_job(TrainingJobName="nope")) == (
        "ValidationException",
        "Requested resource not found.",
    )


def test_a_failed_endpoint_can_only_be_deleted_and_then_created_again(aws: Runtime, artefact: str) -> None:
    endpoint = failed_endpoint(aws, artefact)
    expected = ("ValidationException", f'Cannot update failed endpoint "{arn("endpoint", endpoint)}".')
    config = create_config(create_model(artefact))

    assert "does not load" in describe(endpoint)["FailureReason"]
    assert refused(lambda: sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == expected
    assert (
        refused(
            lambda: sagemaker().update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredWeight": 2.0}]
            )
        )
        == expected
    )
    sagemaker().delete_endpoint(EndpointName=endpoint)
    sagemaker().create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    assert settled(endpoint)["EndpointStatus"] == "InService"


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_an_endpoint_in_progress_can_be_neither_updated_nor_deleted(aws: Runtime, artefact: str, status: str) -> None:
    endpoint, model = serving(artefact)
    config = create_config(model)
    set_status(aws, endpoint, status)
    expected = ("ValidationException", f'Cannot update in-progress endpoint "{arn("endpoint", endpoint)}".')
    try:
        assert refused(lambda: sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == (
            expected
        )
        assert refused(lambda: sagemaker().delete_endpoint(EndpointName=endpoint)) == expected
        assert (
            refused(
                lambda: sagemaker().update_endpoint_weights_and_capacities(
                    EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredWeight": 2.0}]
                )
            )
            == expected
        )
    finally:
        set_status(aws, endpoint, "InService")


# --- rule 2: a name already taken ----------------------------------------------------------------


def test_creating_a_model_config_or_endpoint_under_a_taken_name_is_refused(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact)
    config = describe(endpoint)["EndpointConfigName"]

    assert refused(lambda: create_model(artefact, name=model)) == (
        "ValidationException",
        f'Cannot create already existing model "{arn("model", model)}".',
    )
    assert refused(lambda: create_config(model, name=config)) == (
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{arn("endpoint-config", config)}".',
    )
    # EndpointName is case-insensitive in CreateEndpoint.
    assert refused(lambda: sagemaker().create_endpoint(EndpointName=endpoint.upper(), EndpointConfigName=config)) == (
        "ValidationException",
        f'Cannot create already existing endpoint "{arn("endpoint", endpoint)}".',
    )


def test_creating_a_training_or_compilation_job_under_a_taken_name_is_resource_in_use(
    aws: Runtime, artefact: str
) -> None:
    job = start_training(unique("train"), "1.3-1")
    compilation = start_compilation(unique("neo"), artefact, "ml_c5")

    assert refused(lambda: start_training(job, "1.3-1")) == (
        "ResourceInUse",
        "Training job names must be unique within an AWS account and region, and a training job with this name "
        f"already exists ({arn('training-job', job)})",
    )
    code, message = refused(lambda: start_compilation(compilation, artefact, "ml_c5"))
    assert code == "ResourceInUse"
    assert compilation in message
    finished_training(job)
    finished_compilation(compilation)


# --- rule 3: deployment guardrails -----------------------------------------------------------------


def canary(size: dict[str, Any], wait: int = 0, termination: int = 0, timeout: int = 600) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": wait, "CanarySize": size},
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }


def linear(size: dict[str, Any], wait: int = 0, termination: int = 0, timeout: int = 600) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "LINEAR", "WaitIntervalInSeconds": wait, "LinearStepSize": size},
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": timeout,
        }
    }


def percent(value: int) -> dict[str, Any]:
    return {"Type": "CAPACITY_PERCENT", "Value": value}


def instances(value: int) -> dict[str, Any]:
    return {"Type": "INSTANCE_COUNT", "Value": value}


@pytest.mark.parametrize(
    ("count", "deployment", "refusal"),
    [
        pytest.param(
            1, canary(percent(10)), "CanarySize 10% is 1 instance(s) of variant primary's 1", id="canary-of-1"
        ),
        pytest.param(10, canary(percent(60)), "CanarySize 60% is 6 instance(s)", id="canary-60%"),
        pytest.param(4, canary(instances(3)), "CanarySize 3 instance(s) is 3 instance(s)", id="canary-3-of-4"),
        pytest.param(4, linear(percent(60)), "LinearStepSize 60% is 3 instance(s)", id="linear-60%"),
        pytest.param(20, linear(instances(1)), "LinearStepSize 1 instance(s) is 1 instance(s)", id="linear-5%"),
        pytest.param(
            2,
            canary(percent(50), wait=600, termination=600, timeout=1200),
            "MaximumExecutionTimeoutInSeconds 1200 must be larger than the total waiting time of the deployment (1200",
            id="canary-timeout",
        ),
        pytest.param(
            4,
            linear(percent(25), wait=300, termination=300, timeout=1200),
            "MaximumExecutionTimeoutInSeconds 1200 must be larger than the total waiting time of the deployment (1200",
            id="linear-timeout-three-steps",
        ),
    ],
)
def test_deployment_guardrails_outside_sagemakers_limits_are_refused(
    aws: Runtime, artefact: str, count: int, deployment: dict[str, Any], refusal: str
) -> None:
    endpoint, model = serving(artefact, count=count)
    config = create_config(model, count=count)

    code, message = refused(
        lambda: sagemaker().update_endpoint(
            EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=deployment
        )
    )

    assert code == "ValidationException"
    assert refusal in message
    assert describe(endpoint)["EndpointStatus"] == "InService"


@pytest.mark.parametrize(
    ("count", "deployment"),
    [
        pytest.param(2, canary(percent(50), wait=600, termination=600, timeout=1201), id="canary-1-of-2"),
        pytest.param(4, linear(percent(25)), id="linear-1-of-4"),
        pytest.param(20, linear(instances(2)), id="linear-10%"),
    ],
)
def test_deployment_guardrails_within_sagemakers_limits_are_accepted(
    aws: Runtime, artefact: str, count: int, deployment: dict[str, Any]
) -> None:
    aws.clock.set_scale(0.0001)  # the 600 s bakes pass at once
    try:
        endpoint, model = serving(artefact, count=count)
        config = create_config(model, count=count)

        sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=deployment)

        described = settled(endpoint)
        assert described["EndpointConfigName"] == config
        assert described["ProductionVariants"][0]["CurrentInstanceCount"] == count
    finally:
        aws.clock.set_scale(0.01)


def test_a_canary_gives_the_new_fleet_the_share_of_its_whole_instances(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact, count=4)
    old = describe(endpoint)["EndpointConfigName"]
    config = create_config(model, count=4)

    # 10% of four instances is one instance: a quarter of the traffic.
    sagemaker().update_endpoint(
        EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=canary(percent(10), wait=3000, timeout=3600)
    )
    try:
        wait_until(lambda: config in aws.sagemaker.config_shares(ACCOUNT_ID, REGION, endpoint), what="the canary")
        assert aws.sagemaker.config_shares(ACCOUNT_ID, REGION, endpoint) == {old: 0.75, config: 0.25}
    finally:
        aws.clock.set_scale(0.0001)
        settled(endpoint)
        aws.clock.set_scale(0.01)
    assert aws.sagemaker.config_shares(ACCOUNT_ID, REGION, endpoint) == {config: 1.0}


def test_guardrails_need_the_same_variant_names_and_an_update_without_them_does_not(
    aws: Runtime, artefact: str
) -> None:
    endpoint, model = serving(artefact, count=2)
    renamed = create_config(model, count=2, variant="other")

    code, message = refused(
        lambda: sagemaker().update_endpoint(
            EndpointName=endpoint, EndpointConfigName=renamed, DeploymentConfig=canary(percent(50))
        )
    )
    assert code == "ValidationException"
    assert f"The endpoint configuration \"{renamed}\" has variants ['other']" in message
    sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=renamed)
    assert settled(endpoint)["EndpointConfigName"] == renamed


def test_an_auto_rollback_alarm_that_does_not_exist_is_refused(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact, count=2)
    deployment = {**canary(percent(50)), "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "no-such-alarm"}]}}

    assert refused(
        lambda: sagemaker().update_endpoint(
            EndpointName=endpoint, EndpointConfigName=create_config(model, count=2), DeploymentConfig=deployment
        )
    ) == (
        "ValidationException",
        "The alarm(s) ['no-such-alarm'] in AutoRollbackConfiguration could not be found in CloudWatch.",
    )


def test_an_inf1_endpoint_falls_back_to_all_at_once_instead_of_its_canary(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact, instance_type="ml.inf1.xlarge", count=2)
    config = create_config(model, instance_type="ml.inf1.xlarge", count=2)
    deployment = canary(percent(50), wait=3600, termination=3600, timeout=28800)
    started = time.monotonic()

    sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=deployment)

    assert settled(endpoint)["EndpointConfigName"] == config
    # The canary's two bakes would take 72 s at this time scale; all at once has none.
    assert time.monotonic() - started < 20


def test_retained_variant_properties_keep_the_instance_count_the_canary_is_sized_against(
    aws: Runtime, artefact: str
) -> None:
    endpoint, model = serving(artefact, count=4)
    sagemaker().update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": VARIANT, "DesiredInstanceCount": 1}]
    )
    wait_until(lambda: describe(endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 1, what="scaled in")
    settled(endpoint)
    config = create_config(model, count=4)

    # Four instances in the new config, but the update keeps the one autoscaling left: no canary fits.
    code, message = refused(
        lambda: sagemaker().update_endpoint(
            EndpointName=endpoint,
            EndpointConfigName=config,
            DeploymentConfig=canary(percent(25)),
            RetainAllVariantProperties=True,
        )
    )
    assert code == "ValidationException"
    assert "CanarySize 25% is 1 instance(s) of variant primary's 1" in message
    sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=config, RetainAllVariantProperties=True)
    assert settled(endpoint)["ProductionVariants"][0]["CurrentInstanceCount"] == 1


# --- rule 4: autoscaled variants -------------------------------------------------------------------


def register_autoscaling(endpoint: str, variant: str = VARIANT) -> str:
    resource_id = f"endpoint/{endpoint}/variant/{variant}"
    client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=4,
    )
    return resource_id


def scalable_targets(resource_id: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    return targets


def test_an_update_may_not_change_the_instance_type_of_an_autoscaled_variant(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact)
    resource_id = register_autoscaling(endpoint)
    bigger = create_config(model, instance_type="ml.m5.xlarge")

    code, message = refused(lambda: sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger))
    assert code == "ValidationException"
    assert f"({resource_id}) and the update changes its instance type from ml.m5.large to ml.m5.xlarge" in message
    assert "DeregisterScalableTarget" in message

    # A new model on the same instance type is allowed.
    same_type = create_config(create_model(artefact))
    sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=same_type)
    assert settled(endpoint)["EndpointConfigName"] == same_type

    # Deregistered first, the instance type may change.
    client("application-autoscaling").deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension="sagemaker:variant:DesiredInstanceCount"
    )
    sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger)
    assert settled(endpoint)["EndpointConfigName"] == bigger


def test_an_update_may_not_remove_an_autoscaled_variant(aws: Runtime, artefact: str) -> None:
    endpoint, model = serving(artefact)
    register_autoscaling(endpoint)

    code, message = refused(
        lambda: sagemaker().update_endpoint(EndpointName=endpoint, EndpointConfigName=create_config(model, variant="b"))
    )

    assert code == "ValidationException"
    assert "the update removes it" in message


def test_deleting_an_endpoint_deregisters_its_autoscaled_variants(aws: Runtime, artefact: str) -> None:
    endpoint, _model = serving(artefact)
    resource_id = register_autoscaling(endpoint)

    sagemaker().delete_endpoint(EndpointName=endpoint)

    assert scalable_targets(resource_id) == []


# --- rule 5: Neo and XGBoost -----------------------------------------------------------------------


def start_training(name: str, version: str) -> str:
    rows = breast_cancer_csv(rows=120).decode().splitlines(keepends=True)
    train = upload(f"data/{name}/train/train.csv", "".join(rows[:90]).encode())
    validation = upload(f"data/{name}/validation/validation.csv", "".join(rows[90:]).encode())
    sagemaker().create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE.format(version), "TrainingInputMode": "File"},
        RoleArn=ROLE_ARN,
        HyperParameters={"objective": "binary:logistic", "num_round": "3", "max_depth": "2"},
        InputDataConfig=[
            {
                "ChannelName": channel,
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri.rsplit("/", 1)[0] + "/"}},
            }
            for channel, uri in (("train", train), ("validation", validation))
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return name


def finished_training(name: str) -> str:
    def done() -> bool:
        return sagemaker().describe_training_job(TrainingJobName=name)["TrainingJobStatus"] != "InProgress"

    wait_until(done, timeout=180, what=f"training job {name}")
    described = sagemaker().describe_training_job(TrainingJobName=name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return str(described["ModelArtifacts"]["S3ModelArtifacts"])


def start_compilation(name: str, model_uri: str, target: str) -> str:
    sagemaker().create_compilation_job(
        CompilationJobName=name,
        RoleArn=ROLE_ARN,
        InputConfig={"S3Uri": model_uri, "Framework": "XGBOOST"},
        OutputConfig={"S3OutputLocation": f"s3://{BUCKET}/compiled/{name}/", "TargetDevice": target},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )
    return name


def finished_compilation(name: str) -> dict[str, Any]:
    def done() -> bool:
        return sagemaker().describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"] not in (
            "INPROGRESS",
            "STARTING",
        )

    wait_until(done, timeout=180, what=f"compilation job {name}")
    described: dict[str, Any] = sagemaker().describe_compilation_job(CompilationJobName=name)
    return described


@pytest.fixture(scope="module")
def trained(cloud: Runtime) -> dict[str, str]:
    """Model artefacts of training jobs run with the 1.3-1 and 1.7-1 images."""
    jobs = {version: start_training(unique("train"), version) for version in ("1.3-1", "1.7-1")}
    return {version: finished_training(job) for version, job in jobs.items()}


@pytest.fixture(scope="module")
def compiled_c5(cloud: Runtime, trained: dict[str, str]) -> dict[str, Any]:
    """DescribeCompilationJob of the 1.3 model compiled for ml_c5, as it was while in progress and at the end."""
    name = start_compilation(unique("neo"), trained["1.3-1"], "ml_c5")
    in_progress = sagemaker().describe_compilation_job(CompilationJobName=name)
    return {"in_progress": in_progress, "done": finished_compilation(name)}


def test_a_model_from_xgboost_1_3_compiles_for_a_cloud_instance_and_names_neos_image(
    compiled_c5: dict[str, Any],
) -> None:
    done = compiled_c5["done"]

    assert done["CompilationJobStatus"] == "COMPLETED", done.get("FailureReason")
    assert done["InferenceImage"] == NEO_IMAGE
    if compiled_c5["in_progress"]["CompilationJobStatus"] == "INPROGRESS":
        assert "InferenceImage" not in compiled_c5["in_progress"]


def test_an_edge_target_compiles_without_an_inference_image(aws: Runtime, trained: dict[str, str]) -> None:
    done = finished_compilation(start_compilation(unique("neo"), trained["1.3-1"], "jetson_nano"))

    assert done["CompilationJobStatus"] == "COMPLETED", done.get("FailureReason")
    assert "InferenceImage" not in done


@pytest.mark.parametrize(
    ("target", "kind"), [("ml_inf1", "Inferentia"), ("ml_p3", "GPU"), ("ml_g4dn", "GPU"), ("ml_trn1", "Trainium")]
)
def test_neo_fails_an_xgboost_job_for_accelerator_targets(
    aws: Runtime, trained: dict[str, str], target: str, kind: str
) -> None:
    done = finished_compilation(start_compilation(unique("neo"), trained["1.3-1"], target))

    assert done["CompilationJobStatus"] == "FAILED"
    assert done["FailureReason"].startswith(
        f"ClientError: OutputConfiguration: Framework XGBOOST is not supported for {target} ({kind})"
    )
    assert "InferenceImage" not in done


@pytest.mark.parametrize(
    ("source", "saved_by"), [("1.7-1", "XGBoost 1.7"), ("hand-made", f"XGBoost {xgboost.__version__[:3]}")]
)
def test_neo_fails_a_model_saved_by_an_xgboost_newer_than_1_3(
    aws: Runtime, trained: dict[str, str], artefact: str, source: str, saved_by: str
) -> None:
    model = trained["1.7-1"] if source == "1.7-1" else artefact

    done = finished_compilation(start_compilation(unique("neo"), model, "ml_c5"))

    assert done["CompilationJobStatus"] == "FAILED"
    assert done["FailureReason"].startswith(
        "ClientError: InputConfiguration: Invalid XGBoost model. Please make sure the framework you select is correct."
    )
    assert f"saved by {saved_by};" in done["FailureReason"]


# --- rule 6: hosting a Neo artefact -----------------------------------------------------------------


def test_a_neo_artefact_serves_on_its_family_with_neos_image(aws: Runtime, compiled_c5: dict[str, Any]) -> None:
    uri = compiled_c5["done"]["ModelArtifacts"]["S3ModelArtifacts"]
    endpoint = unique("ep")

    sagemaker().create_endpoint(
        EndpointName=endpoint, EndpointConfigName=create_config(create_model(uri, NEO_IMAGE), "ml.c5.xlarge")
    )

    assert settled(endpoint)["EndpointStatus"] == "InService"


@pytest.mark.parametrize(
    ("image", "instance_type", "reason"),
    [
        (NEO_IMAGE, "ml.m5.xlarge", "was compiled by Neo for ml_c5 and cannot run on ml.m5.xlarge"),
        (XGBOOST_IMAGE.format("1.3-1"), "ml.c5.xlarge", f"is served by {NEO_IMAGE}, not by"),
    ],
)
def test_a_neo_artefact_on_another_family_or_image_fails_the_endpoint(
    aws: Runtime, compiled_c5: dict[str, Any], image: str, instance_type: str, reason: str
) -> None:
    uri = compiled_c5["done"]["ModelArtifacts"]["S3ModelArtifacts"]
    endpoint = unique("ep")

    sagemaker().create_endpoint(
        EndpointName=endpoint, EndpointConfigName=create_config(create_model(uri, image), instance_type)
    )

    described = settled(endpoint)
    assert described["EndpointStatus"] == "Failed"
    assert reason in described["FailureReason"]


def test_an_uncompiled_artefact_fails_on_neos_image(aws: Runtime, artefact: str) -> None:
    endpoint = unique("ep")

    sagemaker().create_endpoint(
        EndpointName=endpoint, EndpointConfigName=create_config(create_model(artefact, NEO_IMAGE))
    )

    described = settled(endpoint)
    assert described["EndpointStatus"] == "Failed"
    assert "serves Neo-compiled models, and the artefact is not one" in described["FailureReason"]


def test_an_update_to_a_neo_artefact_on_the_wrong_family_rolls_back(
    aws: Runtime, artefact: str, compiled_c5: dict[str, Any]
) -> None:
    endpoint, _model = serving(artefact, instance_type="ml.m5.xlarge")
    before = describe(endpoint)["EndpointConfigName"]
    uri = compiled_c5["done"]["ModelArtifacts"]["S3ModelArtifacts"]

    sagemaker().update_endpoint(
        EndpointName=endpoint, EndpointConfigName=create_config(create_model(uri, NEO_IMAGE), "ml.m5.xlarge")
    )

    described = settled(endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == before
    assert "compiled by Neo for ml_c5 and cannot run on ml.m5.xlarge" in described["FailureReason"]


# --- rule 7: the error names Step Functions gives SageMaker's errors --------------------------------


@pytest.mark.parametrize(
    ("resource", "code", "name"),
    [
        ("arn:aws:states:::sagemaker:createTrainingJob.sync", "ResourceInUse", "SageMaker.ResourceInUseException"),
        (
            "arn:aws:states:::sagemaker:createEndpoint",
            "ResourceLimitExceeded",
            "SageMaker.ResourceLimitExceededException",
        ),
        ("arn:aws:states:::sagemaker:createModel", "ValidationException", "SageMaker.AmazonSageMakerException"),
        ("arn:aws:states:::sagemaker:createModel", "ThrottlingException", "SageMaker.AmazonSageMakerException"),
        ("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", "ValidationException", "SageMaker.SageMakerException"),
        ("arn:aws:states:::aws-sdk:sagemaker:createModel", "RequestTimeout", "SageMaker.SageMakerException"),
        (
            "arn:aws:states:::aws-sdk:sagemaker:createCompilationJob",
            "ResourceInUse",
            "SageMaker.ResourceInUseException",
        ),
        (
            "arn:aws:states:::aws-sdk:sagemaker:describeTrainingJob",
            "ResourceNotFound",
            "SageMaker.ResourceNotFoundException",
        ),
        ("arn:aws:states:::aws-sdk:dynamodb:transactWriteItems", "ThrottlingException", "DynamoDb.ThrottlingException"),
        ("arn:aws:states:::aws-sdk:dynamodb:transactWriteItems", "InternalFailure", "DynamoDb.DynamoDbException"),
    ],
)
def test_step_functions_names_modelled_errors_by_code_and_the_rest_by_the_sdks_base_exception(
    resource: str, code: str, name: str
) -> None:
    assert sfn_names.task_error_name(resource, code) == name


def create_state_machine_role() -> None:
    """The role the test state machines run as: the offline IAM checks each call against it."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.create_role(RoleName=STATES_ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=STATES_ROLE, PolicyName="everything", PolicyDocument=json.dumps(everything))


def run_task(aws: Runtime, resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Run a one-task state machine whose Catch returns the error it caught."""
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": resource,
                "Parameters": parameters,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    stepfunctions = client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/{STATES_ROLE}"
    machine = stepfunctions.create_state_machine(name=unique("m"), definition=json.dumps(definition), roleArn=role)
    execution = stepfunctions.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    wait_until(lambda: stepfunctions.describe_execution(executionArn=execution)["status"] != "RUNNING")
    output: dict[str, Any] = json.loads(stepfunctions.describe_execution(executionArn=execution)["output"])
    return output


def test_a_state_machine_sees_sagemakers_errors_under_step_functions_names(aws: Runtime, artefact: str) -> None:
    missing = run_task(aws, "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "nowhere"})
    model = create_model(artefact)
    duplicate = run_task(
        aws,
        "arn:aws:states:::sagemaker:createModel",
        {
            "ModelName": model,
            "ExecutionRoleArn": ROLE_ARN,
            "PrimaryContainer": {"Image": XGBOOST_IMAGE.format("1.7-1")},
        },
    )

    assert missing["Error"] == "SageMaker.SageMakerException"
    assert missing["Cause"].startswith(f'Could not find endpoint "{arn("endpoint", "nowhere")}".')
    assert duplicate["Error"] == "SageMaker.AmazonSageMakerException"
    assert duplicate["Cause"].startswith(f'Cannot create already existing model "{arn("model", model)}". (Service: ')
    assert "Error Code: ValidationException" in duplicate["Cause"]


# --- rule 8: a lost answer -----------------------------------------------------------------------------


def test_a_lost_answer_leaves_the_model_created_and_the_retry_meets_it(aws: Runtime, artefact: str) -> None:
    aws.faults.fail_api("sagemaker", "CreateModel", kind="lost_response", times=1)
    name = unique("model")

    code, message = refused(lambda: create_model(artefact, name=name))

    assert (code, message) == ("ValidationException", f'Cannot create already existing model "{arn("model", name)}".')
    assert sagemaker().describe_model(ModelName=name)["ModelName"] == name
    assert aws.faults.stats().injected[("sagemaker", "lost_response")] == 1


def test_without_retries_the_caller_sees_the_timeout_of_a_call_that_succeeded(aws: Runtime, artefact: str) -> None:
    model = create_model(artefact)
    aws.faults.fail_api("sagemaker", "CreateEndpointConfig", kind="lost_response", times=1)
    name = unique("config")
    once = client("sagemaker", retries={"total_max_attempts": 1})

    code, message = refused(
        lambda: once.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {"VariantName": VARIANT, "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            ],
        )
    )

    assert code == "RequestTimeout"
    assert "processed, answer lost" in message
    assert sagemaker().describe_endpoint_config(EndpointConfigName=name)["EndpointConfigName"] == name


def test_a_lost_answer_can_only_be_injected_where_the_service_applies_it(aws: Runtime) -> None:
    with pytest.raises(ValueError, match="not on s3:PutObject"):
        aws.faults.fail_api("s3", "PutObject", kind="lost_response")
    with pytest.raises(ValueError, match="per operation"):
        aws.faults.inject(0.1, kinds=("lost_response",))
