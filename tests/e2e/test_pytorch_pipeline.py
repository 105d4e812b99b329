"""The pytorch family end to end: script-mode training, Neo for ml_g4dn, served; bad data quarantined.

The same train.py that SageMaker's PyTorch container would run trains on the uploaded CSV; the
offline Neo compiles the traced model for the GPU target (an ONNX graph ONNX Runtime optimized), and
the endpoint serves it (on the CPU here, which has no GPU). A second stack serves on an instance Neo
cannot target for PyTorch (Inferentia), so the uncompiled model is served with the Deep Learning
Containers' image.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score

from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]
FIRST_ROW = (
    "17.99,10.38,122.8,1001,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871,1.095,0.9053,8.589,153.4,0.006399,0.04904,"
    "0.05373,0.01587,0.03003,0.006193,25.38,17.33,184.6,2019,0.1622,0.6656,0.7119,0.2654,0.4601,0.1189\n"
)
HYPERPARAMETERS = json.dumps({"objective": "binary:logistic", "epochs": "15", "eval_metric": "auc"})


def only(cloud: OfflineCloud, event: str) -> Notification:
    found = [n for n in cloud.notifications() if n.event == event]
    assert len(found) == 1, [(n.event, n.body.get("reason")) for n in cloud.notifications()]
    return found[0]


def artefact_files(cloud: OfflineCloud, uri: str) -> dict[str, bytes]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_a_drop_trains_the_network_compiles_it_for_ml_g4dn_and_serves_it(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(ModelFamily="pytorch", EndpointInstanceType="ml.g4dn.xlarge", Hyperparameters=HYPERPARAMETERS)
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED"
    note = only(cloud, "pipeline.succeeded")
    assert note.body["metrics"]["candidate"] > 0.95, "validation:auc read from the script's log"
    assert "compiled with Neo for ml_g4dn and served on ml.g4dn.xlarge" in note.body["reason"]
    details = note.body["details"]
    assert details["compiled"] is True
    assert details["serving_image"].endswith("/sagemaker-inference-pytorch:2.0-gpu-py3")
    compiled = artefact_files(cloud, details["artifact"])
    manifest = json.loads(compiled["neo-pytorch.json"])
    assert (manifest["target_device"], manifest["framework_version"]) == ("ml_g4dn", "2.0")
    assert manifest["runtime"].startswith("onnxruntime ")
    assert compiled["compiled-model.onnx"].startswith(b"\x08"), "an ONNX protobuf (ir_version first)"
    assert "code/inference.py" in compiled
    # TargetSelection=configuration: served where the stack says, with the advisor's view reported.
    assert (details["instance_type"], details["instance_chosen_by"]) == ("ml.g4dn.xlarge", "configuration")
    assert details["target_advice"].startswith("ml.c5.large (Neo target ml_c5) is the cheapest instance")
    assert "not measured here: gpu" in details["target_advice"], "the training instance has no GPU"

    job = cloud.client("sagemaker").describe_training_job(
        TrainingJobName=cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"][0]["TrainingJobName"]
    )
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/pytorch-training:2.0.1-cpu-py310")
    assert job["HyperParameters"]["sagemaker_program"] == "train.py"
    assert job["HyperParameters"]["sagemaker_submit_directory"].startswith("s3://")

    features, labels = load_breast_cancer(return_X_y=True)
    rows = "\n".join(",".join(f"{v:.6g}" for v in row) for row in features[:200]) + "\n"
    answer, variant = cloud.invoke_endpoint(rows)
    predictions = np.array([float(line) for line in answer.split()])
    assert variant == "primary"
    assert predictions.shape == (200,)
    assert ((predictions >= 0) & (predictions <= 1)).all(), "probabilities, as binary:logistic answers"
    assert roc_auc_score(labels[:200], predictions) > 0.95


def test_with_target_selection_advisor_the_run_serves_where_the_advisor_says(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(
        ModelFamily="pytorch",
        EndpointInstanceType="ml.g4dn.xlarge",
        TargetSelection="advisor",
        Hyperparameters=HYPERPARAMETERS,
    )
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED"
    note = only(cloud, "pipeline.succeeded")
    details = note.body["details"]
    assert (details["instance_type"], details["instance_chosen_by"]) == ("ml.c5.large", "advisor")
    assert "compiled with Neo for ml_c5 and served on ml.c5.large" in note.body["reason"]
    assert details["serving_image"].endswith("/sagemaker-inference-pytorch:2.0-cpu-py3")
    sagemaker = cloud.client("sagemaker")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=details["endpoint_config"])
    assert [v["InstanceType"] for v in config["ProductionVariants"]] == ["ml.c5.large"]
    [compilation] = sagemaker.list_compilation_jobs()["CompilationJobSummaries"]
    assert compilation["CompilationTargetDevice"] == "ml_c5"
    answer, _variant = cloud.invoke_endpoint(FIRST_ROW)
    assert 0.0 <= float(answer) <= 1.0


def test_an_objective_no_processor_meets_keeps_the_configured_instance(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(
        ModelFamily="pytorch",
        EndpointInstanceType="ml.g4dn.xlarge",
        TargetSelection="advisor",
        MaxP99LatencyMicroseconds="1",
        Hyperparameters=HYPERPARAMETERS,
    )
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED"
    details = only(cloud, "pipeline.succeeded").body["details"]
    assert (details["instance_type"], details["instance_chosen_by"]) == ("ml.g4dn.xlarge", "configuration")
    assert details["target_advice"].startswith("no measured processor meets p99 <= 1 us at batch 1 (cpu p99 ")


def test_where_neo_cannot_target_the_instance_the_uncompiled_model_serves_with_the_dlc_image(
    cloud_factory: CloudFactory,
) -> None:
    cloud = cloud_factory(
        ModelFamily="pytorch",
        EndpointInstanceType="ml.inf1.xlarge",
        EndpointInstanceCount="1",
        AutoscalingMinInstances="1",
        Hyperparameters=HYPERPARAMETERS,
    )
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED"
    note = only(cloud, "pipeline.succeeded")
    assert "not compiled: Neo has no PyTorch target ml_inf1" in note.body["reason"]
    assert note.body["details"]["compiled"] is False
    assert note.body["details"]["serving_image"].endswith("/pytorch-inference:2.0.1-cpu-py310")
    answer, _variant = cloud.invoke_endpoint(FIRST_ROW)
    assert 0.0 <= float(answer) <= 1.0


def test_too_few_rows_to_train_is_quarantined_with_its_reason(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(ModelFamily="pytorch", Hyperparameters=HYPERPARAMETERS)
    cloud.upload("incoming/tiny.csv", breast_cancer_csv(rows=8))
    cloud.wait_for_executions(1, timeout=120)

    note: Any = only(cloud, "data.quarantined")
    assert "too-few-rows" in note.body["reason"]


def test_a_drop_whose_feature_count_differs_from_production_is_quarantined(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(ModelFamily="pytorch", Hyperparameters=HYPERPARAMETERS)
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    narrower = "\n".join(line.rsplit(",", 1)[0] for line in breast_cancer_csv().decode().splitlines()) + "\n"
    cloud.upload("incoming/cancer-29-features.csv", narrower.encode())
    runs = cloud.wait_for_executions(2, timeout=300)

    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    note: Any = only(cloud, "data.quarantined")
    assert note.body["reason"].startswith("feature-count-changed: the drop has 29 features per row")
    assert "the model in production takes 30" in note.body["reason"]


def test_the_non_regression_gate_compares_one_rows_p99_as_both_training_jobs_timed_it(
    cloud_factory: CloudFactory,
) -> None:
    from conveyor_core.release.latency_regression import NOISE_FLOOR_US

    cloud = cloud_factory(ModelFamily="pytorch", EndpointInstanceType="ml.c5.xlarge", Hyperparameters=HYPERPARAMETERS)
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    cloud.upload("incoming/cancer-again.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=300)

    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    sagemaker = cloud.client("sagemaker")
    jobs = sagemaker.list_training_jobs(SortBy="CreationTime", SortOrder="Ascending")["TrainingJobSummaries"]
    timings = [
        {
            m["MetricName"]: m["Value"]
            for m in sagemaker.describe_training_job(TrainingJobName=j["TrainingJobName"])["FinalMetricDataList"]
        }
        for j in jobs
    ]
    last = cloud.notifications()[-1]
    report = f"runs/{jobs[1]['TrainingJobName']}/non-regression/report.json"  # a run's jobs are named after it
    body = cloud.client("s3").get_object(Bucket=cloud.output("ArtifactBucketName"), Key=report)["Body"].read()
    latency = json.loads(body)["latency"]
    [cpu] = latency["processors"]
    assert cpu["production_p99_us"] == pytest.approx(timings[0]["latency:cpu:b1:p99_us"], rel=1e-6)
    assert cpu["candidate_p99_us"] == pytest.approx(timings[1]["latency:cpu:b1:p99_us"], rel=1e-6)
    slower = cpu["increase"] > 0.5 and cpu["candidate_p99_us"] - cpu["production_p99_us"] > NOISE_FLOOR_US
    # The same network on the same data is as fast, up to this machine's timer noise, which decides.
    assert last.event == ("model.rejected" if slower else "pipeline.succeeded"), last.body["reason"]
    if slower:
        assert "p99 latency of one row on cpu rose" in last.body["reason"]
