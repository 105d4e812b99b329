"""Every Task in both state machines has, on its machine's role, the permissions Step Functions documents.

What each integration needs, as the Step Functions developer guide lists it:

* a Lambda function as the Resource: ``lambda:InvokeFunction`` on it
  (https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html);
* ``sns:publish``: ``sns:Publish`` on the topic (https://docs.aws.amazon.com/step-functions/latest/dg/sns-iam.html),
  and, the topic being encrypted, ``kms:GenerateDataKey`` and ``kms:Decrypt`` on its key
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html);
* ``dynamodb:getItem``/``putItem``...: that action on the table
  (https://docs.aws.amazon.com/step-functions/latest/dg/dynamo-iam.html);
* ``sagemaker:createTrainingJob.sync``: ``CreateTrainingJob``, ``DescribeTrainingJob`` and
  ``StopTrainingJob`` on the job, ``sagemaker:ListTags``, ``iam:PassRole`` on the role passed (to
  ``sagemaker.amazonaws.com``), and ``events:PutTargets``/``PutRule``/``DescribeRule`` on
  ``rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule``; ``createTransformJob.sync`` the same
  for a transform job and ``StepFunctionsGetEventsForSageMakerTransformJobsRule``, with no role;
  ``createModel``: ``CreateModel`` and ``iam:PassRole``; ``createEndpointConfig``, ``createEndpoint``,
  ``updateEndpoint``: the action on
  the resource it names (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html);
  tags given on create also need ``sagemaker:AddTags``;
* ``aws-sdk:<service>:<api>``: the service's own IAM action for the API on the resources the
  Service Authorization Reference lists (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html),
  as the offline cloud maps each call (``localcloud/iam/actions.py``).

Parameters computed at run time (``Name.$``) take a value of the shape the product gives them
(run ids are ``<model>-<hex>``, endpoint configs ``<run>-cfg``...). The role is the one SAM
generates from the machine's ``Policies``, decided by the offline evaluator.
"""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.iam import sam
from localcloud.iam.actions import Authorization, Call, authorizations
from localcloud.iam.evaluator import ResourcePolicy, decide
from localcloud.iam.policies import Policy, Principal
from localcloud.iam.wire import WireRequest

REGION, ACCOUNT = "us-east-1", "123456789012"
SYNC_RULES = {
    "createTrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "createProcessingJob": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    "createTransformJob": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
}
# aws-sdk service names in Resource ARNs, as boto3 names the service.
SDK_SERVICES = {"applicationautoscaling": "application-autoscaling", "sfn": "stepfunctions"}


def _run_id(project: Any) -> str:
    model = project.resolver().resolve({"Ref": "ModelName"})
    return f"{model}-0123456789abcdef01234567"


def _samples(project: Any, machine_id: str) -> dict[str, Any]:
    """Values of the shape the product computes for parameters the ASL fills in at run time."""
    resolver = project.resolver()
    planner = project.function_properties("PlanDeploymentFunction")["Environment"]["Variables"]
    endpoint = resolver.resolve_string(planner["ENDPOINT_NAME"])
    group = project.state_machines["RetrainStateMachine"].substitution_values(resolver)["ModelPackageGroupName"]
    run = _run_id(project)
    return {
        "TrainingJobName": run,
        "ProcessingJobName": run,
        "CompilationJobName": f"{run}-neo",
        "TransformJobName": f"{run}-nrc",
        "ModelName": run,
        "EndpointConfigName": f"{run}-cfg",
        "EndpointName": endpoint,
        "NameContains": endpoint,
        "ResourceId": f"endpoint/{endpoint}/variant/primary",
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/1",
        "AlarmNames": resolver.resolve_string(planner["CANDIDATE_ALARMS"]).split(","),
        "InputConfig": {},
    }


def _parameters(state: dict[str, Any], samples: dict[str, Any]) -> dict[str, Any]:
    raw = state.get("Parameters") or state.get("Arguments") or {}
    resolved: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.removesuffix(".$")
        resolved[name] = samples.get(name, value) if key.endswith(".$") else value
    return resolved


class _TemplateKeys:
    """The KMS keys of the template's topics and queues, by their resolved ARNs."""

    def __init__(self, project: Any) -> None:
        resolver = project.resolver()
        self.topics = {
            resolver.resolve({"Ref": lid}): resolver.resolve(r["Properties"].get("KmsMasterKeyId"))
            for lid, r in project.resources_of_type("AWS::SNS::Topic").items()
        }
        self.key_arns = {
            resolver.resolve({"Ref": lid}): resolver.resolve({"Fn::GetAtt": [lid, "Arn"]})
            for lid in project.resources_of_type("AWS::KMS::Key")
        }

    def topic_kms_key(self, topic_arn: str) -> str | None:
        key = self.topics.get(topic_arn)
        return self.key_arns.get(key, key)

    def queue_kms_key(self, queue_arn: str) -> str | None:
        return None

    def object_kms_key(self, bucket: str, key: str) -> str | None:
        return None

    def bucket_kms_key(self, bucket: str) -> str | None:
        return None


def _call(service: str, operation: str, params: dict[str, Any], project: Any) -> Call:
    return Call(service, operation, WireRequest(params, {}), REGION, ACCOUNT, _TemplateKeys(project))


def _optimized_sagemaker(api: str, sync: bool, params: dict[str, Any], call: Call) -> list[Authorization]:
    kinds = {
        "createTrainingJob": ("training-job", "TrainingJobName", "RoleArn"),
        "createProcessingJob": ("processing-job", "ProcessingJobName", "RoleArn"),
        # A transform job passes no role: it runs as its model's.
        "createTransformJob": ("transform-job", "TransformJobName", None),
        "createModel": ("model", "ModelName", "ExecutionRoleArn"),
        "createEndpointConfig": ("endpoint-config", "EndpointConfigName", None),
        "createEndpoint": ("endpoint", "EndpointName", None),
        "updateEndpoint": ("endpoint", "EndpointName", None),
    }
    kind, name_param, role_param = kinds[api]
    resource = call.arn("sagemaker", f"{kind}/{str(params[name_param]).lower()}")
    action = f"sagemaker:{api[0].upper()}{api[1:]}"
    needed = [Authorization(action, resource)]
    if role_param:
        passed = {"iam:passedtoservice": ("sagemaker.amazonaws.com",)}
        needed.append(Authorization("iam:PassRole", params[role_param], passed))
    if params.get("Tags"):
        needed.append(Authorization("sagemaker:AddTags", resource))
    if api in ("createTrainingJob", "createTransformJob", "createProcessingJob"):
        needed.append(Authorization("sagemaker:ListTags", "*"))
    if sync:
        job = api.removeprefix("create")
        needed += [Authorization(f"sagemaker:{verb}{job}", resource) for verb in ("Describe", "Stop")]
        rule = call.arn("events", f"rule/{SYNC_RULES[api]}")
        needed += [Authorization(a, rule) for a in ("events:PutTargets", "events:PutRule", "events:DescribeRule")]
    return needed


def required(resource: str, params: dict[str, Any], project: Any) -> list[Authorization]:
    """What the machine's role must be allowed for a Task with this Resource and these Parameters."""
    if ":states:::" not in resource:  # a function ARN: the Lambda integration's short form
        return [Authorization("lambda:InvokeFunction", resource)]
    integration = resource.split(":states:::", 1)[1]
    if integration.startswith("aws-sdk:"):
        _, service, api = integration.split(":")
        service = SDK_SERVICES.get(service, service)
        return authorizations(_call(service, api[0].upper() + api[1:], params, project))
    service, _, api = integration.partition(":")
    api, _, pattern = api.partition(".")
    if service == "lambda" and api == "invoke":
        return [Authorization("lambda:InvokeFunction", params["FunctionName"])]
    if service in ("sns", "dynamodb"):
        return authorizations(_call(service, api[0].upper() + api[1:], params, project))
    if service == "sagemaker":
        return _optimized_sagemaker(api, pattern == "sync", params, _call(service, api, params, project))
    raise AssertionError(f"{resource}: no documented permissions for this integration in this test")


def _role_policies(project: Any, machine_id: str) -> list[Policy]:
    resolver = project.resolver()
    role = sam.state_machine_role(machine_id, resolver.resolve(project.resources[machine_id]["Properties"]))
    assert role is not None, f"{machine_id} names its own Role; this test reads SAM's generated one"
    managed = sam.aws_managed_policies()
    policies = [Policy.parse(name, resolver.resolve(document)) for name, document in role.inline]
    policies += [Policy.parse(arn, managed[arn.rsplit("/", 1)[1]]["Document"]) for arn in role.managed]
    return policies


def _key_policy(project: Any, key_arn: str) -> ResourcePolicy | None:
    resolver = project.resolver()
    for lid, resource in project.resources_of_type("AWS::KMS::Key").items():
        if resolver.resolve({"Fn::GetAtt": [lid, "Arn"]}) == key_arn:
            return ResourcePolicy(
                Policy.parse(lid, resolver.resolve(resource["Properties"]["KeyPolicy"])), required=True
            )
    return None


def test_every_integration_has_its_documented_permissions(project: Any, task_state: Any) -> None:
    if task_state == "unloadable":
        pytest.fail("template.yaml or an ASL file did not load")
    machine_id = task_state.scope.machine_id
    params = _parameters(task_state.definition, _samples(project, machine_id))
    principal = Principal(f"arn:aws:iam::{ACCOUNT}:role/{machine_id}Role", "execution", f"states:{machine_id}")
    base = {"aws:securetransport": ("true",), "aws:principalaccount": (ACCOUNT,)}
    policies = _role_policies(project, machine_id)

    missing = []
    for grant in required(task_state.resource, params, project):
        key_policy = _key_policy(project, grant.resource) if grant.action.startswith("kms:") else None
        decision = decide(principal, grant.action, grant.resource, {**base, **grant.context}, policies, key_policy)
        if not decision.allowed:
            missing.append(f"{grant.action} on {grant.resource} ({decision.reason})")

    assert not missing, f"{task_state.key} ({task_state.resource}) lacks:\n  " + "\n  ".join(missing)
