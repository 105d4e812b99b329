"""The CLI against the offline cloud: one pipeline run, shared by every test in the module.

The order of the tests does not matter: the run is a module fixture, and nothing here changes what
serves (a trigger skips, a rollback with one deployment is impossible).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv, feature_rows_csv
from tests.conftest import POLL_SECONDS

pytestmark = pytest.mark.e2e

DATASET_KEY = "incoming/cancer.csv"


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def _json(result: Any) -> Any:
    return json.loads(_ok(result).stdout)


@pytest.fixture(scope="module")
def first_run(cli: Any, cloud: OfflineCloud, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`conveyor upload` of a real dataset, and the run the data-arrival rule starts for it."""
    dataset = tmp_path_factory.mktemp("data") / "cancer.csv"
    dataset.write_bytes(breast_cancer_csv())
    uploaded = _json(cli("--local", "--json", "upload", str(dataset)))
    [run] = cloud.wait_for_executions(1, timeout=300)
    return {"upload": uploaded, "run": run}


def test_upload_puts_the_object_and_the_data_rule_starts_a_run(first_run: dict[str, Any], cloud: OfflineCloud) -> None:
    uploaded = first_run["upload"]
    head = cloud.client("s3").head_object(Bucket=cloud.output("DataBucketName"), Key=DATASET_KEY)

    assert uploaded["key"] == DATASET_KEY
    assert uploaded["bucket"] == cloud.output("DataBucketName")
    assert uploaded["version_id"] == head["VersionId"]
    assert uploaded["size"] == len(breast_cancer_csv())
    assert first_run["run"]["status"] == "SUCCEEDED"


def test_upload_outside_incoming_is_refused_and_nothing_lands(cli: Any, cloud: OfflineCloud, tmp_path: Path) -> None:
    dataset = tmp_path / "cancer.csv"
    dataset.write_bytes(b"1,2.0\n")

    result = cli("--local", "upload", str(dataset), "--key", "data/cancer.csv")

    assert result.exit_code == 1
    assert "datasets go under incoming/" in result.stderr
    listed = cloud.client("s3").list_objects_v2(Bucket=cloud.output("DataBucketName"), Prefix="data/")
    assert listed.get("KeyCount", 0) == 0


def test_status_shows_the_endpoint_production_and_the_run(
    cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]
) -> None:
    shown = _ok(cli("--local", "status")).stdout

    assert cloud.output("EndpointName") in shown
    assert "InService" in shown
    assert "primary" in shown
    assert "validation:auc" in shown
    assert first_run["run"]["name"] in shown
    assert "SUCCEEDED" in shown
    assert "ml.c5.xlarge" in shown, "the production model's instance type"
    assert "reported no latency" in shown, "the target advice: the built-in XGBoost container times nothing"


def test_status_json_parses_and_agrees_with_the_cloud(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    found = _json(cli("--local", "--json", "status"))
    described = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))

    assert found["model"] == "tabular"
    assert found["endpoint"]["status"] == "InService"
    assert found["endpoint"]["config"] == described["EndpointConfigName"]
    [variant] = found["endpoint"]["variants"]
    assert variant["name"] == "primary"
    assert variant["current_weight"] == pytest.approx(1.0)
    assert found["production"]["endpoint_config"] == described["EndpointConfigName"]
    assert found["production"]["trigger"] == "data-arrival"
    assert found["production"]["dataset_uri"].endswith(DATASET_KEY)
    assert 0.5 < found["production"]["metric_value"] <= 1.0
    assert found["production"]["instance_type"] == "ml.c5.xlarge"
    assert found["production"]["target_advice"].startswith("no advice: the training job reported no latency")
    [run] = found["retrain_executions"]
    assert run["name"] == first_run["run"]["name"]
    assert run["status"] == "SUCCEEDED"
    assert run["duration_seconds"] > 0


def test_history_lists_the_deployment(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    found = _json(cli("--local", "--json", "history"))
    table = _ok(cli("--local", "history", "--limit", "5")).stdout

    assert found["model"] == "tabular"
    [deployment] = found["deployments"]
    assert deployment["status"] == "InService"
    assert deployment["trigger"] == "data-arrival"
    assert deployment["metric_name"] == "validation:auc"
    assert deployment["sk"].startswith("deployment#")
    assert deployment["endpoint_config"] in table
    assert "InService" in table


def test_trigger_answers_skipped_when_nothing_changed(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    shown = _ok(cli("--local", "trigger")).stdout
    answer = _json(cli("--local", "--json", "trigger"))

    assert "skipped" in shown
    assert answer["action"] == "skipped"
    assert "production model was trained on" in answer["reason"]
    assert answer["request"]["schedule_arn"] == "manual:conveyor-cli"
    assert answer["function"] == cloud.stack.resources["ScheduledRetrainFunction"]["Ref"]  # type: ignore[union-attr]
    assert len(cloud.executions()) == 1, "no run starts"
    skipped = [n for n in cloud.notifications() if n.event == "retrain.skipped"]
    assert skipped
    assert skipped[-1].body["details"]["scheduled_time"] == answer["request"]["scheduled_time"]


def test_rollback_with_one_deployment_is_impossible(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    before = len(cloud.rollback_executions())
    sagemaker = cloud.client("sagemaker")
    serving = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointConfigName"]

    found = _json(cli("--local", "--json", "rollback", "--wait", "--reason", "bad predictions reported"))

    assert found["status"] == "SUCCEEDED"
    assert found["outcome"]["action"] == "impossible"
    assert found["outcome"]["event"] == "rollback.impossible"
    assert len(cloud.rollback_executions()) == before + 1
    described = cloud.client("stepfunctions").describe_execution(executionArn=found["execution_arn"])
    event = json.loads(described["input"])
    assert event["detail"]["alarmName"] == "manual:conveyor-cli"
    assert event["detail-type"] == "Manual Rollback"
    [impossible] = [n for n in cloud.notifications() if n.body.get("execution") == found["execution_arn"]]
    assert impossible.event == "rollback.impossible"
    assert impossible.attributes["severity"] == "error"
    assert impossible.body["details"]["alarm_reason"] == "bad predictions reported"
    after = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointConfigName"]
    assert after == serving, "nothing to roll back to, so nothing moved"
    assert f"stays on {serving}" in found["outcome"]["reason"]


def test_rollback_without_wait_starts_an_execution(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    before = len(cloud.rollback_executions())

    shown = _ok(cli("--local", "rollback")).stdout

    assert "started rollback manual-" in shown
    runs = cloud.wait_for_rollbacks(before + 1)
    assert runs[-1]["status"] == "SUCCEEDED"


def _fire_once_tail_listens(cloud: OfflineCloud) -> threading.Thread:
    """Fire the schedule as soon as a `conveyor tail` queue is subscribed: tail sees only what follows."""

    def fire() -> None:
        sns = cloud.client("sns")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            subscriptions = sns.list_subscriptions_by_topic(TopicArn=cloud.output("NotificationTopicArn"))
            if any("conveyor-tail-" in s["Endpoint"] for s in subscriptions["Subscriptions"]):
                cloud.fire_schedule("RetrainScheduleRule")
                return
            time.sleep(POLL_SECONDS)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def _tail_leftovers(cloud: OfflineCloud) -> list[str]:
    queues = cloud.client("sqs").list_queues(QueueNamePrefix="conveyor-tail-").get("QueueUrls", [])
    subscriptions = cloud.client("sns").list_subscriptions_by_topic(TopicArn=cloud.output("NotificationTopicArn"))
    return queues + [s["Endpoint"] for s in subscriptions["Subscriptions"] if "conveyor-tail-" in s["Endpoint"]]


def test_tail_prints_notifications_and_removes_its_queue(
    cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]
) -> None:
    firing = _fire_once_tail_listens(cloud)

    result = _ok(cli("--local", "tail", "--no-follow", "--timeout", "60"))
    firing.join()

    assert "retrain.skipped" in result.stdout
    assert "[Conveyor] tabular: scheduled retrain skipped" in result.stdout
    assert "production model was trained on" in result.stdout
    assert _tail_leftovers(cloud) == []


def test_tail_json_prints_one_notification_per_line(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    firing = _fire_once_tail_listens(cloud)

    result = _ok(cli("--local", "--json", "tail", "--no-follow", "--timeout", "60"))
    firing.join()

    [notification] = [json.loads(line) for line in result.stdout.splitlines()]
    assert notification["event"] == "retrain.skipped"
    assert notification["severity"] == "info"
    assert notification["model"] == "tabular"
    assert notification["subject"] == "[Conveyor] tabular: scheduled retrain skipped"
    assert _tail_leftovers(cloud) == []


def test_tail_times_out_quietly_when_nothing_happens(cli: Any, cloud: OfflineCloud) -> None:
    result = _ok(cli("--local", "tail", "--timeout", "1"))

    assert "no notifications" in result.stderr
    assert _tail_leftovers(cloud) == []


def test_a_deployed_stack_is_read_through_cloudformation(
    cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]
) -> None:
    """`--stack` against moto's CloudFormation: a stack exporting the offline stack's outputs."""
    template = {
        "Parameters": {"ModelName": {"Type": "String", "Default": "tabular"}},
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": str(value)} for name, value in cloud.stack.outputs.items()},  # type: ignore[union-attr]
    }
    cloud.client("cloudformation").create_stack(StackName="conveyor-deployed", TemplateBody=json.dumps(template))
    env = {"AWS_ENDPOINT_URL": cloud.endpoint_url or ""}

    found = _json(cli("--stack", "conveyor-deployed", "--region", "us-east-1", "--json", "history", env=env))
    missing = cli("--stack", "conveyor-nope", "--region", "us-east-1", "status", env=env)
    no_function = cli("--stack", "conveyor-deployed", "--region", "us-east-1", "trigger", env=env)

    assert [d["status"] for d in found["deployments"]] == ["InService"]
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: stack conveyor-nope not found in us-east-1"
    assert no_function.exit_code == 1
    assert "no ScheduledRetrainFunctionName output and no ScheduledRetrainFunction resource" in no_function.stderr


def test_invoke_returns_one_probability_per_row_from_the_primary_variant(
    cli: Any, first_run: dict[str, Any], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_bytes(feature_rows_csv(rows=5))

    found = _json(cli("--local", "--json", "invoke", "--file", str(rows)))
    one = _json(cli("--local", "--json", "invoke", "--body", rows.read_text().splitlines()[0]))

    assert found["variant"] == "primary"
    assert len(found["predictions"]) == 5
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in found["predictions"])
    assert one["predictions"] == [pytest.approx(found["predictions"][0])]


def test_drift_shows_the_monitors_latest_report(cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]) -> None:
    # The hourly schedule may already have run on the simulated clock: the report is fired here to be sure.
    # 40 requests at the default 20 % sampling: none captured has a chance of 0.8**40, about 1e-4.
    for seed in range(40):
        cloud.invoke_endpoint(feature_rows_csv(rows=5, seed=seed))
    cloud.fire_schedule("DriftMonitorSchedule")
    shown = _ok(cli("--local", "drift")).stdout
    found = _json(cli("--local", "--json", "drift"))

    assert "drift monitor" in shown
    assert found["status"] == "ok"
    assert found["model_run"] == first_run["run"]["name"]
    assert 0 < found["rows"] < found["min_rows"] == 1000, "20 % of 200 rows is captured, too few to judge"
    assert "too few captured rows to judge drift" in shown


def test_status_shows_a_running_experiment_with_its_current_estimate(
    cli: Any, cloud: OfflineCloud, first_run: dict[str, Any]
) -> None:
    from conveyor_core.release import history

    running = history.ExperimentRecord(
        pk=history.partition("tabular"),
        sk=history.experiment_sort_key("tabular-ab-run"),
        run_id="tabular-ab-run",
        strategy="bandit",
        endpoint=cloud.output("EndpointName"),
        state="running",
        reason="bandit continues: effect +0.0312 ...",
        started_at="2026-12-05T10:00:00.000Z",
        evaluated_at="2026-12-05T13:00:00.000Z",
        evaluations=3,
        candidate_share=0.74,
        production_n=412,
        candidate_n=655,
        production_mean=0.1012,
        candidate_mean=0.1324,
        effect=0.0312,
        ci_low=-0.0105,
        ci_high=0.0729,
        p_value=0.41,
        probability_candidate_best=0.912,
    )
    history.put_experiment(cloud.client("dynamodb"), cloud.output("HistoryTableName"), running)

    shown = _ok(cli("--local", "status")).stdout
    # The record says running, but the endpoint serves no candidate: it ended between evaluations.
    assert "experiment (bandit, ended without a verdict)" in shown
    assert "74%" in shown, "the candidate's share now"
    assert "+0.0312, confidence sequence [-0.0105, +0.0729]" in shown
    assert "0.912" in shown
    found = _json(cli("--local", "--json", "status"))["experiment"]
    assert (found["run_id"], found["state"], found["candidate_n"]) == ("tabular-ab-run", "running", 655)
