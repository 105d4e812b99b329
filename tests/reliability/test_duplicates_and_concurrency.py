"""At-least-once delivery and one pipeline per model, end to end on the offline cloud.

* the same S3 "Object Created" event delivered 100 times, many at once, starts exactly one run;
* drops for the same model that arrive together run one after the other, and none is lost;
* the same CloudWatch alarm event delivered 100 times, many at once, rolls back exactly once.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv
from tests.reliability.conftest import Clouds, ObjectCreated, bus_entry

pytestmark = pytest.mark.e2e

# A quick model; a short bake so a rollout (and a rollback) settles in about a second.
QUICK = {
    "Hyperparameters": '{"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}',
    "BakeTimeSeconds": "60",
}
DELIVERIES = 100
FAKE_HOLDER = "reliability-run-in-progress"
# Every drop of the same bytes ties on the metric, and a tie promotes: each one deploys.
DATA = breast_cancer_csv()


def put(cloud: OfflineCloud, key: str, body: bytes = DATA) -> dict[str, Any]:
    response: dict[str, Any] = cloud.client("s3").put_object(Bucket=cloud.output("DataBucketName"), Key=key, Body=body)
    return response


def entered_at(cloud: OfflineCloud, execution_arn: str, state: str) -> Any:
    return next(
        event["timestamp"]
        for event in cloud.history(execution_arn)
        if event.get("stateEnteredEventDetails", {}).get("name") == state
    )


def dataset_key(cloud: OfflineCloud, run: dict[str, Any]) -> str:
    """The (first) object of the drop an execution ran on, from its input."""
    described = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    return str(json.loads(described["input"])["dataset"]["keys"][0])


def outcome_notifications(cloud: OfflineCloud, since: int) -> list[dict[str, Any]]:
    return [n.body for n in cloud.notifications()[since:]]


def run_together(*calls: Any) -> list[Any]:
    """Start every call at the same moment (a barrier), on threads of their own; return their results."""
    barrier = threading.Barrier(len(calls))

    def at_the_barrier(call: Any) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(at_the_barrier, calls))


def test_the_same_object_created_event_delivered_100_times_starts_exactly_one_execution(
    clouds: Clouds, object_created: ObjectCreated
) -> None:
    cloud = clouds.get(**QUICK)
    before = len(cloud.executions())
    jobs_before = len(cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"])
    notes_before = len(cloud.notifications())
    # The object lands with its own event held back, so that every delivery below is one of ours.
    cloud.set_ingest(False)
    try:
        response = put(cloud, "incoming/delivered-100-times.csv")
    finally:
        cloud.set_ingest(True)
    event = object_created(cloud.output("DataBucketName"), "incoming/delivered-100-times.csv", response, len(DATA))
    # boto3 clients are thread-safe once built; building them is not, so build them here.
    events, lambdas = cloud.client("events"), cloud.client("lambda")
    ingest = cloud.output("IngestFunctionName")

    def via_the_bus() -> list[dict[str, Any]]:
        # Ten identical entries in one PutEvents call: ten deliveries of the same event.
        result = events.put_events(Entries=[bus_entry(event)] * 10)
        assert result["FailedEntryCount"] == 0
        return []

    def via_invoke() -> list[dict[str, Any]]:
        answer = lambdas.invoke(FunctionName=ingest, Payload=json.dumps(event).encode())
        return [json.loads(answer["Payload"].read()) | {"function_error": answer.get("FunctionError")}]

    # 50 deliveries through EventBridge (asynchronous, with Lambda's retries) and 50 direct
    # invocations, all released at once.
    answers = [a for batch in run_together(*[via_the_bus] * 5, *[via_invoke] * 50) for a in batch]
    runs = cloud.wait_for_executions(before + 1, timeout=180)

    assert len(answers) == 50
    assert len(runs) == before + 1, [r["name"] for r in runs[before:]]
    [run] = runs[before:]
    assert run["status"] == "SUCCEEDED"
    # Every invocation names the one run: it admitted the drop, got that admission replayed from
    # the idempotency store, or found the same write being admitted at that moment. None fails,
    # so no duplicate is retried into a dead-letter queue and reported as a failure.
    assert [a for a in answers if a["function_error"]] == []
    assert {a["execution_name"] for a in answers} == {run["name"]}
    assert {a["action"] for a in answers} <= {"started", "queued", "duplicate"}
    assert len(cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]) == jobs_before + 1
    assert [n["execution"] for n in outcome_notifications(cloud, notes_before)] == [run["executionArn"]]

    # Late copies of the same event, after the run has ended, start nothing either.
    late = run_together(*[via_the_bus] * 2, *[via_invoke] * 10)
    cloud.wait_for_executions(before + 1)
    assert len(cloud.executions()) == before + 1
    assert all(a["execution_name"] == run["name"] for batch in late for a in batch)
    assert [n["execution"] for n in outcome_notifications(cloud, notes_before)] == [run["executionArn"]]


def test_the_same_event_for_a_refused_key_delivered_20_times_at_once_is_quarantined_once(
    clouds: Clouds, object_created: ObjectCreated
) -> None:
    cloud = clouds.get(**QUICK)
    notes_before = len(cloud.notifications())
    cloud.set_ingest(False)
    try:
        response = put(cloud, "incoming/twenty\ttimes.csv", b"1,2\n")
    finally:
        cloud.set_ingest(True)
    event = object_created(cloud.output("DataBucketName"), "incoming/twenty\ttimes.csv", response, 4)
    events = cloud.client("events")

    run_together(*[lambda: events.put_events(Entries=[bus_entry(event)] * 2)] * 10)
    cloud.wait_for_executions(0)

    [notification] = outcome_notifications(cloud, notes_before)
    assert notification["event"] == "data.quarantined"
    assert notification["reason"].startswith("key-control-characters: ")


def test_two_drops_for_the_same_model_at_once_run_one_after_the_other_and_neither_is_lost(clouds: Clouds) -> None:
    cloud = clouds.get(**QUICK)
    before = len(cloud.executions())
    notes_before = len(cloud.notifications())
    s3, bucket = cloud.client("s3"), cloud.output("DataBucketName")

    run_together(
        lambda: s3.put_object(Bucket=bucket, Key="incoming/together-a.csv", Body=DATA),
        lambda: s3.put_object(Bucket=bucket, Key="incoming/together-b.csv", Body=DATA),
    )
    runs = cloud.wait_for_executions(before + 2, timeout=240)

    first, second = runs[before:]
    assert [first["status"], second["status"]] == ["SUCCEEDED", "SUCCEEDED"]
    datasets = {dataset_key(cloud, run) for run in (first, second)}
    assert datasets == {"incoming/together-a.csv", "incoming/together-b.csv"}, "both drops ran"
    # The first run releases the model lock in FinalizeRun, after all its work (training,
    # deployment); only then does the queued second run start. The first run's remaining steps
    # (formatting and publishing its notification) overlap the second's first milliseconds.
    released = entered_at(cloud, first["executionArn"], "FinalizeRun")
    assert second["startDate"] >= released
    assert entered_at(cloud, second["executionArn"], "Preprocess") >= released
    sagemaker = cloud.client("sagemaker")
    first_job = sagemaker.describe_training_job(TrainingJobName=first["name"])
    second_job = sagemaker.describe_training_job(TrainingJobName=second["name"])
    assert second_job["CreationTime"] >= first_job["TrainingEndTime"], "the two trainings never overlap"
    assert second["startDate"] - first["startDate"] > first_job["TrainingEndTime"] - first_job["CreationTime"], (
        "the second drop waited for the first run: it arrived together with it"
    )
    notified = outcome_notifications(cloud, notes_before)
    assert sorted(n["execution"] for n in notified) == sorted([first["executionArn"], second["executionArn"]])
    assert {n["event"] for n in notified} == {"pipeline.succeeded"}


def test_a_burst_of_drops_during_a_run_all_run_in_queue_order_one_at_a_time(clouds: Clouds) -> None:
    cloud = clouds.get(**QUICK)
    before = len(cloud.executions())
    notes_before = len(cloud.notifications())
    table = cloud.output("StateTableName")
    dynamodb, s3, bucket = cloud.client("dynamodb"), cloud.client("s3"), cloud.output("DataBucketName")
    # A run in progress holds the model's lock (cheaper than a real one, and it cannot end early).
    dynamodb.put_item(
        TableName=table,
        Item={"id": {"S": "lock#tabular"}, "holder": {"S": FAKE_HOLDER}, "acquired_at": {"N": str(int(time.time()))}},
    )
    # Six drops at once; bad data keeps each run short (it is quarantined, no training).
    keys = [f"incoming/burst-{i}.csv" for i in range(6)]
    run_together(*[lambda key=key: s3.put_object(Bucket=bucket, Key=key, Body=b"label,f1\n1,2\n") for key in keys])
    cloud.wait_for_executions(before)
    assert len(cloud.executions()) == before, "every drop queued behind the run in progress"
    lock = dynamodb.get_item(TableName=table, Key={"id": {"S": "lock#tabular"}}, ConsistentRead=True)["Item"]
    queued = [json.loads(p["M"]["input_json"]["S"])["dataset"]["keys"][0] for p in lock["pending"]["L"]]
    assert sorted(queued) == keys, "none of the six was lost or queued twice"

    assert cloud.stack is not None
    cloud.client("lambda").invoke(
        FunctionName=cloud.stack.physical("FinalizeRunFunction"),
        Payload=json.dumps({"model": "tabular", "run_id": FAKE_HOLDER}).encode(),
    )
    runs = cloud.wait_for_executions(before + 6, timeout=120)

    burst = runs[before:]
    assert [r["status"] for r in burst] == ["SUCCEEDED"] * 6
    ran = [dataset_key(cloud, run) for run in burst]
    assert ran == queued, "the queue is first in, first out"
    for earlier, later in itertools.pairwise(burst):
        assert later["startDate"] >= entered_at(cloud, earlier["executionArn"], "FinalizeRun")
    notified = outcome_notifications(cloud, notes_before)
    assert sorted(n["execution"] for n in notified) == sorted(r["executionArn"] for r in burst)
    assert {n["event"] for n in notified} == {"data.quarantined"}
    assert (
        "holder"
        not in dynamodb.get_item(TableName=table, Key={"id": {"S": "lock#tabular"}}, ConsistentRead=True)["Item"]
    ), "the last run released the lock"


def serving_config(cloud: OfflineCloud) -> str:
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    return str(endpoint["EndpointConfigName"])


def test_the_same_alarm_event_delivered_100_times_at_once_rolls_back_exactly_once(clouds: Clouds) -> None:
    cloud = clouds.get(**QUICK)
    runs = len(cloud.executions())
    if not any(n.event == "pipeline.succeeded" for n in cloud.notifications()):
        put(cloud, "incoming/alarm-first.csv")
        runs = len(cloud.wait_for_executions(runs + 1, timeout=180))
    good = serving_config(cloud)
    put(cloud, "incoming/alarm-second.csv")
    cloud.wait_for_executions(runs + 1, timeout=180)
    bad = serving_config(cloud)
    assert bad != good
    rollbacks_before = len(cloud.rollback_executions())
    notes_before = len(cloud.notifications())
    alarm = cloud.output("RollbackAlarmNames").split(",")[0]
    fired_at = time.time()

    run_together(*[lambda: cloud.alarm_event(alarm, when=fired_at)] * DELIVERIES)
    rollbacks = cloud.wait_for_rollbacks(rollbacks_before + DELIVERIES, timeout=240)

    ours = rollbacks[rollbacks_before:]
    assert len(ours) == DELIVERIES
    assert all(r["status"] == "SUCCEEDED" for r in ours)
    restored = [r for r in ours if "RestoreEndpointConfig" in cloud.states_entered(r["executionArn"])]
    assert len(restored) == 1, f"{len(restored)} rollbacks acted on one alarm"
    notified = [n["event"] for n in outcome_notifications(cloud, notes_before)]
    assert notified.count("deployment.rolled_back") == 1
    assert "rollback.impossible" not in notified
    assert serving_config(cloud) == good, "one step back, not two"
    assert "rollback.deferred" not in notified, "copies of one alarm are duplicates, not deferrals"


def test_two_different_alarms_about_one_bad_config_roll_back_once_and_one_step(clouds: Clouds) -> None:
    cloud = clouds.get(**QUICK)
    runs = len(cloud.executions())
    put(cloud, "incoming/two-alarms-good.csv")
    runs = len(cloud.wait_for_executions(runs + 1, timeout=180))
    good = serving_config(cloud)
    put(cloud, "incoming/two-alarms-bad.csv")
    cloud.wait_for_executions(runs + 1, timeout=180)
    assert serving_config(cloud) != good
    rollbacks_before = len(cloud.rollback_executions())
    notes_before = len(cloud.notifications())
    alarms = cloud.output("RollbackAlarmNames").split(",")[:2]
    assert len(alarms) == 2
    fired_at = time.time()

    run_together(*[lambda name=name: cloud.alarm_event(name, when=fired_at) for name in alarms * 10])
    rollbacks = cloud.wait_for_rollbacks(rollbacks_before + 20, timeout=240)

    ours = rollbacks[rollbacks_before:]
    restored = [r for r in ours if "RestoreEndpointConfig" in cloud.states_entered(r["executionArn"])]
    assert len(restored) == 1
    notified = [n["event"] for n in outcome_notifications(cloud, notes_before)]
    assert notified == ["deployment.rolled_back"]
    assert serving_config(cloud) == good
