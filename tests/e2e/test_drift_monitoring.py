"""Production monitoring end to end: capture, the hourly drift monitor, the drift alarm and its action.

The stack captures every request (DataCapturePercent=100). Traffic drawn from the training data
does not drift; traffic whose first and third features are scaled by 1.6 does, the monitor's metric
crosses the drift alarm's threshold, the alarm's state change reaches DriftActionFunction through
EventBridge, and a ``model.drift_detected`` notification names the features.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e

CloudFactory = Callable[..., OfflineCloud]
SHIFTED = (0, 2)


def send_traffic(cloud: OfflineCloud, scale: float = 1.0, batch: int = 100) -> int:
    """Every row of the dataset as requests of ``batch`` rows; the SHIFTED features multiplied by ``scale``."""
    features, _labels = load_breast_cancer(return_X_y=True)
    features = features.copy()
    features[:, list(SHIFTED)] *= scale
    for start in range(0, len(features), batch):
        rows = features[start : start + batch]
        cloud.invoke_endpoint("\n".join(",".join(f"{v:.6g}" for v in row) for row in rows) + "\n")
    return len(features)


def wait_for_note(cloud: OfflineCloud, event: str, timeout: float = 60.0) -> Notification:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [n for n in cloud.notifications() if n.event == event]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise TimeoutError(f"no {event} notification: {[n.event for n in cloud.notifications()]}")


def read_json(cloud: OfflineCloud, uri: str) -> dict[str, object]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    loaded: dict[str, object] = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return loaded


def test_shifted_traffic_raises_the_drift_alarm_and_a_notification_names_the_features(
    cloud_factory: CloudFactory,
) -> None:
    cloud = cloud_factory(DataCapturePercent="100", DriftMinRows="500")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)
    assert run["status"] == "SUCCEEDED"
    bucket = cloud.output("ArtifactBucketName")
    listed = cloud.client("s3").list_objects_v2(Bucket=bucket, Prefix="runs/")
    baselines = sorted(o["Key"] for o in listed["Contents"] if "/baseline/" in o["Key"])
    assert [key.rsplit("/", 1)[1] for key in baselines] == ["constraints.json", "statistics.json"]

    rows = send_traffic(cloud)
    steady = cloud.fire_schedule("DriftMonitorSchedule")
    assert steady["judged"] is True, steady
    assert steady["rows"] == rows
    assert steady["max_distance"] < 0.1
    assert steady["drifting_features"] == []

    send_traffic(cloud, scale=1.6)
    shifted = cloud.fire_schedule("DriftMonitorSchedule")
    assert shifted["rows"] == 2 * rows
    assert set(shifted["drifting_features"]) >= {f"_c{i}" for i in SHIFTED}
    violations = read_json(cloud, f"{shifted['report_uri']}constraint_violations.json")["violations"]
    assert {v["constraint_check_type"] for v in violations} == {"baseline_drift_check"}  # type: ignore[union-attr]

    note = wait_for_note(cloud, "model.drift_detected")
    named = {f["feature"] for f in note.body["details"]["drifting_features"]}
    assert named >= {"_c0", "_c2"}
    assert note.body["details"]["threshold"] == 0.1
    assert note.body["details"]["baseline"].endswith("/baseline/statistics.json")
    assert "features drift in 1138 captured rows" in note.body["reason"]
    alarm = cloud.client("cloudwatch").describe_alarms(AlarmNamePrefix=cloud.stack_name)["MetricAlarms"]
    assert any(a["MetricName"] == "max_feature_baseline_drift" and a["StateValue"] == "ALARM" for a in alarm)
    assert len(cloud.executions()) == 1, "DriftAction=notify starts no run"


def test_a_production_model_whose_baseline_is_unreadable_is_reported_once(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(DataCapturePercent="100")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    s3 = cloud.client("s3")
    bucket = cloud.output("ArtifactBucketName")
    for item in s3.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]:
        if item["Key"].endswith("/baseline/statistics.json"):
            s3.put_object(Bucket=bucket, Key=item["Key"], Body=b"{truncated")

    first = cloud.fire_schedule("DriftMonitorSchedule")
    second = cloud.fire_schedule("DriftMonitorSchedule")

    assert first["status"] == second["status"] == "failed"
    failed = [n for n in cloud.notifications() if n.event == "monitoring.failed"]
    assert len(failed) == 1, "one notification per production model, not one an hour"
    assert "cannot be read" in failed[0].body["reason"]


def test_drift_action_retrain_starts_a_run_on_newer_data(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(DataCapturePercent="100", DriftMinRows="500", DriftAction="retrain")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    # A newer drop whose event was lost: only the drift action will train on it.
    cloud.set_ingest(False)
    cloud.upload("incoming/cancer-2.csv", breast_cancer_csv(seed=3))
    cloud.set_ingest(True)

    send_traffic(cloud, scale=1.6)
    cloud.fire_schedule("DriftMonitorSchedule")
    note = wait_for_note(cloud, "model.drift_detected")
    runs = cloud.wait_for_executions(2, timeout=300)

    assert note.body["details"]["retrain"]["started"] is True
    assert "retraining on the newest drop" in note.body["reason"]
    described = cloud.client("stepfunctions").describe_execution(executionArn=runs[-1]["executionArn"])
    assert json.loads(described["input"])["trigger"] == "drift"
    assert json.loads(described["input"])["dataset"]["uri"].endswith("incoming/cancer-2.csv")
    assert runs[-1]["status"] == "SUCCEEDED"


def test_capture_records_follow_sagemakers_format(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(DataCapturePercent="100")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    send_traffic(cloud, batch=300)
    s3 = cloud.client("s3")
    bucket = cloud.output("ArtifactBucketName")
    endpoint = cloud.output("EndpointName")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/")["Contents"]]
    records = [
        json.loads(line) for key in keys for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    ]

    assert len(records) == 2
    assert all(key.split("/")[2] == "primary" for key in keys)
    first = records[0]["captureData"]
    assert first["endpointInput"]["encoding"] == "CSV"
    assert len(first["endpointInput"]["data"].splitlines()) in (300, 269)
    assert np.isfinite([float(v) for v in first["endpointOutput"]["data"].split()]).all()
    head = s3.head_object(Bucket=bucket, Key=keys[0])
    assert head["ServerSideEncryption"] == "aws:kms", "captured under the stack's KMS key"


def test_ground_truth_gives_the_live_metric_and_its_fall_rolls_the_model_back(cloud_factory: CloudFactory) -> None:
    cloud = cloud_factory(
        DataCapturePercent="100",
        ModelQualityMetricName="live_auc",
        ModelQualityThreshold="0.8",
        GroundTruthMinRows="100",
    )
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=300)
    cloud.upload("incoming/cancer-again.csv", breast_cancer_csv())  # ties the gate: promoted
    runs = cloud.wait_for_executions(2, timeout=300)
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    endpoint = cloud.output("EndpointName")
    sagemaker = cloud.client("sagemaker")
    serving = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]

    features, labels = load_breast_cancer(return_X_y=True)
    runtime = cloud.client("sagemaker-runtime")
    truth_lines = []
    for start in range(0, 300, 10):
        rows = "\n".join(",".join(f"{v:.6g}" for v in row) for row in features[start : start + 10]) + "\n"
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=rows, InferenceId=f"req-{start}")
        # The opposite of the truth: a model that was right is now always wrong.
        wrong = "\n".join(str(1 - int(y)) for y in labels[start : start + 10])
        record = {"groundTruthData": {"data": wrong, "encoding": "CSV"}, "eventMetadata": {"eventId": f"req-{start}"}}
        truth_lines.append(json.dumps({**record, "eventVersion": "0"}))
    truth_lines.append(
        json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "nobody"}})
    )
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(cloud.clock.now()))
    cloud.upload(f"ground-truth/{hour}/labels.jsonl", "\n".join(truth_lines).encode())

    result = cloud.fire_schedule("DriftMonitorSchedule")
    live = result["live_quality"]
    assert live["metric"] == "live_auc"
    assert live["value"] < 0.1, "predictions against inverted labels"
    assert (live["matched_rows"], live["unmatched_labels"]) == (300, 1)

    [rollback] = cloud.wait_for_rollbacks(1, timeout=120)
    assert rollback["status"] == "SUCCEEDED"
    note = wait_for_note(cloud, "deployment.rolled_back")
    assert f"{cloud.stack_name}-tabular-quality" in note.body["reason"]
    restored = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    assert restored != serving, "the first model's config serves again"
