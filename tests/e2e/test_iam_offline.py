"""IAM evaluated offline, end to end: the template's roles carry a whole run, and a missing grant fails it.

Every API call a handler or a state machine makes is checked against its role's policies as
``template.yaml`` deploys them (``localcloud/iam``). A successful run must make every call with
the permissions it was granted; a template with one permission removed must fail its run with
the service's AccessDenied naming that action, and still tell the operator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from conveyor_core.shared import prefetch
from localcloud.cloud import REPO_ROOT, OfflineCloud
from localcloud.datasets import breast_cancer_csv
from localcloud.iam import acting_as
from localcloud.iam.actions import Authorization
from localcloud.iam.checks import authorize
from localcloud.iam.policies import Principal
from localcloud.template import load_template
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e


def _role_name(cloud: OfflineCloud, function_name: str) -> str:
    configuration = cloud.client("lambda").get_function(FunctionName=function_name)["Configuration"]
    return str(configuration["Role"]).rsplit("/", 1)[1]


def test_a_successful_run_makes_every_call_with_the_permissions_the_template_grants(cloud: OfflineCloud) -> None:
    cloud.upload("incoming/cancer.csv", breast_cancer_csv())

    [run] = cloud.wait_for_executions(1)

    assert run["status"] == "SUCCEEDED"
    checks = cloud.runtime.iam.stats() if cloud.runtime else None
    assert checks is not None
    assert checks.refused == 0, checks.refusals
    # The handlers' calls and the state machine's integrations were all checked, the implied ones too.
    assert checks.calls >= 30
    assert {
        "states:StartExecution",
        "lambda:InvokeFunction",
        "sagemaker:CreateTrainingJob",
        "iam:PassRole",
        "sagemaker:AddTags",
        "events:PutRule",
        "application-autoscaling:RegisterScalableTarget",
        "sns:Publish",
        "kms:GenerateDataKey",
    } <= set(checks.by_action)


def test_execution_roles_carry_what_sam_generates(cloud: OfflineCloud) -> None:
    iam = cloud.client("iam")
    role = _role_name(cloud, cloud.output("IngestFunctionName"))

    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
    inline = iam.list_role_policies(RoleName=role)["PolicyNames"]

    assert attached == {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
    assert inline == ["DeadLetterQueuePolicy", "IngestFunctionRolePolicy0", "IngestFunctionRolePolicy1"]
    dead_letter = iam.get_role_policy(RoleName=role, PolicyName="DeadLetterQueuePolicy")["PolicyDocument"]
    assert dead_letter["Statement"][0]["Action"] == "sqs:SendMessage"


def test_the_roles_of_schedules_and_rules_may_start_their_targets(cloud: OfflineCloud) -> None:
    # Every delivery checks its role as it happens; this checks the template's roles directly, for
    # every target, including those a run never reaches (the schedule's dead-letter queue).
    schedule = cloud.client("scheduler").get_schedule(Name=cloud.stack.physical("RetrainScheduleRule"))["Target"]  # type: ignore[union-attr]
    rule_targets = [
        target
        for rule in cloud.client("events").list_rules()["Rules"]
        for target in cloud.client("events").list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if "RoleArn" in target
    ]
    assert cloud.runtime is not None
    deliveries = [(schedule["RoleArn"], "lambda:InvokeFunction", schedule["Arn"])]
    deliveries += [(schedule["RoleArn"], "sqs:SendMessage", schedule["DeadLetterConfig"]["Arn"])]
    deliveries += [(t["RoleArn"], "states:StartExecution", t["Arn"]) for t in rule_targets]

    for role, action, target in deliveries:
        decision = authorize(Principal(role, "delivery"), "us-east-1", Authorization(action, target), cloud.runtime.iam)
        assert decision.allowed, (role, action, target, decision.reason)


def test_the_sagemaker_role_reads_run_artifacts_and_drops_and_nothing_else(cloud: OfflineCloud) -> None:
    # The offline SageMaker reads channels and writes artefacts as the execution role; this checks the
    # role's scope directly: the run's artefacts, and the drops under incoming/ (a large drop's
    # Processing job reads them), not the rest of the data bucket (quarantined copies, say).
    s3 = cloud.client("s3")
    artifacts, data = cloud.output("ArtifactBucketName"), cloud.output("DataBucketName")
    s3.put_object(Bucket=artifacts, Key="runs/r1/train/part.csv", Body=b"1,2")
    s3.put_object(Bucket=data, Key="incoming/raw.csv", Body=b"1,2")
    s3.put_object(Bucket=data, Key="quarantine/r0/raw.csv", Body=b"1,2")

    with acting_as(cloud.output("SageMakerExecutionRoleArn"), "SageMaker"):
        assert s3.get_object(Bucket=artifacts, Key="runs/r1/train/part.csv")["Body"].read() == b"1,2"
        s3.put_object(Bucket=artifacts, Key="runs/r1/model/model.tar.gz", Body=b"m")
        assert s3.get_object(Bucket=data, Key="incoming/raw.csv")["Body"].read() == b"1,2"
        with pytest.raises(ClientError) as refused:
            s3.get_object(Bucket=data, Key="quarantine/r0/raw.csv")
        with pytest.raises(ClientError) as refused_write:
            s3.put_object(Bucket=data, Key="incoming/written-by-a-job.csv", Body=b"1,2")

    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert f'on resource: "arn:aws:s3:::{data}/quarantine/r0/raw.csv"' in error["Message"]
    assert refused_write.value.response["Error"]["Code"] == "AccessDenied"


def test_reads_a_handler_fans_out_to_threads_are_checked_as_the_handler(cloud: OfflineCloud) -> None:
    # Preprocess reads a folder's parts, and the monitors their capture files, on prefetch threads:
    # those calls carry the caller's identity, so a grant the role lacks fails there too.
    s3 = cloud.client("s3")
    data = cloud.output("DataBucketName")
    keys = [f"quarantine/r0/part-{index}.csv" for index in range(6)]
    for key in keys:
        s3.put_object(Bucket=data, Key=key, Body=b"1,2")

    with acting_as(cloud.output("SageMakerExecutionRoleArn"), "SageMaker"):
        futures = prefetch.ordered_map(lambda key: s3.get_object(Bucket=data, Key=key), keys, 4)
        with pytest.raises(ClientError) as refused:
            next(futures).result()
        futures.close()

    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert f'on resource: "arn:aws:s3:::{data}/quarantine/r0/part-0.csv"' in refused.value.response["Error"]["Message"]


# ----------------------------------------------------------------------------- one grant removed


def _without_statement(machine: str, sid: str, directory: Path) -> Path:
    """template.yaml with one statement of a state machine's Policies removed, deployable from ``directory``."""
    template = load_template((REPO_ROOT / "template.yaml").read_text())
    policies = template["Resources"][machine]["Properties"]["Policies"]
    for entry in policies:
        statements = entry.get("Statement", []) if isinstance(entry, dict) else []
        entry_without = [s for s in statements if s.get("Sid") != sid]
        if len(entry_without) != len(statements):
            entry["Statement"] = entry_without
            break
    else:
        raise AssertionError(f"{machine} has no statement {sid}")
    for shared in ("functions", "statemachines", "layers"):
        (directory / shared).symlink_to(REPO_ROOT / shared, target_is_directory=True)
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def test_a_missing_grant_fails_the_run_with_access_denied_and_a_notification(tmp_path: Path) -> None:
    template = _without_statement("RetrainStateMachine", "PassOnlyTheSageMakerRole", tmp_path)
    cloud = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False, template=template).start()
    try:
        cloud.upload("incoming/cancer.csv", breast_cancer_csv())

        [run] = cloud.wait_for_executions(1)

        assert run["status"] == "FAILED"
        [failed] = [n.body for n in cloud.notifications() if n.event == "pipeline.failed"]
        assert "AccessDenied" in failed["reason"]
        assert "is not authorized to perform: iam:PassRole on resource: " in failed["reason"]
        assert cloud.runtime is not None
        # The Train task retries a failed CreateTrainingJob; every attempt is refused the same way.
        refused = {(r.action, r.resource, r.reason) for r in cloud.runtime.iam.stats().refusals}
        assert refused == {
            (
                "iam:PassRole",
                cloud.output("SageMakerExecutionRoleArn"),
                "because no identity-based policy allows the iam:PassRole action",
            )
        }
        assert cloud.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    finally:
        cloud.stop()
