"""The non-regression gate end to end: batch transforms of the golden rows, compared row by row.

The golden rows are the production model's held-out validation split. A candidate trained on the
same data answers them as production does, up to float32 rounding (production serves the
Neo-compiled model, the candidate answers uncompiled: 1e-7 apart), and passes a tolerance of 1e-5
with no decision changed; a candidate
the quality gate lets through by mistake (here the gate is told that a lower AUC is better) changes
too many decisions and is rejected with the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]


def read_json(cloud: OfflineCloud, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    loaded: dict[str, Any] = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return loaded


def packages(cloud: OfflineCloud) -> list[dict[str, Any]]:
    sagemaker = cloud.client("sagemaker")
    group = cloud.output("ModelPackageGroupName")
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Ascending")
    return [
        sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"])
        for p in listed["ModelPackageSummaryList"]
    ]


def test_a_candidate_that_answers_as_production_does_passes_and_its_package_names_the_report(
    cloud_factory: CloudFactory,
) -> None:
    cloud = cloud_factory(NonRegressionMaxAbsDiff="0.00001", NonRegressionMaxDisagreement="0")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    cloud.upload("incoming/cancer-again.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=300)

    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [n.event for n in cloud.notifications()] == ["pipeline.succeeded", "pipeline.succeeded"]
    first, second = packages(cloud)
    assert first["CustomerMetadataProperties"]["non_regression_report"].startswith("none: no model in production")
    report = read_json(cloud, second["CustomerMetadataProperties"]["non_regression_report"])
    assert report["golden_uri"].endswith("/data/validation/"), "the production model's held-out split"
    assert report["rows"] > 50
    assert report["max_abs_diff"] < 1e-5
    assert report["disagreement"] == 0.0
    assert report["latency"]["not_compared"] == "the xgboost training container does not time its model"
    transforms = cloud.client("sagemaker").list_transform_jobs()["TransformJobSummaries"]
    assert sorted(t["TransformJobStatus"] for t in transforms) == ["Completed", "Completed"]


def test_a_candidate_that_changes_too_many_decisions_is_rejected_with_the_report(cloud_factory: CloudFactory) -> None:
    # A gate told that lower is better promotes a model trained on noisy labels; the golden rows catch it.
    cloud = cloud_factory(MetricDirection="minimize")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    serving = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    cloud.upload("incoming/noisy.csv", breast_cancer_csv(label_noise=0.35, seed=4))
    runs = cloud.wait_for_executions(2, timeout=300)

    assert runs[-1]["status"] == "SUCCEEDED", "a rejection is an outcome"
    note = [n for n in cloud.notifications() if n.event == "model.rejected"][-1]
    assert note.body["reason"].startswith("non-regression failed against the production model")
    assert "decisions changed" in note.body["reason"]
    report = read_json(cloud, note.body["details"]["non_regression_report"])
    assert report["disagreement"] > 0.1
    assert report["thresholds"] == {"max_abs_diff": 1.0, "max_disagreement": 0.1, "max_latency_increase": 0.5}
    after = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert after["EndpointConfigName"] == serving["EndpointConfigName"], "nothing was deployed"
    assert len(packages(cloud)) == 1, "a rejected candidate is not registered"
