"""SageMaker hosting and training on the offline cloud, at the API level (no state machine, no template).

UpdateEndpoint's blue/green rollouts (canary, linear, all-at-once) are watched from outside: a thread
samples the endpoint's status and ``traffic_shares`` while the rollout runs, and requests show where
traffic really goes. Auto-rollback is driven by real metrics: the new model fails, its 5XX datapoints
move the alarm, and the alarm stops the rollout. Training jobs run the built-in XGBoost contract.
"""

from __future__ import annotations

import io
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xgboost
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer

from localcloud import sagemaker as local_sagemaker
from localcloud.cloud import ACCOUNT_ID
from localcloud.runtime import Runtime, current
from localcloud.sagemaker_engine.inference import load_model
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
BUCKET = "localcloud-rollouts"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENDPOINT = "rollouts"
CONFIG_A, CONFIG_B = "config-a", "config-b"
MODEL_A, MODEL_B = "model-a", "model-b"
# Deployment guardrails need the new config to keep the variant's name, so a guarded rollout's two
# fleets are told apart by config (``fleets()``) and by the predictions their models make.
VARIANT = "primary"
# A canary or a linear step is at most half the fleet in whole instances: 20 instances take 20 % and
# 25 % steps exactly.
INSTANCES = 20
BLUE, GREEN = "blue", "green"  # the two variants of a two-variant config
NEW_FLEET_ALARM = "primary-5xx"
CHI_SQUARE_CRITICAL_DF1_P001 = 10.83


# --- models and the offline cloud ----------------------------------------------------------------


@pytest.fixture(scope="module")
def features() -> npt.NDArray[np.float32]:
    rows, _ = load_breast_cancer(return_X_y=True)
    return rows.astype(np.float32)


@pytest.fixture(scope="module")
def boosters(features: npt.NDArray[np.float32]) -> dict[str, xgboost.Booster]:
    _, labels = load_breast_cancer(return_X_y=True)
    matrix = xgboost.DMatrix(features, label=labels)
    return {
        MODEL_A: xgboost.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1}, matrix, 12),
        MODEL_B: xgboost.train({"objective": "binary:logistic", "max_depth": 1, "seed": 2}, matrix, 3),
    }


def model_tar_gz(booster: xgboost.Booster) -> bytes:
    model = bytes(booster.save_raw(raw_format="json"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def csv_body(rows: npt.NDArray[np.float32]) -> bytes:
    return "\n".join(",".join(repr(float(value)) for value in row) for row in rows).encode()


client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=30.0, interval=0.005)


def chi_square(observed: dict[str, int], shares: dict[str, float]) -> float:
    total = sum(observed.values())
    return sum((observed.get(name, 0) - total * share) ** 2 / (total * share) for name, share in shares.items())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with support.offline_cloud(
        monkeypatch,
        REGION,
        time_scale=TIME_SCALE,
        bucket=BUCKET,
        settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=60),
    ) as runtime:
        yield runtime


@dataclass
class Endpoint:
    """The endpoint under test and the SageMaker calls the tests make on it."""

    sagemaker: Any
    runtime: Any

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        return described

    def status(self) -> str:
        return str(self.describe()["EndpointStatus"])

    def wait_in_service(self, timeout: float = 30.0) -> dict[str, Any]:
        wait_until(lambda: self.status() in {"InService", "Failed"}, timeout=timeout, what="endpoint InService")
        return self.describe()

    def update(self, config: str, deployment: dict[str, Any] | None = None) -> None:
        extra = {"DeploymentConfig": deployment} if deployment is not None else {}
        self.sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config, **extra)

    def invoke(self, body: bytes, target_variant: str | None = None) -> tuple[bytes, str]:
        extra = {"TargetVariant": target_variant} if target_variant else {}
        response = self.runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=body, **extra)
        return response["Body"].read(), response["InvokedProductionVariant"]


def shares() -> dict[str, float]:
    return {
        name: round(share, 6)
        for name, share in current().sagemaker.traffic_shares(ACCOUNT_ID, REGION, ENDPOINT).items()
        if share > 0
    }


def fleets() -> dict[str, float]:
    """The share of requests the old and the new fleet of a guarded rollout receive, by config."""
    return {
        name: round(share, 6)
        for name, share in current().sagemaker.config_shares(ACCOUNT_ID, REGION, ENDPOINT).items()
        if share > 0
    }


def register_model(sagemaker: Any, name: str, artefact: bytes | None) -> None:
    """Upload the artefact (None: leave it missing) and create the SageMaker model on it."""
    key = f"models/{name}/model.tar.gz"
    if artefact is not None:
        client("s3").put_object(Bucket=BUCKET, Key=key, Body=artefact)
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"},
    )


def create_config(sagemaker: Any, name: str, variants: dict[str, tuple[str, float]], instances: int = 1) -> None:
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": instances,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, (model, weight) in variants.items()
        ],
    )


@pytest.fixture
def endpoint(aws: None, boosters: dict[str, xgboost.Booster]) -> Endpoint:
    """Serving config A (model A); config B (model B, same variant name) is ready to roll out."""
    sagemaker = client("sagemaker")
    for name, booster in boosters.items():
        register_model(sagemaker, name, model_tar_gz(booster))
    create_config(sagemaker, CONFIG_A, {VARIANT: (MODEL_A, 1.0)}, instances=INSTANCES)
    create_config(sagemaker, CONFIG_B, {VARIANT: (MODEL_B, 1.0)}, instances=INSTANCES)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=CONFIG_A)
    serving = Endpoint(sagemaker, client("sagemaker-runtime"))
    assert serving.wait_in_service()["EndpointStatus"] == "InService"
    return serving


@dataclass
class Observed:
    statuses: list[str] = field(default_factory=list)
    green_shares: list[float] = field(default_factory=list)


@contextmanager
def watching() -> Iterator[Observed]:
    """Record every status the endpoint passes through and every share of traffic the new fleet is given."""
    seen = Observed()
    done = threading.Event()
    sagemaker = client("sagemaker")

    def sample_once() -> None:
        status = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"]
        green = fleets().get(CONFIG_B)
        if not seen.statuses or seen.statuses[-1] != status:
            seen.statuses.append(status)
        if green is not None and (not seen.green_shares or seen.green_shares[-1] != green):
            seen.green_shares.append(green)

    def sample() -> None:
        while not done.is_set():
            sample_once()
            time.sleep(0.002)

    sample_once()  # where the endpoint starts from
    worker = threading.Thread(target=sample, name="rollout-watcher")
    worker.start()
    try:
        yield seen
    finally:
        done.set()
        worker.join()
        sample_once()  # where it ends


def blue_green(
    routing_type: str,
    wait_seconds: int = 0,
    termination_wait_seconds: int = 0,
    alarms: tuple[str, ...] = (),
    **routing: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": routing_type, "WaitIntervalInSeconds": wait_seconds, **routing},
            "TerminationWaitInSeconds": termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarms]}
    return config


def slow_the_clock() -> None:
    """Stretch the bake that comes next (x10) so that the requests sent during it all land in it."""
    current().clock.set_scale(TIME_SCALE * 10)


def hurry_the_clock() -> None:
    """Let the rest of the bake pass at once (the next test gets a runtime, and a clock, of its own)."""
    current().clock.set_scale(TIME_SCALE / 100)


def percent(value: int) -> dict[str, Any]:
    return {"Type": "CAPACITY_PERCENT", "Value": value}


def create_new_fleet_error_alarm() -> None:
    """An alarm on the variant's 5XX errors, as a deployment guardrail would watch them."""
    client("cloudwatch").put_metric_alarm(
        AlarmName=NEW_FLEET_ALARM,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": VARIANT}],
        Statistic="Sum",
        Period=600,  # 6 s of wall time: the errors stay in the evaluated period even on a busy machine
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )


def _answered(endpoint: Endpoint, body: bytes) -> str | None:
    """The error a request met, or None when it was answered."""
    try:
        endpoint.invoke(body)
    except ClientError as error:
        return str(error)
    return None


def model_of(body: bytes, boosters: dict[str, xgboost.Booster], rows: npt.NDArray[np.float32]) -> str:
    """Which model answered: the one whose prediction for ``rows`` the body holds."""
    answered = np.array(body.decode().split("\n"), dtype=np.float32)
    [name] = [name for name, booster in boosters.items() if np.array_equal(answered, booster.inplace_predict(rows))]
    return name


def assert_serves(endpoint: Endpoint, variant: str, booster: xgboost.Booster, rows: npt.NDArray[np.float32]) -> None:
    """The endpoint describes one variant, and that variant answers requests with ``booster``'s predictions."""
    assert [v["VariantName"] for v in endpoint.describe()["ProductionVariants"]] == [variant]
    body, served = endpoint.invoke(csv_body(rows))
    assert served == variant
    np.testing.assert_array_equal(np.array(body.decode().split("\n"), dtype=np.float32), booster.inplace_predict(rows))


# --- traffic steps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ({"Type": "ALL_AT_ONCE"}, [1.0]),
        ({"Type": "CANARY", "CanarySize": percent(20)}, [0.2, 1.0]),
        ({"Type": "CANARY", "CanarySize": percent(80)}, [0.5, 1.0]),  # a canary is at most half the traffic
        ({"Type": "LINEAR", "LinearStepSize": percent(25)}, [0.25, 0.5, 0.75, 1.0]),
        ({"Type": "LINEAR", "LinearStepSize": percent(40)}, [0.4, 0.8, 1.0]),
        ({"Type": "LINEAR", "LinearStepSize": percent(20)}, [0.2, 0.4, 0.6, 0.8, 1.0]),
    ],
)
def test_traffic_steps_of_each_routing_type(routing: dict[str, Any], expected: list[float]) -> None:
    assert local_sagemaker._traffic_steps(routing) == pytest.approx(expected)


def test_a_ten_percent_linear_rollout_has_ten_steps() -> None:
    steps = local_sagemaker._traffic_steps({"Type": "LINEAR", "LinearStepSize": percent(10)})

    assert steps == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


# --- blue/green rollouts -------------------------------------------------------------------------


def test_a_canary_serves_the_canary_share_then_completes_on_the_new_config(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    create_new_fleet_error_alarm()  # watched, and quiet: model B is healthy
    deployment = blue_green("CANARY", wait_seconds=300, alarms=(NEW_FLEET_ALARM,), CanarySize=percent(20))
    body = csv_body(features[:1])

    slow_the_clock()  # the 300 s canary lasts 30 s of wall time

    with watching() as seen:
        endpoint.update(CONFIG_B, deployment)
        wait_until(lambda: CONFIG_B in fleets(), what="the canary serving")
        canary_shares = fleets()
        served = Counter(model_of(endpoint.invoke(body)[0], boosters, features[:1]) for _ in range(300))
        assert endpoint.status() == "Updating", "the requests were all served during the canary"
        with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
            endpoint.update(CONFIG_A)
        hurry_the_clock()
        described = endpoint.wait_in_service()

    assert canary_shares == {CONFIG_A: 0.8, CONFIG_B: 0.2}
    assert chi_square(served, {MODEL_A: 0.8, MODEL_B: 0.2}) < CHI_SQUARE_CRITICAL_DF1_P001, served
    assert seen.statuses == ["InService", "Updating", "InService"]
    assert seen.green_shares[0] == 0.2
    assert set(seen.green_shares) <= {0.2, 1.0}
    assert described["EndpointConfigName"] == CONFIG_B
    assert "FailureReason" not in described
    assert fleets() == {CONFIG_B: 1.0}
    assert_serves(endpoint, VARIANT, boosters[MODEL_B], features[:6])


def test_a_linear_rollout_shifts_traffic_in_equal_steps(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    with watching() as seen:
        started = time.monotonic()
        endpoint.update(CONFIG_B, blue_green("LINEAR", wait_seconds=60, LinearStepSize=percent(25)))
        described = endpoint.wait_in_service()
        elapsed = time.monotonic() - started

    assert seen.statuses == ["InService", "Updating", "InService"]
    assert seen.green_shares[:3] == [0.25, 0.5, 0.75]
    assert set(seen.green_shares) <= {0.25, 0.5, 0.75, 1.0}
    assert elapsed >= 3 * 60 * TIME_SCALE * 0.9, "three bakes of WaitIntervalInSeconds"
    assert described["EndpointConfigName"] == CONFIG_B
    assert fleets() == {CONFIG_B: 1.0}
    assert_serves(endpoint, VARIANT, boosters[MODEL_B], features[:6])


def test_all_at_once_moves_all_traffic_then_waits_before_retiring_the_old_fleet(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    slow_the_clock()  # the 100 s termination wait lasts 10 s of wall time

    with watching() as seen:
        endpoint.update(CONFIG_B, blue_green("ALL_AT_ONCE", termination_wait_seconds=100))
        wait_until(lambda: CONFIG_B in fleets(), what="the new fleet serving")
        during = fleets()
        served = {model_of(endpoint.invoke(csv_body(features[:1]))[0], boosters, features[:1]) for _ in range(30)}
        assert endpoint.status() == "Updating", "the old fleet is kept for TerminationWaitInSeconds"
        hurry_the_clock()
        described = endpoint.wait_in_service()

    assert during == {CONFIG_B: 1.0}
    assert served == {MODEL_B}
    assert seen.statuses == ["InService", "Updating", "InService"]
    assert seen.green_shares == [1.0]
    assert described["EndpointConfigName"] == CONFIG_B
    assert_serves(endpoint, VARIANT, boosters[MODEL_B], features[:6])


def test_an_update_without_deployment_config_switches_at_once(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    endpoint.update(CONFIG_B)

    assert endpoint.wait_in_service()["EndpointConfigName"] == CONFIG_B
    assert_serves(endpoint, VARIANT, boosters[MODEL_B], features[:6])


def test_a_failing_canary_trips_its_alarm_and_rolls_back_to_the_old_config(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    create_new_fleet_error_alarm()
    current().alarms.start()
    current().faults.degrade_model(MODEL_B, error_rate=1.0)
    deployment = blue_green("CANARY", wait_seconds=3000, alarms=(NEW_FLEET_ALARM,), CanarySize=percent(20))

    with watching() as seen:
        started = time.monotonic()
        endpoint.update(CONFIG_B, deployment)
        wait_until(lambda: CONFIG_B in fleets(), what="the canary serving")
        # A guarded rollout keeps the variant name, so the canary is reached by sending enough requests.
        answers = [_answered(endpoint, csv_body(features[:1])) for _ in range(200)]
        # At least one answer from the canary; on a loaded machine the alarm may roll it back after a few.
        errors = [answer for answer in answers if answer is not None][:3]
        assert errors, "the canary never answered"
        assert all("Received server error (500)" in error for error in errors)
        described = endpoint.wait_in_service(timeout=60)
        elapsed = time.monotonic() - started

    # The alarm went to ALARM; by now it may be back to OK: once the canary is gone its period holds
    # no errors (missing data is not breaching), and on a loaded machine that period (6 s) has passed.
    assert (NEW_FLEET_ALARM, "ALARM") in [(name, new) for name, _old, new in current().alarms.transitions]
    assert seen.statuses == ["InService", "Updating", "RollingBack", "InService"]
    assert seen.green_shares[0] == 0.2
    assert 1.0 not in seen.green_shares, "the rollout never went past the canary"
    assert elapsed < 3000 * TIME_SCALE / 2, "rolled back as soon as the alarm fired, not after the bake"
    assert described["EndpointConfigName"] == CONFIG_A
    assert described["FailureReason"] == f"Deployment rolled back: alarm(s) {NEW_FLEET_ALARM} went to ALARM"
    assert fleets() == {CONFIG_A: 1.0}
    assert_serves(endpoint, VARIANT, boosters[MODEL_A], features[:6])


def test_an_alarm_set_by_hand_during_the_bake_rolls_back(endpoint: Endpoint) -> None:
    create_new_fleet_error_alarm()
    deployment = blue_green("LINEAR", wait_seconds=3000, alarms=(NEW_FLEET_ALARM,), LinearStepSize=percent(50))

    endpoint.update(CONFIG_B, deployment)
    wait_until(lambda: CONFIG_B in fleets(), what="the first step serving")
    client("cloudwatch").set_alarm_state(AlarmName=NEW_FLEET_ALARM, StateValue="ALARM", StateReason="by hand")
    described = endpoint.wait_in_service()

    assert described["EndpointConfigName"] == CONFIG_A
    assert NEW_FLEET_ALARM in described["FailureReason"]
    assert fleets() == {CONFIG_A: 1.0}


def test_a_new_config_whose_model_cannot_load_leaves_the_endpoint_on_the_old_one(endpoint: Endpoint) -> None:
    register_model(endpoint.sagemaker, "model-missing", artefact=None)
    create_config(endpoint.sagemaker, "config-broken", {VARIANT: ("model-missing", 1.0)}, instances=INSTANCES)

    endpoint.update("config-broken", blue_green("ALL_AT_ONCE"))
    described = endpoint.wait_in_service()

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == CONFIG_A
    assert described["FailureReason"].startswith("Failed to load the new model")
    assert fleets() == {CONFIG_A: 1.0}


def test_update_endpoint_refuses_unknown_endpoints_and_configs(endpoint: Endpoint) -> None:
    with pytest.raises(
        ClientError, match=r'Could not find endpoint configuration "arn:aws:sagemaker:.*:endpoint-config/config-nope"'
    ):
        endpoint.update("config-nope")
    with pytest.raises(ClientError, match=r'Could not find endpoint "arn:aws:sagemaker:.*:endpoint/nope"'):
        endpoint.sagemaker.update_endpoint(EndpointName="nope", EndpointConfigName=CONFIG_B)
    assert endpoint.status() == "InService"


# --- UpdateEndpointWeightsAndCapacities ----------------------------------------------------------


@pytest.fixture
def two_variant_endpoint(endpoint: Endpoint) -> Endpoint:
    create_config(endpoint.sagemaker, "config-ab", {BLUE: (MODEL_A, 3.0), GREEN: (MODEL_B, 1.0)})
    endpoint.update("config-ab")
    endpoint.wait_in_service()
    assert shares() == {BLUE: 0.75, GREEN: 0.25}
    return endpoint


def change_weights(endpoint: Endpoint, **weights: float) -> None:
    endpoint.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=ENDPOINT,
        DesiredWeightsAndCapacities=[
            {"VariantName": name, "DesiredWeight": weight} for name, weight in weights.items()
        ],
    )


def test_new_variant_weights_change_the_routing(two_variant_endpoint: Endpoint) -> None:
    endpoint = two_variant_endpoint

    change_weights(endpoint, blue=1.0, green=1.0)
    wait_until(lambda: shares() == {BLUE: 0.5, GREEN: 0.5}, what="the new weights applied")
    described = endpoint.wait_in_service()

    assert {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]} == {BLUE: 1.0, GREEN: 1.0}
    change_weights(endpoint, blue=0.0)
    wait_until(lambda: shares() == {GREEN: 1.0}, what="blue drained")
    assert {endpoint.invoke(b"0," * 29 + b"0")[1] for _ in range(20)} == {GREEN}


def test_an_endpoint_is_updating_until_its_new_weights_route_traffic(
    two_variant_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = two_variant_endpoint
    monkeypatch.setattr(local_sagemaker, "WEIGHT_UPDATE_SECONDS", 100)  # 1 s: ample time to look

    change_weights(endpoint, blue=1.0, green=1.0)
    routing = shares()
    described = endpoint.describe()

    assert routing == {BLUE: 0.75, GREEN: 0.25}, "the new weights take a while to apply"
    assert described["EndpointStatus"] == "Updating"
    endpoint.wait_in_service()
    assert shares() == {BLUE: 0.5, GREEN: 0.5}


def test_changing_only_a_weight_keeps_the_instance_count(two_variant_endpoint: Endpoint) -> None:
    endpoint = two_variant_endpoint

    change_weights(endpoint, blue=1.0)
    described = endpoint.wait_in_service()

    blue = next(v for v in described["ProductionVariants"] if v["VariantName"] == BLUE)
    assert blue.get("CurrentInstanceCount") == 1


# --- training jobs -------------------------------------------------------------------------------


def upload_dataset() -> None:
    support.upload_dataset(REGION, BUCKET, rows=300, train_rows=220)


def start_training(name: str, hyperparameters: dict[str, str]) -> Any:
    upload_dataset()
    return support.start_training_job(
        REGION, name, image=XGBOOST_IMAGE, role_arn=ROLE_ARN, bucket=BUCKET, hyperparameters=hyperparameters
    )


def finished(sagemaker: Any, name: str) -> dict[str, Any]:
    return support.training_job_ended(sagemaker, name, timeout=120, what="finishing")


def test_a_training_job_produces_a_model_artefact_and_final_metrics(
    aws: None, features: npt.NDArray[np.float32], tmp_path: Any
) -> None:
    hyperparameters = {"objective": "binary:logistic", "num_round": "10", "max_depth": "3", "eval_metric": "auc"}
    sagemaker = start_training("train-ok", hyperparameters)
    assert sagemaker.describe_training_job(TrainingJobName="train-ok")["TrainingJobStatus"] == "InProgress"

    described = finished(sagemaker, "train-ok")

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["SecondaryStatus"] == "Completed"
    assert "FailureReason" not in described
    metrics = {metric["MetricName"]: metric["Value"] for metric in described["FinalMetricDataList"]}
    assert set(metrics) == {"train:auc", "validation:auc"}
    assert 0.9 < metrics["validation:auc"] <= 1.0
    artefact_uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artefact_uri == f"s3://{BUCKET}/output/train-ok/output/model.tar.gz"
    artefact = client("s3").get_object(Bucket=BUCKET, Key=artefact_uri.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    model = load_model(artefact, tmp_path)
    assert model.num_features == 30
    predictions = model.predict(features[:5])
    assert ((predictions > 0) & (predictions < 1)).all()
    assert described["TrainingEndTime"] >= described["TrainingStartTime"]


@pytest.mark.parametrize(
    ("hyperparameters", "reason"),
    [
        pytest.param(
            {"objective": "binary:logistic", "num_round": "-1"},
            "Hyperparameter num_round must be a positive integer; got '-1'",
            id="negative-num_round",
        ),
        pytest.param(
            {"objective": "nope", "num_round": "5"}, "Unknown objective function: `nope`", id="unknown-objective"
        ),
    ],
)
def test_a_training_job_with_bad_hyperparameters_fails_naming_the_problem(
    aws: None, hyperparameters: dict[str, str], reason: str
) -> None:
    sagemaker = start_training("train-bad", hyperparameters)

    described = finished(sagemaker, "train-bad")

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: ")
    assert reason in described["FailureReason"]
    assert described.get("FinalMetricDataList", []) == []
    artefact_key = "output/train-bad/output/model.tar.gz"
    assert client("s3").list_objects_v2(Bucket=BUCKET, Prefix=artefact_key).get("KeyCount") == 0
