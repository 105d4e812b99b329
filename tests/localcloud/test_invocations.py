"""InvokeEndpoint on the offline cloud: real predictions, weighted routing, SageMaker's errors and metrics.

Each test gets a fresh in-process moto with the offline runtime installed and one endpoint serving two
real XGBoost models (variants ``heavy`` and ``light``, weights 3:1); no template is deployed.
"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xgboost
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import ACCOUNT_ID
from localcloud.invocations import InvocationCounters
from localcloud.runtime import Runtime, current
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
BUCKET = "localcloud-invocations-models"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/sagemaker-execution"
ENDPOINT = "scoring"
# variant -> (model, weight)
VARIANTS = {"heavy": ("model-heavy", 3.0), "light": ("model-light", 1.0)}
CHI_SQUARE_CRITICAL_DF1_P001 = 10.83


# --- models ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def features() -> npt.NDArray[np.float32]:
    rows, _ = load_breast_cancer(return_X_y=True)
    return rows.astype(np.float32)


@pytest.fixture(scope="module")
def boosters(features: npt.NDArray[np.float32]) -> dict[str, xgboost.Booster]:
    """Two different models on the same data, so a prediction tells which one answered."""
    _, labels = load_breast_cancer(return_X_y=True)
    matrix = xgboost.DMatrix(features, label=labels)
    return {
        "model-heavy": xgboost.train({"objective": "binary:logistic", "max_depth": 4, "seed": 1}, matrix, 12),
        "model-light": xgboost.train({"objective": "binary:logistic", "max_depth": 1, "seed": 2}, matrix, 3),
    }


def model_tar_gz(booster: xgboost.Booster) -> bytes:
    """The built-in XGBoost container's artefact: a tarball holding ``xgboost-model``."""
    model = bytes(booster.save_raw(raw_format="json"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(model)
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


def csv_body(rows: npt.NDArray[np.float32]) -> bytes:
    return "\n".join(",".join(repr(float(value)) for value in row) for row in rows).encode()


def parse_predictions(body: bytes) -> npt.NDArray[np.float32]:
    return np.array([float(line) for line in body.decode().split("\n")], dtype=np.float32)


# --- the offline cloud ---------------------------------------------------------------------------


client = partial(support.client, region=REGION)
wait_until = partial(support.wait_until, timeout=30.0)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    # A runtime of its own per test.
    with support.offline_cloud(
        monkeypatch, REGION, time_scale=TIME_SCALE, settle=lambda runtime: runtime.sagemaker.wait_idle(timeout=30)
    ) as runtime:
        yield runtime


@dataclass
class Endpoint:
    """The serving endpoint as a caller sees it: InvokeEndpoint and its CloudWatch metrics."""

    name: str
    runtime: Any
    cloudwatch: Any

    def invoke(
        self, body: bytes, target_variant: str | None = None, content_type: str = "text/csv"
    ) -> tuple[bytes, str]:
        extra = {"TargetVariant": target_variant} if target_variant else {}
        response = self.runtime.invoke_endpoint(EndpointName=self.name, ContentType=content_type, Body=body, **extra)
        return response["Body"].read(), response["InvokedProductionVariant"]

    def invoke_error(self, body: bytes, **kwargs: Any) -> dict[str, Any]:
        with pytest.raises(ClientError) as caught:
            self.invoke(body, **kwargs)
        response: dict[str, Any] = caught.value.response
        return response

    def statistics(self, metric: str, variant: str, statistics: list[str]) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC)
        datapoints: list[dict[str, Any]] = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[{"Name": "EndpointName", "Value": self.name}, {"Name": "VariantName", "Value": variant}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(minutes=5),
            Period=3600,
            Statistics=statistics,
        )["Datapoints"]
        return datapoints

    def total(self, metric: str, variant: str) -> float:
        return sum(point["Sum"] for point in self.statistics(metric, variant, ["Sum"]))


@pytest.fixture
def endpoint(aws: None, boosters: dict[str, xgboost.Booster]) -> Endpoint:
    """An InService endpoint whose config has the two variants, weighted 3:1."""
    s3, sm = client("s3"), client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    for model_name, booster in boosters.items():
        key = f"{model_name}/model.tar.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=model_tar_gz(booster))
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": "xgboost:1.7-1", "ModelDataUrl": f"s3://{BUCKET}/{key}"},
        )
    sm.create_endpoint_config(
        EndpointConfigName=f"{ENDPOINT}-config",
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, (model_name, weight) in VARIANTS.items()
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"{ENDPOINT}-config")
    wait_until(
        lambda: sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] in {"InService", "Failed"},
        what="endpoint InService",
    )
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return Endpoint(ENDPOINT, client("sagemaker-runtime"), client("cloudwatch"))


def chi_square(observed: dict[str, int], shares: dict[str, float]) -> float:
    total = sum(observed.values())
    return sum((observed.get(name, 0) - total * share) ** 2 / (total * share) for name, share in shares.items())


# --- predictions and routing ---------------------------------------------------------------------


def test_invoke_returns_one_prediction_per_row_from_the_variant_that_answered(
    endpoint: Endpoint, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    rows = features[:7]

    body, variant = endpoint.invoke(csv_body(rows))

    assert variant in VARIANTS
    predictions = parse_predictions(body)
    assert predictions.shape == (7,)
    expected = boosters[VARIANTS[variant][0]].inplace_predict(rows)
    np.testing.assert_array_equal(predictions, expected)


def test_weighted_routing_matches_the_variant_weights(endpoint: Endpoint, features: npt.NDArray[np.float32]) -> None:
    body = csv_body(features[:1])
    requests = 2000

    served = Counter(endpoint.invoke(body)[1] for _ in range(requests))

    assert sum(served.values()) == requests
    assert chi_square(served, {"heavy": 0.75, "light": 0.25}) < CHI_SQUARE_CRITICAL_DF1_P001, served
    # The test has the power to tell the weights apart: an even split is rejected outright.
    assert chi_square(served, {"heavy": 0.5, "light": 0.5}) > CHI_SQUARE_CRITICAL_DF1_P001, served
    for variant in VARIANTS:
        assert endpoint.total("Invocations", variant) == served[variant]
        assert endpoint.total("Invocation4XXErrors", variant) == 0
        assert endpoint.total("Invocation5XXErrors", variant) == 0


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_target_variant_header_routes_every_request_to_that_variant(
    endpoint: Endpoint, variant: str, features: npt.NDArray[np.float32], boosters: dict[str, xgboost.Booster]
) -> None:
    rows = features[10:13]
    expected = boosters[VARIANTS[variant][0]].inplace_predict(rows)

    answers = [endpoint.invoke(csv_body(rows), target_variant=variant) for _ in range(40)]

    assert {served for _, served in answers} == {variant}
    for body, _ in answers:
        np.testing.assert_array_equal(parse_predictions(body), expected)
    other = next(name for name in VARIANTS if name != variant)
    assert endpoint.total("Invocations", variant) == 40
    assert endpoint.statistics("Invocations", other, ["Sum"]) == []


# --- errors --------------------------------------------------------------------------------------


def test_unknown_endpoint_is_a_validation_error(endpoint: Endpoint, features: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ClientError) as caught:
        endpoint.runtime.invoke_endpoint(
            EndpointName="no-such-endpoint", ContentType="text/csv", Body=csv_body(features[:1])
        )

    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "no-such-endpoint" in caught.value.response["Error"]["Message"]


def test_a_deleted_endpoint_no_longer_serves(endpoint: Endpoint, features: npt.NDArray[np.float32]) -> None:
    client("sagemaker").delete_endpoint(EndpointName=ENDPOINT)

    response = endpoint.invoke_error(csv_body(features[:1]))

    assert response["Error"]["Code"] == "ValidationError"


def test_unknown_target_variant_is_a_validation_error(endpoint: Endpoint, features: npt.NDArray[np.float32]) -> None:
    response = endpoint.invoke_error(csv_body(features[:1]), target_variant="nope")

    assert response["Error"]["Code"] == "ValidationError"
    assert "nope" in response["Error"]["Message"]
    assert sum(endpoint.total("Invocations", variant) for variant in VARIANTS) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"1.0,abc\n", "text/csv", 400, "'abc' is not a number"),
        (b"1.0,2.0,3.0\n", "text/csv", 400, "payload rows have 3 features; the model expects 30"),
        (b"", "text/csv", 400, "payload is empty"),
        (b'{"instances": [[1, 2]]}', "application/json", 415, "application/json is not supported"),
    ],
)
def test_a_request_the_container_rejects_is_a_model_error_counted_as_4xx(
    endpoint: Endpoint, body: bytes, content_type: str, status: int, message: str
) -> None:
    response = endpoint.invoke_error(body, target_variant="light", content_type=content_type)

    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == status
    assert message in response["OriginalMessage"]
    assert f"Received client error ({status})" in response["Error"]["Message"]
    assert endpoint.total("Invocations", "light") == 1
    assert endpoint.total("Invocation4XXErrors", "light") == 1
    assert endpoint.total("Invocation5XXErrors", "light") == 0
    assert endpoint.statistics("ModelLatency", "light", ["SampleCount"]) == [], "no model latency for a rejection"


def test_a_failing_model_is_a_model_error_with_original_status_500_counted_as_5xx(
    endpoint: Endpoint, features: npt.NDArray[np.float32]
) -> None:
    current().faults.degrade_model("model-heavy", error_rate=1.0)
    body = csv_body(features[:2])

    failures = [endpoint.invoke_error(body, target_variant="heavy") for _ in range(3)]
    _, healthy = endpoint.invoke(body, target_variant="light")

    for response in failures:
        assert response["Error"]["Code"] == "ModelError"
        assert response["OriginalStatusCode"] == 500
        assert "injected model error in model-heavy" in response["OriginalMessage"]
        assert "Received server error (500)" in response["Error"]["Message"]
    assert healthy == "light", "the other model is unaffected"
    assert endpoint.total("Invocations", "heavy") == 3
    assert endpoint.total("Invocation5XXErrors", "heavy") == 3
    assert endpoint.total("Invocation4XXErrors", "heavy") == 0
    assert endpoint.total("Invocation5XXErrors", "light") == 0


# --- metrics -------------------------------------------------------------------------------------


def test_invocations_publish_sagemaker_metrics_per_variant(
    endpoint: Endpoint, features: npt.NDArray[np.float32]
) -> None:
    body = csv_body(features[:5])
    for _ in range(4):
        endpoint.invoke(body, target_variant="heavy")
    endpoint.invoke(body, target_variant="light")

    listed = endpoint.cloudwatch.list_metrics(
        Namespace="AWS/SageMaker", Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}]
    )["Metrics"]
    published = {
        (metric["MetricName"], {d["Name"]: d["Value"] for d in metric["Dimensions"]}["VariantName"])
        for metric in listed
    }
    names = {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency", "OverheadLatency"}
    assert published == {(name, variant) for name in names for variant in VARIANTS}
    assert all({d["Name"] for d in metric["Dimensions"]} == {"EndpointName", "VariantName"} for metric in listed)
    assert endpoint.total("Invocations", "heavy") == 4
    assert endpoint.total("Invocations", "light") == 1
    [latency] = endpoint.statistics("ModelLatency", "heavy", ["SampleCount", "Minimum", "Maximum"])
    assert latency["SampleCount"] == 4
    assert latency["Unit"] == "Microseconds"
    assert 0 < latency["Minimum"] <= latency["Maximum"] < 5_000_000, "microseconds, not seconds or nanoseconds"
    [overhead] = endpoint.statistics("OverheadLatency", "heavy", ["Minimum"])
    assert overhead["Unit"] == "Microseconds"
    assert overhead["Minimum"] >= 0
    assert current().invocations.get(ENDPOINT, "heavy") == InvocationCounters(4, 0, 0)
