"""Cheap guardrails on template.yaml: runtime, tracing, logging, bucket hardening and IAM scoping."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any

RUNTIME = "python3.13"
ARCHITECTURES = ["arm64"]
PUBLIC_ACCESS_BLOCKS = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")


def test_function_has_active_tracing(project: Any, function_id: str) -> None:
    tracing = project.function_properties(function_id).get("Tracing")
    assert tracing == "Active", f"{function_id}: Tracing is {tracing!r} (directly or via Globals), expected 'Active'"


def test_function_runs_python_3_13_on_arm64(project: Any, function_id: str) -> None:
    properties = project.function_properties(function_id)
    assert properties.get("Runtime") == RUNTIME, f"{function_id}: Runtime is {properties.get('Runtime')!r}"
    assert properties.get("Architectures") == ARCHITECTURES, (
        f"{function_id}: Architectures is {properties.get('Architectures')!r}"
    )


def test_state_machine_logs_everything_and_traces(project: Any, state_machine_id: str) -> None:
    properties = project.resources[state_machine_id]["Properties"]
    logging = properties.get("Logging") or {}
    assert logging.get("Level") == "ALL", f"{state_machine_id}: Logging.Level is {logging.get('Level')!r}"
    assert logging.get("Destinations"), f"{state_machine_id}: Logging has no Destinations"
    assert (properties.get("Tracing") or {}).get("Enabled") is True, f"{state_machine_id}: Tracing is not Enabled"


def bucket_properties(project: Any, bucket_id: str) -> dict[str, Any]:
    return project.resources[bucket_id].get("Properties") or {}


def test_bucket_is_encrypted(project: Any, bucket_id: str) -> None:
    rules = (bucket_properties(project, bucket_id).get("BucketEncryption") or {}).get(
        "ServerSideEncryptionConfiguration"
    )
    assert rules, f"{bucket_id}: no BucketEncryption.ServerSideEncryptionConfiguration"
    assert all((rule.get("ServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for rule in rules), (
        f"{bucket_id}: an encryption rule has no SSEAlgorithm"
    )


def test_bucket_is_versioned(project: Any, bucket_id: str) -> None:
    versioning = bucket_properties(project, bucket_id).get("VersioningConfiguration") or {}
    assert versioning.get("Status") == "Enabled", f"{bucket_id}: VersioningConfiguration.Status is not Enabled"


def test_bucket_blocks_all_public_access(project: Any, bucket_id: str) -> None:
    block = bucket_properties(project, bucket_id).get("PublicAccessBlockConfiguration") or {}
    open_settings = [name for name in PUBLIC_ACCESS_BLOCKS if block.get(name) is not True]
    assert not open_settings, f"{bucket_id}: PublicAccessBlockConfiguration does not set {open_settings} to true"


def refers_to(value: Any, logical_id: str) -> bool:
    return value == {"Ref": logical_id}


def covers_bucket_and_objects(resources: Any, logical_id: str) -> bool:
    items = resources if isinstance(resources, list) else [resources]
    texts = [item.get("Fn::Sub") for item in items if isinstance(item, dict)]
    bucket = {"Fn::GetAtt": [logical_id, "Arn"]} in items or any(
        text in (f"${{{logical_id}.Arn}}", f"arn:${{AWS::Partition}}:s3:::${{{logical_id}}}") for text in texts
    )
    objects = any(
        text in (f"${{{logical_id}.Arn}}/*", f"arn:${{AWS::Partition}}:s3:::${{{logical_id}}}/*") for text in texts
    )
    return bucket and objects


def denies_insecure_transport(statement: dict[str, Any], logical_id: str) -> bool:
    condition = (statement.get("Condition") or {}).get("Bool") or {}
    actions = statement.get("Action")
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") in ("*", {"AWS": "*"})
        and str(condition.get("aws:SecureTransport")).lower() == "false"
        and (actions == "s3:*" or (isinstance(actions, list) and "s3:*" in actions))
        and covers_bucket_and_objects(statement.get("Resource"), logical_id)
    )


def test_bucket_policy_denies_insecure_transport(project: Any, bucket_id: str) -> None:
    policies = [
        resource["Properties"]
        for resource in project.resources_of_type("AWS::S3::BucketPolicy").values()
        if refers_to(resource.get("Properties", {}).get("Bucket"), bucket_id)
    ]
    assert policies, f"{bucket_id}: no AWS::S3::BucketPolicy refers to it"
    statements = [
        statement for policy in policies for statement in (policy.get("PolicyDocument") or {}).get("Statement", [])
    ]
    assert any(denies_insecure_transport(statement, bucket_id) for statement in statements), (
        f"{bucket_id}: no bucket policy statement denies s3:* to everyone on the bucket and its objects "
        "when aws:SecureTransport is false"
    )


def s3_rule_buckets(node: Any) -> Iterator[str]:
    """Buckets named (by Ref) in ``detail.bucket.name`` of EventBridge patterns on aws.s3 events."""
    if isinstance(node, dict):
        pattern = node.get("Pattern") or node.get("EventPattern")
        if isinstance(pattern, dict) and "aws.s3" in (pattern.get("source") or []):
            names = ((pattern.get("detail") or {}).get("bucket") or {}).get("name") or []
            yield from (name["Ref"] for name in names if isinstance(name, dict) and "Ref" in name)
        for value in node.values():
            yield from s3_rule_buckets(value)
    elif isinstance(node, list):
        for value in node:
            yield from s3_rule_buckets(value)


def test_buckets_that_trigger_runs_send_events_to_eventbridge(project: Any) -> None:
    """The DataBucket, and any bucket an EventBridge rule listens to, must have EventBridge notifications on."""
    watched = {"DataBucket", *s3_rule_buckets(project.resources)}
    problems = []
    for bucket_id in sorted(watched):
        resource = project.resources.get(bucket_id)
        assert resource is not None, f"{bucket_id} is not a resource in template.yaml"
        notification = (resource.get("Properties") or {}).get("NotificationConfiguration") or {}
        if (notification.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") is not True:
            problems.append(bucket_id)
    assert not problems, (
        f"NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled is not true: {problems}"
    )


def allowed_actions(statement: dict[str, Any], actions_of: Callable[[dict[str, Any]], list[str]]) -> list[str]:
    return actions_of(statement) if statement.get("Effect") == "Allow" else []


def test_pass_role_is_limited_to_a_service(iam_statement: Any, statement_action_list: Any) -> None:
    """Any statement allowing iam:PassRole (however spelled or wildcarded) names the service it passes to."""
    passing = [
        action
        for action in allowed_actions(iam_statement.statement, statement_action_list)
        if fnmatch.fnmatchcase("iam:passrole", action.lower())
    ]
    if not passing:
        return
    conditions = iam_statement.statement.get("Condition") or {}
    keys = {key.lower() for operator in conditions.values() if isinstance(operator, dict) for key in operator}
    assert "iam:passedtoservice" in keys, (
        f"{iam_statement.key}: allows {passing} without a Condition on iam:PassedToService"
    )


def test_identity_statement_has_no_wildcard_action(identity_statement: Any, statement_action_list: Any) -> None:
    statement = identity_statement.statement
    if statement.get("Effect") != "Allow":
        return
    assert "NotAction" not in statement, f"{identity_statement.key}: Allow with NotAction grants nearly everything"
    wildcards = [
        action
        for action in statement_action_list(statement)
        if action == "*" or (action.endswith(":*") and action.count(":") == 1)
    ]
    assert not wildcards, f"{identity_statement.key}: allows whole services {wildcards}"
