"""The metrics AWS services publish by themselves, on the offline cloud (``localcloud/service_metrics.py``).

One cloud serves the module, with one real pipeline run (a dataset upload): its Step Functions,
Lambda and embedded-metric-format metrics are read back with CloudWatch's own API, as the template's
dashboard reads them, and compared with what really happened (the execution, its history, the
functions' invocation counts). The SQS depth metrics are compared with the queues' own attributes,
and their publisher is shown driving the dead-letter archive's alarm. The EMF parser and the
history's task pairing are checked on hand-written documents.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.service_metrics import InvalidEmf, QueueMetricsPublisher, emf_metrics, parse_emf, task_metrics
from tests.conftest import TIME_SCALE
from tests.localcloud.support import wait_until

TRAINING = "arn:aws:states:::sagemaker:createTrainingJob.sync"


@pytest.fixture(scope="module")
def cloud() -> Iterator[OfflineCloud]:
    started = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def run(cloud: OfflineCloud) -> dict[str, Any]:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [execution] = cloud.wait_for_executions(1)
    assert execution["status"] == "SUCCEEDED"
    machine = {"StateMachineArn": cloud.output("RetrainStateMachineArn")}
    # The end's metrics are put right after the status changes: wait for them, not for the status.
    wait_until(lambda: bool(values(cloud, "AWS/States", "ExecutionsSucceeded", machine)), 10, "the end's metrics")
    assert cloud.runtime is not None
    cloud.runtime.wait_idle(timeout=60)
    return dict(execution)


def values(
    cloud: OfflineCloud,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    statistic: str = "Sum",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> list[float]:
    """The statistic of each period with data (one period spans the window: an hour around now by default)."""
    now = dt.datetime.now(dt.UTC)
    start = start or now - dt.timedelta(hours=1)
    end = end or now + dt.timedelta(hours=1)
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=start,
        EndTime=end,
        Period=max(1, int((end - start).total_seconds())),
        Statistics=[statistic],
    )
    return [float(point[statistic]) for point in answer["Datapoints"]]


def total(cloud: OfflineCloud, namespace: str, name: str, dimensions: dict[str, str]) -> float:
    return sum(values(cloud, namespace, name, dimensions))


def function(cloud: OfflineCloud, logical_id: str) -> tuple[str, str]:
    """(name, the ARN its callers invoke) of one of the stack's functions: its alias ``live`` (AutoPublishAlias)."""
    assert cloud.stack is not None
    resource = cloud.stack.resources[logical_id]
    return str(resource["Ref"]), str(resource["Alias"])


def millis(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() * 1000


def closed_attempts(
    history: list[dict[str, Any]], opening: str, closing: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(scheduled, closed) event pairs of the history, linked by previousEventId."""
    by_id = {event["id"]: event for event in history}
    pairs = []
    for event in history:
        if event["type"] != closing:
            continue
        earlier = by_id.get(event["previousEventId"])
        while earlier is not None and earlier["type"] != opening:
            earlier = by_id.get(earlier["previousEventId"])
        assert earlier is not None, event
        pairs.append((earlier, event))
    return pairs


# --- Step Functions ------------------------------------------------------------------------------


def test_a_run_is_counted_when_it_starts_and_when_it_succeeds_with_its_whole_time(
    cloud: OfflineCloud, run: dict[str, Any]
) -> None:
    machine = {"StateMachineArn": cloud.output("RetrainStateMachineArn")}
    runs = cloud.executions()

    assert total(cloud, "AWS/States", "ExecutionsStarted", machine) == len(runs) == 1
    assert total(cloud, "AWS/States", "ExecutionsSucceeded", machine) == 1
    assert values(cloud, "AWS/States", "ExecutionsFailed", machine) == []
    assert values(cloud, "AWS/States", "ExecutionsAborted", machine) == []
    described = cloud.client("stepfunctions").describe_execution(executionArn=run["executionArn"])
    [elapsed] = values(cloud, "AWS/States", "ExecutionTime", machine, "Maximum")
    assert elapsed > 0
    # The execution's own start and stop (milliseconds in DescribeExecution's answer).
    assert elapsed == pytest.approx(millis(described["startDate"], described["stopDate"]), abs=2)


def test_each_lambda_task_has_its_time_and_outcome_per_function_arn(cloud: OfflineCloud, run: dict[str, Any]) -> None:
    _, preprocess = function(cloud, "PreprocessFunction")
    attempts = [
        (scheduled, closed)
        for scheduled, closed in closed_attempts(
            cloud.history(run["executionArn"]), "LambdaFunctionScheduled", "LambdaFunctionSucceeded"
        )
        if scheduled["lambdaFunctionScheduledEventDetails"]["resource"] == preprocess
    ]
    by_arn = {"LambdaFunctionArn": preprocess}

    assert len(attempts) == 1
    assert total(cloud, "AWS/States", "LambdaFunctionsSucceeded", by_arn) == 1
    assert values(cloud, "AWS/States", "LambdaFunctionsFailed", by_arn) == []
    [longest] = values(cloud, "AWS/States", "LambdaFunctionTime", by_arn, "Maximum")
    [(scheduled, closed)] = attempts
    assert longest > 0
    assert longest == pytest.approx(millis(scheduled["timestamp"], closed["timestamp"]), abs=1)
    # Every function the run called, and only those, has its metric.
    called = {
        s["lambdaFunctionScheduledEventDetails"]["resource"]
        for s, _ in closed_attempts(
            cloud.history(run["executionArn"]), "LambdaFunctionScheduled", "LambdaFunctionSucceeded"
        )
    }
    listed = cloud.client("cloudwatch").list_metrics(Namespace="AWS/States", MetricName="LambdaFunctionTime")
    assert {m["Dimensions"][0]["Value"] for m in listed["Metrics"]} == called


def test_the_training_integration_has_its_time_and_outcome_per_resource_arn(
    cloud: OfflineCloud, run: dict[str, Any]
) -> None:
    by_resource = {"ServiceIntegrationResourceArn": TRAINING}
    attempts = [
        (scheduled, closed)
        for scheduled, closed in closed_attempts(cloud.history(run["executionArn"]), "TaskScheduled", "TaskSucceeded")
        if scheduled["taskScheduledEventDetails"]["resource"] == "createTrainingJob.sync"
    ]

    assert total(cloud, "AWS/States", "ServiceIntegrationsSucceeded", by_resource) == len(attempts) == 1
    assert values(cloud, "AWS/States", "ServiceIntegrationsFailed", by_resource) == []
    [(scheduled, closed)] = attempts
    [elapsed] = values(cloud, "AWS/States", "ServiceIntegrationTime", by_resource, "Maximum")
    assert elapsed == pytest.approx(millis(scheduled["timestamp"], closed["timestamp"]), abs=1)
    assert elapsed > 100, "a real training subprocess ran in between"
    listed = cloud.client("cloudwatch").list_metrics(Namespace="AWS/States", MetricName="ServiceIntegrationTime")
    resources = {m["Dimensions"][0]["Value"] for m in listed["Metrics"]}
    assert "arn:aws:states:::aws-sdk:sagemaker:createCompilationJob" in resources
    assert all(resource.startswith("arn:aws:states:::") for resource in resources)


# --- Lambda --------------------------------------------------------------------------------------


def test_every_invocation_is_counted_with_its_errors_and_duration_per_function_name(
    cloud: OfflineCloud, run: dict[str, Any]
) -> None:
    watch_runs, _ = function(cloud, "WatchRunsFunction")
    cloud.faults.crash_function(watch_runs, times=1)
    answer = cloud.client("lambda").invoke(FunctionName=watch_runs, Payload=b"{}")
    assert "FunctionError" in answer

    by_name = {"FunctionName": watch_runs}
    assert total(cloud, "AWS/Lambda", "Invocations", by_name) == 1
    assert total(cloud, "AWS/Lambda", "Errors", by_name) == 1

    def miscounted() -> list[str]:
        """Functions whose Invocations or Duration count is not their invocations (one may be in flight)."""
        wrong = []
        for deployed in cloud.lambdas.functions():
            name = {"FunctionName": deployed.name}
            durations = values(cloud, "AWS/Lambda", "Duration", name, "SampleCount")
            if total(cloud, "AWS/Lambda", "Invocations", name) != deployed.invocations or sum(durations) != (
                deployed.invocations
            ):
                wrong.append(deployed.name)
        return wrong

    wait_until(lambda: not miscounted(), 10, "every function's invocations counted")
    for deployed in cloud.lambdas.functions():
        if deployed.invocations:
            assert values(cloud, "AWS/Lambda", "Duration", {"FunctionName": deployed.name}, "Minimum")[0] > 0
    preprocess, _ = function(cloud, "PreprocessFunction")
    assert total(cloud, "AWS/Lambda", "Errors", {"FunctionName": preprocess}) == 0
    assert total(cloud, "AWS/Lambda", "Invocations", {"FunctionName": preprocess}) == 1


def test_powertools_emf_lines_become_metrics_in_the_conveyor_namespace_and_stay_in_the_log(
    cloud: OfflineCloud, run: dict[str, Any]
) -> None:
    listed = cloud.client("cloudwatch").list_metrics(Namespace="Conveyor", MetricName="DropsStarted")["Metrics"]

    assert [m["Dimensions"] for m in listed] == [[{"Name": "service", "Value": "conveyor"}]]
    assert total(cloud, "Conveyor", "DropsStarted", {"service": "conveyor"}) == 1
    # Lambda keeps the document in the function's log, where Powertools wrote it (not this process's stdout).
    ingest, _ = function(cloud, "IngestFunction")
    logs = cloud.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{ingest}")["events"]
    documents = [json.loads(e["message"]) for e in events if e["message"].startswith('{"_aws"')]
    assert [d["DropsStarted"] for d in documents] == [[1.0]]


def test_an_emf_document_gives_one_metric_per_dimension_set_and_keeps_value_lists() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_123,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "Conveyor",
                        "Dimensions": [["service"], ["service", "Outcome"]],
                        "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Runs"}],
                    }
                ],
            },
            "service": "conveyor",
            "Outcome": "pipeline.succeeded",
            "Latency": [12.5, 30, 12.5],
            "Runs": 1,
            "requestId": "not a dimension",
        }
    )

    [(namespace, metrics)] = emf_metrics(["START RequestId: x", f"2023-11-14T22:13:20Z\t{line}", '{"level": "INFO"}'])

    assert namespace == "Conveyor"
    when = dt.datetime(2023, 11, 14, 22, 13, 20, 123000)
    service = [{"Name": "service", "Value": "conveyor"}]
    both = [*service, {"Name": "Outcome", "Value": "pipeline.succeeded"}]
    latency = {"MetricName": "Latency", "Unit": "Milliseconds", "Timestamp": when, "Values": [12.5, 30.0, 12.5]}
    runs = {"MetricName": "Runs", "Unit": "None", "Timestamp": when, "Value": 1.0}
    assert metrics == [
        {**latency, "Dimensions": service},
        {**latency, "Dimensions": both},
        {**runs, "Dimensions": service},
        {**runs, "Dimensions": both},
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["_aws"].pop("Timestamp"), "Timestamp"),
        (lambda d: d.pop("service"), "dimension 'service'"),
        (lambda d: d.update(service=7), "dimension 'service'"),
        (lambda d: d.update(Runs="1"), "Runs"),
        (lambda d: d.update(Runs=[1] * 101), "Runs"),
        (lambda d: d.update(Runs=True), "Runs"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Widgets"), "Widgets"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"d{i}" for i in range(31)]]), "30"),
        (lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Namespace"), "Namespace"),
    ],
)
def test_an_emf_document_that_breaks_the_specification_gives_no_metric(change: Any, message: str) -> None:
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {"Namespace": "Conveyor", "Dimensions": [["service"]], "Metrics": [{"Name": "Runs"}]}
            ],
        },
        "service": "conveyor",
        "Runs": 1,
    }
    assert len(parse_emf(json.loads(json.dumps(document)))) == 1
    change(document)

    with pytest.raises(InvalidEmf, match=message):
        parse_emf(document)
    assert emf_metrics([json.dumps(document)]) == []


def test_tasks_of_parallel_branches_are_paired_by_their_previous_event_ids() -> None:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def event(id_: int, previous: int, kind: str, ms: int, **details: Any) -> dict[str, Any]:
        moment = base + dt.timedelta(milliseconds=ms)
        return {"id": id_, "previousEventId": previous, "type": kind, "timestamp": moment, **details}

    fast = "arn:aws:lambda:us-east-1:123456789012:function:fast"
    slow = "arn:aws:lambda:us-east-1:123456789012:function:slow"
    history = [
        event(1, 0, "LambdaFunctionScheduled", 0, lambdaFunctionScheduledEventDetails={"resource": slow}),
        event(2, 0, "LambdaFunctionScheduled", 10, lambdaFunctionScheduledEventDetails={"resource": fast}),
        event(3, 1, "LambdaFunctionStarted", 20),
        event(4, 2, "LambdaFunctionStarted", 30),
        event(5, 4, "LambdaFunctionSucceeded", 60),
        event(6, 3, "LambdaFunctionFailed", 500),
        event(7, 0, "TaskScheduled", 600, taskScheduledEventDetails={"resourceType": "sns", "resource": "publish"}),
        event(8, 7, "TaskStarted", 610),
        event(9, 8, "TaskTimedOut", 900),
    ]  # fmt: skip

    found = {
        (d["MetricName"], d["Dimensions"][0]["Value"]): d["Value"] for d in task_metrics(history, partition="aws-cn")
    }

    assert found == {
        ("LambdaFunctionsSucceeded", fast): 1,
        ("LambdaFunctionTime", fast): 50,
        ("LambdaFunctionsFailed", slow): 1,
        ("LambdaFunctionTime", slow): 500,
        ("ServiceIntegrationsTimedOut", "arn:aws-cn:states:::sns:publish"): 1,
        ("ServiceIntegrationTime", "arn:aws-cn:states:::sns:publish"): 300,
    }


# --- SQS -----------------------------------------------------------------------------------------


def archive_url(cloud: OfflineCloud) -> str:
    assert cloud.stack is not None
    return str(cloud.stack.resources["DeadLetterArchive"]["QueueUrl"])


def drain(sqs: Any, url: str, *in_flight: str) -> None:
    """Delete every message of the queue, and those in flight by their receipt handles (PurgeQueue
    allows one call a minute per queue)."""
    for handle in in_flight:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages"):
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=url, Entries=entries)


def depths(sqs: Any) -> dict[str, dict[str, float]]:
    """Each queue's own counts (GetQueueAttributes), by queue name, under the metrics' names."""
    found = {}
    for url in sqs.list_queues()["QueueUrls"]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        found[url.rsplit("/", 1)[-1]] = {
            "ApproximateNumberOfMessagesVisible": float(attributes["ApproximateNumberOfMessages"]),
            "ApproximateNumberOfMessagesNotVisible": float(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }
    return found


def test_every_queue_has_its_depth_and_age_as_the_queue_itself_says(cloud: OfflineCloud) -> None:
    sqs = cloud.client("sqs")
    # A queue of this test's own: no alarm or consumer changes it while the test reads it.
    url = sqs.create_queue(QueueName="service-metrics-depth")["QueueUrl"]
    publisher = QueueMetricsPublisher(cloud.clock)
    try:
        first_sent = (time.time(), sqs.send_message(QueueUrl=url, MessageBody="first"), time.time())
        for body in ("second", "third"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
        # The messages age a little, then a second of its own begins: anything else publishing for
        # these queues in that second sees the same state.
        time.sleep(0.3)
        time.sleep(1.01 - time.time() % 1)
        before = depths(sqs)
        now = dt.datetime.now(dt.UTC)
        published = publisher.publish_once(now)
        after = depths(sqs)
        start = now.replace(microsecond=0)
        window = {"start": start, "end": start + dt.timedelta(seconds=1)}

        assert published == len(after)
        assert "service-metrics-depth" in after
        # Every queue, the stack's and this one: what the queue said just before or just after (a dead
        # letter or a notification may arrive meanwhile, and the cloud's own publisher may put one too).
        for name, counts in after.items():
            for metric, count in counts.items():
                [lowest, highest] = [
                    values(cloud, "AWS/SQS", metric, {"QueueName": name}, statistic, **window)
                    for statistic in ("Minimum", "Maximum")
                ]
                assert {*lowest, *highest} <= {before[name][metric], count}, (name, metric, lowest, highest)
                assert len(lowest) == 1, (name, metric)
        own = {"QueueName": "service-metrics-depth"}
        assert values(cloud, "AWS/SQS", "ApproximateNumberOfMessagesVisible", own, "Maximum", **window) == [2]
        assert values(cloud, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", own, "Maximum", **window) == [1]
        [age] = values(cloud, "AWS/SQS", "ApproximateAgeOfOldestMessage", own, "Maximum", **window)
        # Simulated seconds: the first message's real age divided by the time scale (whole seconds).
        scale = cloud.clock.scale
        # The cloud's own publisher may put a later value within the same second: the window's end bounds it.
        latest = window["end"].timestamp()
        assert (now.timestamp() - first_sent[2]) / scale - 1 <= age <= (latest - first_sent[0]) / scale
        assert age >= 0.3 / scale - 1
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_the_publisher_every_simulated_minute_drives_the_dead_letter_archive_alarm(cloud: OfflineCloud) -> None:
    sqs = cloud.client("sqs")
    cloudwatch = cloud.client("cloudwatch")
    [alarm] = [
        a["AlarmName"]
        for a in cloudwatch.describe_alarms()["MetricAlarms"]
        if a["AlarmName"].endswith("-dead-letter-archive-not-empty")
    ]

    def state() -> str:
        return str(cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"])

    # The cloud's own publisher when its runtime runs one, else one for this test.
    running = getattr(cloud.runtime, "queue_metrics", None)
    publisher = running if isinstance(running, QueueMetricsPublisher) else QueueMetricsPublisher(cloud.clock)
    began = dt.datetime.now(dt.UTC)
    publisher.start()
    try:
        sqs.send_message(QueueUrl=archive_url(cloud), MessageBody="an event nobody was told about")
        wait_until(lambda: state() == "ALARM", 30, "the archive alarm")
        drain(sqs, archive_url(cloud))
        # Back to OK once a whole period (300 simulated seconds) holds only empty-queue datapoints.
        wait_until(lambda: state() == "OK", 30, "the archive alarm's recovery")
        ended = dt.datetime.now(dt.UTC)
    finally:
        if publisher is not running:
            publisher.stop()
        drain(sqs, archive_url(cloud))

    name = {"QueueName": archive_url(cloud).rsplit("/", 1)[-1]}
    [count] = values(
        cloud,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        name,
        "SampleCount",
        start=began.replace(microsecond=0) + dt.timedelta(seconds=1),
        end=ended.replace(microsecond=0),
    )
    # One datapoint per simulated minute (0.6 s at scale 0.01), give or take a late tick.
    minutes = ((ended - began).total_seconds() - 1) / (60 * cloud.clock.scale)
    assert minutes / 2 <= count <= minutes + 2
