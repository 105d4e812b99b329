"""Security properties of template.yaml: least privilege, encryption everywhere, no secrets, checkov clean.

test_template_hygiene.py already checks every bucket for encryption, versioning, a public access
block and a TLS-only policy, wildcard *services* in identity policies and iam:PassRole conditions;
this module adds what it does not: wildcard resources (with the allow-list of APIs AWS cannot
scope), what PassRole may pass, resource policies' principals, encryption of topics, tables,
queues, log groups and keys, ACLs and access logs on buckets, secrets in function environments,
and checkov (every suppression carries a written reason; no check fails).
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

# Statements that may name Resource "*", keyed by Sid: the actions allowed under that Sid and why
# AWS leaves no narrower resource to name. A new entry needs a reason a reviewer can check.
RESOURCE_WILDCARD_ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "EcrAuthorizationHasNoResource": (
        frozenset({"ecr:GetAuthorizationToken"}),
        "GetAuthorizationToken returns a registry login token and supports no resource-level permissions",
    ),
    "JobMetricsNamespaceScoped": (
        frozenset({"cloudwatch:PutMetricData"}),
        "PutMetricData has no resource ARN; the statement is scoped by a cloudwatch:namespace condition instead",
    ),
    "EndTheWaitingTask": (
        frozenset({"states:SendTaskSuccess", "states:SendTaskFailure"}),
        "a callback task's token belongs to no resource IAM can name (the Service Authorization Reference scopes "
        "these actions to activities only)",
    ),
    "PublishLiveQuality": (
        frozenset({"cloudwatch:PutMetricData"}),
        "PutMetricData has no resource ARN; the statement is scoped to Conveyor/ModelQuality by a condition instead",
    ),
    "AutoscalingHasNoResourceLevelPermissionsForTargets": (
        frozenset(
            {
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DescribeScalableTargets",
                "application-autoscaling:DescribeScalingPolicies",
            }
        ),
        "Application Auto Scaling supports no resource-level permissions for scalable targets and policies",
    ),
    "ListActionsHaveNoResourceLevelPermissions": (
        frozenset({"sagemaker:ListTags", "sagemaker:ListEndpoints"}),
        "SageMaker's List actions support no resource-level permissions; Step Functions documents ListTags on * "
        "for the .sync training integration",
    ),
    "VendedLogDeliveryHasNoResourceLevelPermissions": (
        frozenset(
            {
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
                "logs:DescribeLogGroups",
            }
        ),
        "Step Functions logging needs the vended-log delivery APIs, which take no resource ARN",
    ),
    "XRayHasNoResourceLevelPermissions": (
        frozenset(
            {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}
        ),
        "X-Ray's trace and sampling APIs support no resource-level permissions",
    ),
}
# Sids whose wildcard resource is only acceptable with a Condition narrowing it.
CONDITION_REQUIRED = frozenset({"JobMetricsNamespaceScoped"})

RESOURCE_POLICY_TYPES = frozenset({"AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"})
SAGEMAKER_ROLE = {"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]}

SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY|(^|_)KEY($|_)", re.IGNORECASE
)
SECRET_VALUE = re.compile(
    r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\bxox[abprs]-[0-9A-Za-z-]+"  # Slack tokens
    r"|\bgh[pousr]_[0-9A-Za-z]{30,}"  # GitHub tokens
)
CHECKOV_TIMEOUT_SECONDS = 300
MIN_REASON_LENGTH = 40


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resource_type(project: Any, logical_id: str) -> str:
    return str(project.resources[logical_id].get("Type", ""))


# ------------------------------------------------------------------------------------- IAM


def test_allow_statement_grants_no_wildcard_action(iam_statement: Any, statement_action_list: Any) -> None:
    statement = iam_statement.statement
    if statement.get("Effect") != "Allow":
        return
    assert "NotAction" not in statement, f"{iam_statement.key}: Allow with NotAction grants nearly everything"
    assert "*" not in statement_action_list(statement), f"{iam_statement.key}: allows Action '*'"


def test_allow_statement_names_its_resources(project: Any, iam_statement: Any, statement_action_list: Any) -> None:
    """Resource "*" only where AWS offers no narrower resource (RESOURCE_WILDCARD_ALLOWED), or in a key policy."""
    statement = iam_statement.statement
    if statement.get("Effect") != "Allow" or ("Resource" not in statement and "NotResource" not in statement):
        return
    assert "NotResource" not in statement, f"{iam_statement.key}: Allow with NotResource"
    if "*" not in as_list(statement.get("Resource")):
        return
    if resource_type(project, iam_statement.owner) == "AWS::KMS::Key":
        return  # in a key policy "*" means this key, and nothing else is allowed there
    sid = statement.get("Sid")
    assert sid in RESOURCE_WILDCARD_ALLOWED, (
        f"{iam_statement.key}: Resource '*' is not in RESOURCE_WILDCARD_ALLOWED; name the resources, or add the "
        "Sid with the reason AWS cannot scope these actions"
    )
    allowed, _reason = RESOURCE_WILDCARD_ALLOWED[sid]
    extra = sorted(set(statement_action_list(statement)) - allowed)
    assert not extra, f"{iam_statement.key}: {extra} ride along under an allow-listed wildcard resource"
    if sid in CONDITION_REQUIRED:
        assert statement.get("Condition"), f"{iam_statement.key}: the wildcard resource needs its Condition"


def test_allow_listed_wildcards_carry_reasons() -> None:
    short = [sid for sid, (_, reason) in RESOURCE_WILDCARD_ALLOWED.items() if len(reason) < MIN_REASON_LENGTH]
    assert not short, f"allow-list entries without a real reason: {short}"


def pass_role_statements(project: Any, statement_action_list: Any) -> list[Any]:
    return [
        item
        for item in project.iam_statements()
        if item.statement.get("Effect") == "Allow"
        and any(fnmatch.fnmatchcase("iam:passrole", action.lower()) for action in statement_action_list(item.statement))
    ]


def test_pass_role_passes_only_the_sagemaker_role_to_sagemaker(project: Any, statement_action_list: Any) -> None:
    statements = pass_role_statements(project, statement_action_list)
    assert statements, "the retrain state machine must be able to pass the SageMaker execution role"
    for item in statements:
        statement = item.statement
        assert statement_action_list(statement) == ["iam:PassRole"], f"{item.key}: PassRole shares its statement"
        assert as_list(statement.get("Resource")) == [SAGEMAKER_ROLE], (
            f"{item.key}: may pass {statement.get('Resource')!r}; only SageMakerExecutionRole is ever passed"
        )
        condition = (statement.get("Condition") or {}).get("StringEquals") or {}
        assert condition.get("iam:PassedToService") == "sagemaker.amazonaws.com", (
            f"{item.key}: needs StringEquals iam:PassedToService sagemaker.amazonaws.com; "
            f"has {statement.get('Condition')}"
        )


def test_resource_policy_allows_no_anonymous_principal(project: Any, iam_statement: Any) -> None:
    """Bucket, topic, queue and key policies: Allow only named principals; a service only under a Condition."""
    owner_type = resource_type(project, iam_statement.owner)
    statement = iam_statement.statement
    if owner_type not in RESOURCE_POLICY_TYPES | {"AWS::KMS::Key"} or statement.get("Effect") != "Allow":
        return
    principal = statement.get("Principal")
    assert principal not in ("*", {"AWS": "*"}), f"{iam_statement.key}: allows everyone"
    if isinstance(principal, dict) and "Service" in principal:
        assert statement.get("Condition"), (
            f"{iam_statement.key}: a service principal without a Condition (aws:SourceAccount, aws:SourceArn or an "
            "encryption context) lets the service act for any account"
        )


# ------------------------------------------------------------------------------- encryption


def test_topic_is_encrypted_with_a_kms_key(project: Any) -> None:
    topics = project.resources_of_type("AWS::SNS::Topic")
    assert topics
    unencrypted = [logical_id for logical_id, topic in topics.items() if not topic["Properties"].get("KmsMasterKeyId")]
    assert not unencrypted, f"topics without KmsMasterKeyId: {unencrypted}"


def test_table_is_encrypted_and_recoverable(project: Any) -> None:
    problems = []
    for logical_id, table in project.resources_of_type("AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        if (properties.get("SSESpecification") or {}).get("SSEEnabled") is not True:
            problems.append(f"{logical_id}: SSESpecification.SSEEnabled is not true")
        if (properties.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is not True:
            problems.append(f"{logical_id}: point-in-time recovery is off")
    assert not problems, problems


def test_queue_is_encrypted(project: Any) -> None:
    queues = project.resources_of_type("AWS::SQS::Queue")
    unencrypted = [
        logical_id
        for logical_id, queue in queues.items()
        if not queue["Properties"].get("KmsMasterKeyId") and queue["Properties"].get("SqsManagedSseEnabled") is not True
    ]
    assert not unencrypted, f"queues with neither KmsMasterKeyId nor SqsManagedSseEnabled: {unencrypted}"


def test_queue_denies_insecure_transport(project: Any) -> None:
    covered: set[str] = set()
    for policy in project.resources_of_type("AWS::SQS::QueuePolicy").values():
        properties = policy["Properties"]
        for statement in properties["PolicyDocument"].get("Statement", []):
            condition = ((statement.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
            if statement.get("Effect") == "Deny" and str(condition).lower() == "false":
                covered.update(
                    item["Fn::GetAtt"][0] for item in as_list(statement.get("Resource")) if "Fn::GetAtt" in item
                )
    missing = sorted(set(project.resources_of_type("AWS::SQS::Queue")) - covered)
    assert not missing, f"queues no policy statement denies insecure transport to: {missing}"


def test_log_group_is_encrypted(project: Any) -> None:
    unencrypted = [
        logical_id
        for logical_id, group in project.resources_of_type("AWS::Logs::LogGroup").items()
        if not group["Properties"].get("KmsKeyId")
    ]
    assert not unencrypted, f"log groups without KmsKeyId: {unencrypted}"


def test_kms_key_rotates(project: Any) -> None:
    keys = project.resources_of_type("AWS::KMS::Key")
    assert keys
    static = [logical_id for logical_id, key in keys.items() if key["Properties"].get("EnableKeyRotation") is not True]
    assert not static, f"keys without EnableKeyRotation: {static}"


# ---------------------------------------------------------------------------------- buckets


def test_bucket_disables_acls(project: Any, bucket_id: str) -> None:
    rules = ((project.resources[bucket_id]["Properties"].get("OwnershipControls") or {}).get("Rules")) or []
    assert {"ObjectOwnership": "BucketOwnerEnforced"} in rules, f"{bucket_id}: ACLs are not disabled"


def test_bucket_access_is_logged_unless_it_is_the_log_destination(project: Any, bucket_id: str) -> None:
    destinations = {
        ((bucket.get("Properties") or {}).get("LoggingConfiguration") or {}).get("DestinationBucketName", {}).get("Ref")
        for bucket in project.resources_of_type("AWS::S3::Bucket").values()
    }
    if bucket_id in destinations:
        return
    logging = project.resources[bucket_id]["Properties"].get("LoggingConfiguration") or {}
    assert logging.get("DestinationBucketName"), f"{bucket_id}: no server access logging"


# ---------------------------------------------------------------------------------- secrets


def test_function_environment_holds_no_literal_secret(project: Any, function_id: str) -> None:
    """A variable named like a secret must come from an intrinsic (a Ref, a dynamic reference), never a literal."""
    variables = (project.function_properties(function_id).get("Environment") or {}).get("Variables") or {}
    problems = []
    for name, value in variables.items():
        if not isinstance(value, dict) and SECRET_NAME.search(name):
            problems.append(f"{name} is named like a secret and holds the literal {str(value)[:4]}...")
        if isinstance(value, str) and SECRET_VALUE.search(value):
            problems.append(f"{name} holds what looks like a credential")
    assert not problems, f"{function_id}: {problems}"


def test_secret_like_parameters_are_not_echoed(project: Any) -> None:
    echoed = [
        name for name, spec in project.parameters.items() if SECRET_NAME.search(name) and spec.get("NoEcho") is not True
    ]
    assert not echoed, f"parameters named like secrets without NoEcho: {echoed}"


# ---------------------------------------------------------------------------------- checkov


def checkov_skips(project: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical_id, skip)
        for logical_id, resource in project.resources.items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []
    ]


def test_every_checkov_suppression_has_a_written_reason(project: Any) -> None:
    skips = checkov_skips(project)
    problems = [
        f"{logical_id}: {skip}"
        for logical_id, skip in skips
        if not re.fullmatch(r"CKV2?_AWS_\d+", str(skip.get("id", "")))
        or len(str(skip.get("comment", "")).strip()) < MIN_REASON_LENGTH
    ]
    assert not problems, f"checkov suppressions need an id and a reason of {MIN_REASON_LENGTH}+ characters: {problems}"


def test_checkov_finds_no_failed_check(repo_root: Path) -> None:
    checkov = repo_root / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip(f"{checkov} is missing: `make checkov` installs it from requirements/checkov.txt")
    result = subprocess.run(
        [str(checkov), "-f", "template.yaml", "--framework", "cloudformation", "--skip-download", "-o", "json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_SECONDS,
        check=False,
    )
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for report in as_list(reports)
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks (fix them, or suppress in the resource's Metadata with a reason):\n" + (
        "\n".join(failed)
    )
