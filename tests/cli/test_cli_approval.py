"""Manual approval through the CLI: a stack with ApprovalMode=manual, decided with approve and reject.

The CLI only updates the package in the Model Registry; SageMaker's "Model Package State Change"
event resumes or ends the waiting run, as on AWS.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import Notification, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from tests.cli.conftest import _free_port
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(hermetic_aws: dict[str, str]) -> Iterator[OfflineCloud]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = OfflineCloud(
        server_port=_free_port(), time_scale=TIME_SCALE, use_sam_build=False, parameters={"ApprovalMode": "manual"}
    )
    try:
        yield started.start()
    finally:
        started.stop()


def wait_for_note(cloud: OfflineCloud, event: str, count: int = 1, timeout: float = 120.0) -> Notification:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [n for n in cloud.notifications() if n.event == event]
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.2)
    raise TimeoutError(f"no {event} #{count}: {[n.event for n in cloud.notifications()]}")


def test_a_fresh_stack_has_nothing_to_approve_and_no_drift_report(cli: Any) -> None:
    result = cli("--local", "approve")
    assert result.exit_code == 1
    assert "waits for approval" in result.stderr
    # With no model in production the hourly monitor has nothing to judge and writes no report.
    drift = cli("--local", "drift")
    assert drift.exit_code == 1
    assert "the drift monitor has not reported yet" in drift.stderr


def test_an_approved_model_is_deployed_and_a_rejected_one_is_not(cli: Any, cloud: OfflineCloud) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    asked = wait_for_note(cloud, "approval.requested")
    [waiting] = cloud.executions()
    assert waiting["status"] == "RUNNING", "the run waits for the reviewer"
    package = asked.body["details"]["model_package"]
    sagemaker = cloud.client("sagemaker")
    assert sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"] == "PendingManualApproval"
    assert "conveyor approve" in asked.body["reason"]

    approved = cli("--local", "--json", "approve")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["model_package"] == package
    [run] = cloud.wait_for_executions(1, timeout=120)
    assert run["status"] == "SUCCEEDED"
    assert wait_for_note(cloud, "pipeline.succeeded")
    endpoint = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert endpoint["EndpointStatus"] == "InService"

    cloud.upload("incoming/cancer-again.csv", breast_cancer_csv())
    second = wait_for_note(cloud, "approval.requested", count=2)
    rejected = cli("--local", "reject", "--reason", "the March labels are known to be wrong")
    assert rejected.exit_code == 0, rejected.output
    runs = cloud.wait_for_executions(2, timeout=120)
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], "a rejection is an outcome, not a failure"
    note = wait_for_note(cloud, "model.rejected")
    assert "the March labels are known to be wrong" in note.body["reason"]
    assert second.body["details"]["model_package"] in note.body["reason"]
    after = sagemaker.describe_endpoint(EndpointName=cloud.output("EndpointName"))
    assert after["EndpointConfigName"] == endpoint["EndpointConfigName"], "nothing was deployed"
