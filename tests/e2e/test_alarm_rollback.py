"""Alarm-driven rollback on the offline cloud: the template's alarm rule starts the real rollback ASL."""

from __future__ import annotations

import threading
import time

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e


def _serving(cloud: OfflineCloud) -> str:
    return cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointConfigName"]


def _two_deployments(cloud: OfflineCloud) -> tuple[str, str]:
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    good = _serving(cloud)
    # The same data again passes the gate (a tie promotes) and becomes the serving config.
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    cloud.wait_for_executions(2, timeout=180)
    return good, _serving(cloud)


def _alarm(cloud: OfflineCloud) -> str:
    return cloud.output("RollbackAlarmNames").split(",")[0]


def _notified(cloud: OfflineCloud, event: str) -> list[dict]:
    return [n.body for n in cloud.notifications() if n.event == event]


@pytest.fixture
def fast_cloud(cloud_factory) -> OfflineCloud:  # type: ignore[no-untyped-def]
    return cloud_factory(BakeTimeSeconds="60")


def test_an_alarm_after_promotion_restores_the_last_good_config(fast_cloud: OfflineCloud) -> None:
    cloud = fast_cloud
    good, bad = _two_deployments(cloud)
    assert good != bad

    cloud.alarm_event(_alarm(cloud))
    [rollback] = cloud.wait_for_rollbacks(1)

    assert rollback["status"] == "SUCCEEDED"
    assert _serving(cloud) == good
    [body] = _notified(cloud, "deployment.rolled_back")
    assert body["details"]["from_config"] == bad
    assert body["details"]["to_config"] == good
    assert body["details"]["alarm"] == _alarm(cloud)
    assert body["metrics"]["duration_seconds"] >= 0
    sagemaker = cloud.client("sagemaker")
    assert (
        sagemaker.describe_model_package(ModelPackageName=body["details"]["rejected_package"])["ModelApprovalStatus"]
        == "Rejected"
    )
    table = cloud.output("HistoryTableName")
    current = cloud.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "model#tabular"}, "sk": {"S": "current"}}
    )["Item"]
    assert current["endpoint_config"]["S"] == good
    history = cloud.client("dynamodb").query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "model#tabular"}}
    )["Items"]
    assert [i["restored_config"]["S"] for i in history if i["status"]["S"] == "AlarmRollback"] == [good]


def test_an_alarm_during_a_guarded_deployment_is_left_to_the_guardrails(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(BakeTimeSeconds="600")
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    sagemaker = cloud.client("sagemaker")

    def alarm_while_updating() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointStatus"] == "Updating":
                cloud.alarm_event(_alarm(cloud))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=alarm_while_updating)
    watcher.start()
    cloud.upload("incoming/second.csv", breast_cancer_csv())
    runs = cloud.wait_for_executions(2, timeout=180)
    watcher.join()
    [rollback] = cloud.wait_for_rollbacks(1)

    assert "RestoreEndpointConfig" not in cloud.states_entered(rollback["executionArn"])
    [deferred] = _notified(cloud, "rollback.deferred")
    assert "guardrails" in deferred["reason"]
    # The alarm's state never went to ALARM, so the guarded rollout itself completed.
    assert runs[1]["status"] == "SUCCEEDED"
    assert _serving(cloud) == _notified(cloud, "pipeline.succeeded")[-1]["details"]["endpoint_config"]


def test_an_alarm_event_delivered_twice_rolls_back_once(fast_cloud: OfflineCloud) -> None:
    cloud = fast_cloud
    good, _ = _two_deployments(cloud)
    fired_at = time.time()

    cloud.alarm_event(_alarm(cloud), when=fired_at)
    cloud.alarm_event(_alarm(cloud), when=fired_at)
    cloud.wait_for_rollbacks(2)
    # A third, late copy of the same event after the rollback finished.
    cloud.alarm_event(_alarm(cloud), when=fired_at)
    rollbacks = cloud.wait_for_rollbacks(3)

    restored = [r for r in rollbacks if "RestoreEndpointConfig" in cloud.states_entered(r["executionArn"])]
    assert len(restored) == 1
    assert all(r["status"] == "SUCCEEDED" for r in rollbacks)
    assert len(_notified(cloud, "deployment.rolled_back")) == 1
    assert _notified(cloud, "rollback.impossible") == []
    assert _serving(cloud) == good, "no second step back in history"


def test_an_alarm_with_no_earlier_good_config_leaves_the_endpoint_alone(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/only.csv", breast_cancer_csv())
    cloud.wait_for_executions(1)
    serving = _serving(cloud)

    cloud.alarm_event(_alarm(cloud))
    [rollback] = cloud.wait_for_rollbacks(1)

    assert rollback["status"] == "SUCCEEDED"
    [body] = _notified(cloud, "rollback.impossible")
    assert "no earlier endpoint config" in body["reason"]
    assert body["model"] == "tabular"
    assert _serving(cloud) == serving


def test_the_schedule_does_not_retrain_on_the_drop_whose_model_was_rolled_back(fast_cloud: OfflineCloud) -> None:
    cloud = fast_cloud
    good, _ = _two_deployments(cloud)
    cloud.alarm_event(_alarm(cloud))
    cloud.wait_for_rollbacks(1)
    assert _serving(cloud) == good

    result = cloud.fire_schedule("RetrainScheduleRule")

    assert result["action"] == "skipped"
    assert len(cloud.executions()) == 2, "no third run that would redeploy the rolled-back model"
    [skipped] = _notified(cloud, "retrain.skipped")
    assert "incoming/second.csv was rolled back" in skipped["reason"]
