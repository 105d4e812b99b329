"""Injected faults on the offline cloud, and what the product does about each.

* every Task's Retry names the errors a throttled, failing or timed-out call of its integration
  surfaces (static: no cloud);
* throttled calls inside the state machine surface under their AWS names and are retried;
* a training job killed midway ends the run in ``pipeline.failed`` with the job's cause;
* an endpoint whose model will not load: a first deployment fails the run, a later one leaves the
  previous config serving (InvokeEndpoint still answers);
* a crashing Ingest is retried by Lambda, then dead-lettered and notified; a crash that clears
  is absorbed by the retries; EventBridge that cannot reach Ingest dead-letters the event too;
* a state machine function whose runtime exits once is retried;
* a three-run soak with 10% faults on every API loses nothing (so ``make soak`` cannot rot).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv, feature_rows_csv
from localcloud.faults import KINDS, wire_error
from localcloud.stepfunctions import task_error_name
from localcloud.template import load_template
from reliability.fault_soak import format_report, run_soak
from tests.conftest import TIME_SCALE
from tests.reliability.conftest import terminal

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = {
    "Hyperparameters": '{"objective": "binary:logistic", "num_round": "20", "max_depth": "3", "eval_metric": "auc"}',
    "BakeTimeSeconds": "60",
}
# Step Functions' names for a service in aws-sdk resources -> boto3's.
BOTO_NAMES = {"applicationautoscaling": "application-autoscaling", "sfn": "stepfunctions"}


@pytest.fixture
def cloud_factory() -> Iterator[Any]:
    started: list[OfflineCloud] = []

    def start(**parameters: str) -> OfflineCloud:
        cloud = OfflineCloud(parameters={**QUICK, **parameters}, time_scale=TIME_SCALE, use_sam_build=False).start()
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.stop()


def function_name(cloud: OfflineCloud, logical_id: str) -> str:
    assert cloud.stack is not None
    return cloud.stack.physical(logical_id)


def dead_letters_waiting(cloud: OfflineCloud) -> int:
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=cloud.output("DeadLetterQueueUrl"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# ------------------------------------------------------------------------------ static


def task_states(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in document["States"].items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from task_states(branch)
        if "ItemProcessor" in state:
            yield from task_states(state["ItemProcessor"])


def boto_service(resource: str) -> str:
    if ":states:::" not in resource:
        return "lambda"
    name = re.sub(r"^aws-sdk:", "", resource.split(":states:::", 1)[1]).split(":", 1)[0]
    return BOTO_NAMES.get(name, name)


@pytest.mark.parametrize("machine", ["retrain", "rollback"])
def test_every_task_retries_the_errors_a_faulted_call_surfaces(machine: str) -> None:
    """For each Task and each fault kind: the name the call fails with is in a Retrier, not only in Catch."""
    document = json.loads((REPO_ROOT / "statemachines" / f"{machine}.asl.json").read_text())
    missing = []
    for name, state in task_states(document):
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        if "States.ALL" in retried:
            continue
        service = boto_service(state["Resource"])
        for kind in KINDS:
            error = task_error_name(state["Resource"], wire_error(service, kind).code)
            if error not in retried:
                missing.append(f"{name} ({kind}): {error}")
    assert not missing, f"{machine}: these faults would fail the run instead of being retried: {missing}"


def test_functions_retry_sdk_calls_in_standard_mode() -> None:
    """botocore reads AWS_RETRY_MODE and AWS_MAX_ATTEMPTS; every function gets them from Globals."""
    template = load_template((REPO_ROOT / "template.yaml").read_text())
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AWS_RETRY_MODE"] == "standard"
    assert int(variables["AWS_MAX_ATTEMPTS"]) >= 5


def test_asynchronously_invoked_functions_have_a_dead_letter_queue() -> None:
    template = load_template((REPO_ROOT / "template.yaml").read_text())
    for logical_id in ("IngestFunction", "ScheduledRetrainFunction"):
        properties = template["Resources"][logical_id]["Properties"]
        assert properties["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
        assert properties["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    rule = template["Resources"]["IngestFunction"]["Properties"]["Events"]["ObjectCreated"]["Properties"]
    assert rule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


# ------------------------------------------------------------------------------ state machine


def test_throttled_calls_in_the_state_machine_surface_under_aws_names_and_are_retried(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.fail_api("lambda", "Invoke", kind="throttle", times=1, callers=("states:",))
    cloud.faults.fail_api("sagemaker", "CreateModelPackage", kind="timeout", times=1, callers=("states:",))
    cloud.faults.fail_api("sagemaker", "DescribeEndpoint", kind="error", times=1, callers=("states:",))
    cloud.faults.fail_api("dynamodb", "TransactWriteItems", kind="throttle", times=1, callers=("states:",))
    cloud.upload("incoming/named.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED", [(n.event, n.body.get("reason")) for n in cloud.notifications()]
    failures = {
        (event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}).get("error")
        for event in cloud.history(run["executionArn"])
        if event["type"] in ("TaskFailed", "LambdaFunctionFailed")
    }
    assert failures == {
        "Lambda.TooManyRequestsException",
        # SageMaker's API model declares neither a timeout nor an internal failure: an aws-sdk task names
        # an undeclared error after the SDK's base exception.
        "SageMaker.SageMakerException",
        "DynamoDb.ThrottlingException",  # aws-sdk:dynamodb spells the service DynamoDb
    }
    assert [n.event for n in terminal(cloud)] == ["pipeline.succeeded"]


def test_a_training_job_killed_midway_ends_in_pipeline_failed_with_the_cause(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.kill_training(after_seconds=0.3)
    cloud.upload("incoming/killed.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "FAILED"
    assert len(cloud.faults.stats().killed_training_jobs) == 1
    [note] = terminal(cloud)
    assert note.event == "pipeline.failed"
    assert note.body["reason"].startswith("States.TaskFailed: AlgorithmError: the container exited with code -9")
    job = cloud.client("sagemaker").describe_training_job(TrainingJobName=run["name"])
    assert job["TrainingJobStatus"] == "Failed"
    assert cloud.client("sagemaker").list_endpoints()["Endpoints"] == []


def test_a_first_endpoint_whose_model_will_not_load_fails_the_run(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.fail_model_load()
    cloud.upload("incoming/unloadable.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "FAILED"
    [note] = terminal(cloud)
    assert note.event == "pipeline.failed"
    assert "ended Failed" in note.body["reason"]
    endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert endpoint["EndpointStatus"] == "Failed"
    assert "does not load" in endpoint["FailureReason"]


def test_a_new_model_that_will_not_load_leaves_the_previous_config_serving(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.upload("incoming/first.csv", breast_cancer_csv())
    cloud.wait_for_executions(1, timeout=180)
    sagemaker = cloud.client("sagemaker")
    serving = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))["EndpointConfigName"]
    cloud.faults.fail_model_load(times=1)

    cloud.upload("incoming/second.csv", breast_cancer_csv())  # a tie promotes: a rollout starts
    runs = cloud.wait_for_executions(2, timeout=180)

    assert runs[1]["status"] == "FAILED"
    outcome = terminal(cloud, count=2)[1]
    assert outcome.event == "deployment.rolled_back"
    assert outcome.body["details"]["serving_config"] == serving
    # Not "on an alarm": the new fleet did not start, and the reason says so.
    assert "Failed to load the new model" in outcome.body["details"]["failure_reason"]
    assert "alarm" not in outcome.body["reason"]
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == serving, "the previous config still serves"
    predictions, _variant = cloud.invoke_endpoint(feature_rows_csv(rows=3))
    assert len(predictions.strip().splitlines()) == 3, "InvokeEndpoint still answers"


def test_a_state_machine_function_whose_runtime_exits_once_is_retried(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.crash_function("QualityGateFunction", kind="exit", times=1)
    cloud.upload("incoming/exit-once.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    errors = [
        event["lambdaFunctionFailedEventDetails"]["error"]
        for event in cloud.history(run["executionArn"])
        if event["type"] == "LambdaFunctionFailed"
    ]
    assert errors == ["Runtime.ExitError"]
    assert [n.event for n in terminal(cloud)] == ["pipeline.succeeded"]


# ------------------------------------------------------------------------------ asynchronous paths


@pytest.mark.parametrize(("crash", "cause"), [("exception", "InjectedCrash"), ("exit", "Runtime.ExitError")])
def test_a_crashing_ingest_is_retried_then_dead_lettered_and_notified(
    cloud_factory: Any, crash: str, cause: str
) -> None:
    cloud = cloud_factory()
    cloud.faults.crash_function("IngestFunction", kind=crash)  # type: ignore[arg-type]
    cloud.upload("incoming/crash.csv", breast_cancer_csv(rows=60))

    [note] = terminal(cloud)

    assert note.event == "pipeline.failed"
    assert note.body["severity"] == "error"
    assert note.body["details"]["stage"] == "ingest"
    assert note.body["details"]["dataset"] == f"s3://{cloud.output('DataBucketName')}/incoming/crash.csv"
    assert note.body["details"]["dead_letter"]["writer"] == "lambda"
    assert cause in note.body["reason"]
    runtime = cloud.lambdas.get(cloud.output("IngestFunctionName"))
    assert runtime is not None
    assert runtime.invocations == 3, "one attempt and Lambda's two asynchronous retries"
    assert cloud.executions() == []
    # The notifier publishes before the event source mapping deletes its message: wait for the delivery to end.
    assert cloud.deliveries.wait_idle(timeout=60)
    assert dead_letters_waiting(cloud) == 0, "the notifier consumed the dead letter"


def test_an_ingest_crash_that_clears_is_absorbed_by_lambdas_retries(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.crash_function("IngestFunction", times=2)
    cloud.upload("incoming/crash-twice.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1, timeout=180)

    assert run["status"] == "SUCCEEDED"
    assert [n.event for n in terminal(cloud)] == ["pipeline.succeeded"]
    runtime = cloud.lambdas.get(cloud.output("IngestFunctionName"))
    assert runtime is not None
    assert runtime.invocations == 3


def test_eventbridge_that_cannot_reach_ingest_dead_letters_the_event_and_notifies(cloud_factory: Any) -> None:
    cloud = cloud_factory()
    cloud.faults.fail_api("lambda", "Invoke", kind="throttle", callers=("events:",))
    cloud.upload("incoming/unreachable.csv", breast_cancer_csv(rows=60))

    [note] = terminal(cloud)

    assert note.event == "pipeline.failed"
    assert note.body["details"]["dead_letter"]["writer"] == "eventbridge"
    assert note.body["details"]["dataset"].endswith("/incoming/unreachable.csv")
    assert "TooManyRequestsException" in note.body["reason"]
    assert "after 10 retries" in note.body["reason"], "the rule's RetryPolicy.MaximumRetryAttempts"
    runtime = cloud.lambdas.get(cloud.output("IngestFunctionName"))
    assert runtime is not None
    assert runtime.invocations == 0


# ------------------------------------------------------------------------------ soak


def test_a_three_run_soak_with_faults_on_every_api_loses_nothing() -> None:
    report = run_soak(runs=3, rate=0.10, seed=11)

    assert report.ok, format_report(report)
    assert sum(report.outcomes.values()) == 3
    assert report.faults_injected > 0
    assert report.drops_lost == []
    assert report.executions_stuck == []
