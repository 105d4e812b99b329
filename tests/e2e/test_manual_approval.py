"""ApprovalMode=manual without a decision: the wait ends at ApprovalTimeoutSeconds, the package is rejected."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

pytestmark = pytest.mark.e2e


def test_a_model_nobody_decides_on_is_rejected_when_the_wait_expires(
    cloud_factory: Callable[..., OfflineCloud],
) -> None:
    cloud = cloud_factory(ApprovalMode="manual", ApprovalTimeoutSeconds="600")
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())
    [run] = cloud.wait_for_executions(1, timeout=300)

    assert run["status"] == "SUCCEEDED", "an expired approval is an outcome, not a failure"
    events = [n.event for n in cloud.notifications()]
    assert events == ["approval.requested", "approval.expired"]
    expired = cloud.notifications()[-1]
    package = expired.body["details"]["model_package"]
    described = cloud.client("sagemaker").describe_model_package(ModelPackageName=package)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"] == "No decision within 600 s: the run ended without deploying it"
    assert "within 600 s" in expired.body["reason"]
    endpoints = cloud.client("sagemaker").list_endpoints()["Endpoints"]
    assert endpoints == [], "nothing was deployed"
    # A decision after the wait ended finds no run: nothing happens, nothing fails.
    cloud.client("sagemaker").update_model_package(ModelPackageArn=package, ModelApprovalStatus="Approved")
    time.sleep(1)
    assert len(cloud.executions()) == 1
    assert [n.event for n in cloud.notifications()] == events
