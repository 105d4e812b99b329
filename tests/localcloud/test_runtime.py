"""The offline cloud owns its state: one ``Runtime`` per cloud, found by moto's patches through one accessor.

Two clouds started one after the other in one process share nothing: not the jobs, hosted endpoints,
counters or fault rules of the first, not its clock's scale or simulated time; and the second's
first run succeeds. moto's backends are process-wide, so the accessor holds one runtime at a time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud import moto_patches
from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv, feature_rows_csv
from localcloud.eventbridge import DeliveryCounts
from localcloud.runtime import CloudAlreadyRunning, NoCloudRunning, Runtime, active, current
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e

DAY = 86_400.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def no_cloud() -> Iterator[None]:
    assert active() is None, "an earlier test left an offline cloud running"
    yield
    assert active() is None, "this test left an offline cloud running"


# --- the accessor ------------------------------------------------------------------------------


def test_without_a_running_cloud_the_accessor_fails_and_names_what_needed_one(no_cloud: None) -> None:
    with pytest.raises(NoCloudRunning, match="no offline cloud is running, and InvokeEndpoint on x needs one"):
        current("InvokeEndpoint on x")


def test_a_patched_moto_call_without_a_running_cloud_fails_clearly(
    no_cloud: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The patches are in place only while a cloud runs; put there by hand, they have no runtime to use.
    moto_patches.install_all()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
            with pytest.raises(NoCloudRunning, match="InvokeEndpoint on scoring"):
                runtime.invoke_endpoint(EndpointName="scoring", ContentType="text/csv", Body=b"1,2")
    finally:
        moto_patches.uninstall_all()


def test_after_a_cloud_stops_moto_is_plain_moto_again(no_cloud: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with Runtime():
        assert moto_patches.all_installed()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sagemaker_runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
        answer = sagemaker_runtime.invoke_endpoint(EndpointName="scoring", ContentType="text/csv", Body=b"1,2")

    assert moto_patches.none_installed()
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200, "moto's own canned answer"


def test_two_runtimes_cannot_be_active_at_once(no_cloud: None) -> None:
    with Runtime(time_scale=0.5) as first:
        assert current() is first
        second = Runtime()
        with pytest.raises(CloudAlreadyRunning, match="another offline cloud is running"):
            second.activate()
        second.close()
    assert active() is None


def test_runtimes_one_after_the_other_start_from_nothing(no_cloud: None) -> None:
    with Runtime(time_scale=0.5) as first:
        first.clock.advance(3 * DAY)
        first.faults.crash_function("IngestFunction")
        first.faults.degrade_model("model-a", error_rate=1.0)
        first.sagemaker.job_durations.training_seconds = 3600
        first.invocations.count("scoring", "blue", 500)
        first.deliveries.counts.dead_lettered += 1

    with Runtime(time_scale=0.01) as second:
        assert second.clock.scale == 0.01
        assert abs(second.clock.now() - time.time()) < 60, "the first clock's three days did not carry over"
        assert second.faults.function_crash("conveyor-IngestFunction-1a2b3c4d") is None
        assert second.faults.model_fault("model-a") is None
        assert second.sagemaker.job_durations.training_seconds == 0
        assert second.invocations.snapshot() == {}
        assert second.deliveries.counts == DeliveryCounts()
        assert second.sagemaker.hosts == {}


# --- two whole clouds --------------------------------------------------------------------------


def _first_run_succeeds(cloud: OfflineCloud) -> dict[str, Any]:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=180)
    assert run["status"] == "SUCCEEDED", [(n.event, n.body.get("reason")) for n in cloud.notifications()]
    assert [n.event for n in cloud.notifications()] == ["pipeline.succeeded"]
    return run


def test_a_second_cloud_sees_nothing_of_the_first_and_its_first_run_succeeds(no_cloud: None) -> None:
    # Given a first cloud (in-process) that ran a pipeline, served requests, advanced its clock and
    # still holds fault rules that would kill the next drop's ingest, when it stops...
    first = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False)
    with first:
        _first_run_succeeds(first)
        first.invoke_endpoint(feature_rows_csv(rows=2))
        first.clock.advance(3 * DAY)
        first.faults.crash_function("IngestFunction")
        first.faults.fail_api("sagemaker", "CreateTrainingJob", kind="error")
        assert first.runtime is not None
        first_runtime = first.runtime
        first_functions = {fn.name for fn in first.lambdas.functions()}
        assert first_runtime.sagemaker.hosts
        assert first_runtime.invocations.snapshot()
    assert active() is None

    # ... then a second cloud in the same process, in server mode as `conveyor local up` runs it,
    # starts from nothing and its first run succeeds.
    second = OfflineCloud(time_scale=TIME_SCALE * 2, use_sam_build=False, server_port=_free_port())
    with second:
        runtime = second.runtime
        assert runtime is not None
        assert runtime is not first_runtime
        assert current() is runtime
        assert runtime.clock.scale == TIME_SCALE * 2
        assert abs(runtime.clock.now() - time.time()) < 3600, "not three simulated days ahead"
        assert runtime.faults.stats().total == 0
        assert runtime.faults.function_crash(next(iter(first_functions))) is None
        assert runtime.sagemaker.hosts == {}
        assert runtime.invocations.snapshot() == {}
        assert runtime.deliveries.counts == DeliveryCounts()
        assert not first_functions & {fn.name for fn in second.lambdas.functions()}
        sagemaker = second.client("sagemaker")
        assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
        assert sagemaker.list_endpoints()["Endpoints"] == []
        assert second.executions() == []

        _first_run_succeeds(second)
        predictions, _variant = second.invoke_endpoint(feature_rows_csv(rows=3))
        assert len(predictions.splitlines()) == 3
        assert sum(c.invocations for c in runtime.invocations.snapshot().values()) == 1
    assert active() is None
