"""The data-arrival pipeline, end to end on the offline cloud.

Each test uploads a dataset to the data bucket; the template's EventBridge rule invokes the real
ingest handler, which starts the real ASL on moto's interpreter; training and compilation are
real. Each test asserts the SNS message that was sent and the state the run left behind.
"""

from __future__ import annotations

import threading
import time

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e


def _only(cloud: OfflineCloud, event: str) -> dict:
    matching = [n for n in cloud.notifications() if n.event == event]
    assert len(matching) == 1, [(n.event, n.body.get("reason")) for n in cloud.notifications()]
    assert matching[0].attributes["event"] == event
    return matching[0].body


def _endpoint(cloud: OfflineCloud) -> dict:
    return cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))


def _current(cloud: OfflineCloud) -> dict:
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.output("HistoryTableName"), Key={"pk": {"S": "model#tabular"}, "sk": {"S": "current"}}
    )
    return item.get("Item", {})


def test_dataset_upload_trains_compiles_registers_and_deploys_a_new_endpoint(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1)

    assert run["status"] == "SUCCEEDED"
    states = cloud.states_entered(run["executionArn"])
    assert states[:3] == ["Preprocess", "DatasetAccepted", "Train"]
    assert "CreateEndpoint" in states
    assert "UpdateEndpoint" not in states
    assert "FallbackArtifact" not in states, "the local compiler handles XGBoost: no fallback expected"
    body = _only(cloud, "pipeline.succeeded")
    assert body["model"] == "tabular"
    assert body["severity"] == "info"
    assert body["metrics"]["candidate"] > 0.95, "real XGBoost on breast cancer reaches AUC > 0.95"
    assert body["details"]["compiled"] is True
    assert body["execution"] == run["executionArn"]
    assert body["console_link"].startswith("https://us-east-1.console.aws.amazon.com/states/")
    endpoint = _endpoint(cloud)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == body["details"]["endpoint_config"]
    current = _current(cloud)
    assert current["endpoint_config"]["S"] == endpoint["EndpointConfigName"]
    package = cloud.client("sagemaker").describe_model_package(ModelPackageName=current["model_package_arn"]["S"])
    lineage = package["CustomerMetadataProperties"]
    assert lineage["dataset_uri"].endswith("/incoming/cancer.csv")
    assert len(lineage["dataset_sha256"]) == 64
    assert lineage["training_job"] == run["name"]
    assert float(lineage["metric_value"]) == pytest.approx(body["metrics"]["candidate"])
    assert package["ModelApprovalStatus"] == "Approved"


def test_a_worse_model_is_rejected_by_the_gate_and_the_endpoint_is_untouched(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory()
    cloud.upload("incoming/good.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    serving = _endpoint(cloud)["EndpointConfigName"]

    cloud.upload("incoming/noisy.csv", breast_cancer_csv(label_noise=0.3, seed=3))
    runs = cloud.wait_for_executions(2)

    assert runs[1]["status"] == "SUCCEEDED"
    assert "RegisterModel" not in cloud.states_entered(runs[1]["executionArn"])
    body = _only(cloud, "model.rejected")
    assert body["severity"] == "warning"
    assert body["metrics"]["candidate"] < body["metrics"]["production"]
    assert "rejected" in body["reason"]
    assert "validation:auc" in body["reason"]
    assert _endpoint(cloud)["EndpointConfigName"] == serving


def test_a_training_failure_ends_in_pipeline_failed_with_the_failure_reason(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(Hyperparameters='{"objective": "binary:nonsense", "num_round": "10"}')
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1)

    assert run["status"] == "FAILED"
    body = _only(cloud, "pipeline.failed")
    assert body["severity"] == "error"
    assert body["reason"].startswith("States.TaskFailed")
    assert "nonsense" in body["reason"], "the training job's FailureReason reaches the notification"
    job = cloud.client("sagemaker").describe_training_job(TrainingJobName=run["name"])
    assert job["TrainingJobStatus"] == "Failed"
    assert cloud.client("sagemaker").list_endpoints()["Endpoints"] == []


def test_a_compile_failure_falls_back_to_the_uncompiled_model_and_still_deploys(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    # A linear booster trains fine, but no tree compiler can compile it: Neo's failure mode.
    linear = '{"objective": "binary:logistic", "booster": "gblinear", "num_round": "20", "eval_metric": "auc"}'
    cloud = cloud_factory(Hyperparameters=linear)
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1)

    assert run["status"] == "SUCCEEDED"
    warning = _only(cloud, "compile.fallback")
    assert warning["severity"] == "warning"
    assert "FAILED" in warning["reason"]
    success = _only(cloud, "pipeline.succeeded")
    assert success["details"]["compiled"] is False
    assert success["details"]["artifact"].endswith("/model/" + run["name"] + "/output/model.tar.gz")
    assert _endpoint(cloud)["EndpointStatus"] == "InService"


def test_a_guarded_update_rolls_back_when_an_alarm_fires_during_the_bake(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(DeploymentStrategy="canary", BakeTimeSeconds="600")
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    serving = _endpoint(cloud)["EndpointConfigName"]
    alarm = cloud.output("RollbackAlarmNames").split(",")[0]

    def fire_alarm_once_the_canary_is_live() -> None:
        sagemaker = cloud.client("sagemaker")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointStatus"] == "Updating":
                cloud.client("cloudwatch").set_alarm_state(
                    AlarmName=alarm, StateValue="ALARM", StateReason="5XX errors from the canary"
                )
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=fire_alarm_once_the_canary_is_live)
    watcher.start()
    # The same data again: an equal metric passes the gate (ties promote), so a rollout starts.
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=180)
    watcher.join()

    assert runs[1]["status"] == "FAILED"
    body = _only(cloud, "deployment.rolled_back")
    assert body["severity"] == "error"
    assert body["details"]["serving_config"] == serving
    # The endpoint's FailureReason names the alarm: the notification carries it, not a guess.
    assert alarm in body["details"]["failure_reason"]
    assert "rolled back by the deployment guardrails: " in body["reason"]
    endpoint = _endpoint(cloud)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == serving, "the previous config still serves"
    rejected = cloud.client("sagemaker").describe_model_package(ModelPackageName=body["details"]["model_package"])
    assert rejected["ModelApprovalStatus"] == "Rejected"
    assert _current(cloud)["endpoint_config"]["S"] == serving


def test_malformed_data_is_quarantined_and_no_training_job_starts(cloud: OfflineCloud) -> None:
    bad = b"label,f1,f2\n" + breast_cancer_csv(rows=50)
    cloud.upload("incoming/with-header.csv", bad)

    [run] = cloud.wait_for_executions(1)

    assert run["status"] == "SUCCEEDED"
    body = _only(cloud, "data.quarantined")
    assert body["reason"].startswith("header-row")
    assert cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    s3 = cloud.client("s3")
    bucket = cloud.output("DataBucketName")
    assert s3.get_object(Bucket=bucket, Key="incoming/with-header.csv")["Body"].read() == bad
    quarantined = s3.list_objects_v2(Bucket=bucket, Prefix=f"quarantine/{run['name']}/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[1] for o in quarantined} == {"with-header.csv", "reason.json"}


def test_a_drop_during_a_run_is_queued_and_started_when_the_run_ends(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.upload("incoming/second.csv", breast_cancer_csv(label_noise=0.3, seed=5))

    runs = cloud.wait_for_executions(2, timeout=180)

    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    released = next(
        e["timestamp"]
        for e in cloud.history(runs[0]["executionArn"])
        if e.get("stateEnteredEventDetails", {}).get("name") == "FinalizeRun"
    )
    assert runs[1]["startDate"] >= released, "the second run started only when the first released the lock"
    # Delivery is asynchronous, so either drop may take the lock first; both must run, one at a time.
    outcomes = [n.event for n in cloud.notifications()]
    assert len(outcomes) == 2
    assert "pipeline.succeeded" in outcomes
    assert set(outcomes) <= {"pipeline.succeeded", "model.rejected"}


def test_the_same_s3_event_delivered_twice_starts_one_execution(cloud: OfflineCloud) -> None:
    response = cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    ingest = cloud.output("IngestFunctionName")
    event = {
        "version": "0",
        "id": "replayed",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-23T10:15:30Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "version": "0",
            "bucket": {"name": cloud.output("DataBucketName")},
            "object": {
                "key": "incoming/cancer.csv",
                "size": 1,
                "etag": response["ETag"].strip('"'),
                "version-id": response["VersionId"],
                "sequencer": "617f08299329d189",
            },
            "request-id": "x",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    import json

    result = json.loads(cloud.client("lambda").invoke(FunctionName=ingest, Payload=json.dumps(event))["Payload"].read())

    assert result["execution_name"] == cloud.executions()[0]["name"]
    assert len(cloud.executions()) == 1


def test_a_folder_drop_too_large_to_list_inline_trains_on_every_part(cloud: OfflineCloud) -> None:
    """569 one-row parts with long names: their key list (~50 KB) goes by reference, not in the input."""
    import json
    import uuid

    rows = breast_cancer_csv().splitlines(keepends=True)
    folder = "incoming/large-drop-2026-12-04/"
    keys = [f"{folder}part-{index:05d}-{uuid.UUID(int=index)}-c000.csv" for index in range(len(rows))]
    assert len(json.dumps(keys)) > 3 * 16 * 1024
    for key, row in zip(keys, rows, strict=True):
        cloud.upload(key, row)
    cloud.upload(f"{folder}_SUCCESS", b"")

    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED"
    sfn = cloud.client("stepfunctions")
    execution_input = json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"])
    dataset = execution_input["dataset"]
    assert dataset["keys"] == []
    assert dataset["key_count"] == len(keys)
    assert len(json.dumps(execution_input)) < 2048
    bucket, _, key_list = dataset["keys_uri"].removeprefix("s3://").partition("/")
    assert bucket == cloud.output("ArtifactBucketName")
    listed = json.loads(cloud.client("s3").get_object(Bucket=bucket, Key=key_list)["Body"].read())
    assert sorted(listed["keys"]) == sorted(keys)
    preprocessed = next(
        json.loads(e["stateExitedEventDetails"]["output"])["preprocess"]
        for e in cloud.history(run["executionArn"])
        if e.get("stateExitedEventDetails", {}).get("name") == "Preprocess"
    )
    assert preprocessed["status"] == "ok"
    assert preprocessed["rows"] == len(rows), "every part's row reached the split"
    assert _only(cloud, "pipeline.succeeded")["model"] == "tabular"
