"""What each API call asks IAM: the actions, the resource ARNs and the condition context.

One entry per (boto3 service, operation) the product calls, following the Service Authorization
Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html)
and each service's guide:

* most operations need the action of the same name on the resource they name;
* some need another action, or several: ``HeadObject`` is ``s3:GetObject``; a ``VersionId`` makes
  it ``s3:GetObjectVersion``; ``CopyObject`` reads the source and writes the target;
  ``TransactWriteItems`` is each item's ``PutItem``/``UpdateItem``/``DeleteItem``/
  ``ConditionCheckItem`` (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
* a call that passes a role needs ``iam:PassRole`` on it, with ``iam:PassedToService``
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html); one that tags
  what it creates needs ``sagemaker:AddTags`` on it
  (https://docs.aws.amazon.com/sagemaker/latest/dg/security_iam_id-based-policy-examples.html);
* a call on an encrypted topic or queue needs the KMS key too: publishing to an SSE topic and
  sending to an SSE queue need ``kms:GenerateDataKey`` and ``kms:Decrypt``
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html),
  reading an SSE-KMS S3 object needs ``kms:Decrypt`` and writing one ``kms:GenerateDataKey``
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).

SageMaker resource ARNs use the lowercased name. An operation missing here raises
``UnmappedOperation`` when a checked principal calls it: the call must be mapped before it can
pass offline, as it must be granted before it can pass on AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from localcloud.iam.wire import WireRequest, query_list


class UnmappedOperation(LookupError):
    """A checked principal called an operation the offline IAM check has no mapping for."""


@dataclass(frozen=True)
class Authorization:
    """One question for IAM: may the caller perform ``action`` on ``resource``?"""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A refusal of this authorization surfaces as this error, not the service's access denied
    # (SNS answers KMSAccessDenied when the publisher may not use the topic's key).
    error_code: str | None = None


class Resources(Protocol):
    """What an authorization needs to know about resources the request does not describe."""

    def topic_kms_key(self, topic_arn: str) -> str | None: ...
    def queue_kms_key(self, queue_arn: str) -> str | None: ...
    def object_kms_key(self, bucket: str, key: str) -> str | None: ...
    def bucket_kms_key(self, bucket: str) -> str | None: ...


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    request: WireRequest
    region: str
    account: str
    resources: Resources

    @property
    def params(self) -> dict[str, Any]:
        return self.request.params

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"


Builder = Callable[[Call], list[Authorization]]


def _one(action: str, resource: Callable[[Call], str]) -> Builder:
    return lambda call: [Authorization(action, resource(call))]


# ----------------------------------------------------------------------------- KMS on behalf of a service


def _kms(key_arn: str | None, actions: Sequence[str], via: str, call: Call, error: str | None) -> list[Authorization]:
    if not key_arn:
        return []
    context = {"kms:viaservice": (f"{via}.{call.region}.amazonaws.com",), "kms:calleraccount": (call.account,)}
    return [Authorization(action, key_arn, context, error) for action in actions]


# ----------------------------------------------------------------------------- S3


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _read_object(call: Call) -> list[Authorization]:
    version = call.params.get("versionId")
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    return [Authorization(action, _object_arn(call.params["Bucket"], call.params["Key"]))]


def _get_object(call: Call) -> list[Authorization]:
    key_arn = call.resources.object_kms_key(call.params["Bucket"], call.params["Key"])
    return _read_object(call) + _kms(key_arn, ["kms:Decrypt"], "s3", call, None)


def _write_object(call: Call) -> list[Authorization]:
    headers = call.request.headers
    key_arn: str | None = None
    if headers.get("x-amz-server-side-encryption") == "aws:kms":
        key_arn = headers.get("x-amz-server-side-encryption-aws-kms-key-id") or call.resources.bucket_kms_key(
            call.params["Bucket"]
        )
    elif "x-amz-server-side-encryption" not in headers:
        key_arn = call.resources.bucket_kms_key(call.params["Bucket"])
    written = Authorization("s3:PutObject", _object_arn(call.params["Bucket"], call.params["Key"]))
    return [written, *_kms(key_arn, ["kms:GenerateDataKey"], "s3", call, None)]


def _copy_object(call: Call) -> list[Authorization]:
    source, _, query = unquote(call.request.headers["x-amz-copy-source"]).lstrip("/").partition("?versionId=")
    bucket, _, key = source.partition("/")
    action = "s3:GetObjectVersion" if query else "s3:GetObject"
    return [Authorization(action, _object_arn(bucket, key)), *_write_object(call)]


def _list_bucket(action: str) -> Builder:
    def build(call: Call) -> list[Authorization]:
        context = {"s3:prefix": (str(call.params.get("prefix", "")),)}
        return [Authorization(action, f"arn:aws:s3:::{call.params['Bucket']}", context)]

    return build


def _delete_object(call: Call) -> list[Authorization]:
    action = "s3:DeleteObjectVersion" if call.params.get("versionId") else "s3:DeleteObject"
    return [Authorization(action, _object_arn(call.params["Bucket"], call.params["Key"]))]


def _object(action: str) -> Builder:
    return _one(action, lambda call: _object_arn(call.params["Bucket"], call.params["Key"]))


# ----------------------------------------------------------------------------- DynamoDB


def _table_arn(call: Call, table: str, index: str | None = None) -> str:
    base = table if table.startswith("arn:") else call.arn("dynamodb", f"table/{table}")
    return f"{base}/index/{index}" if index else base


def _table(action: str) -> Builder:
    return lambda call: [
        Authorization(action, _table_arn(call, call.params["TableName"], call.params.get("IndexName")))
    ]


_TRANSACT_WRITE = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem"}
_TRANSACT_WRITE["ConditionCheck"] = "dynamodb:ConditionCheckItem"


def _transact_write(call: Call) -> list[Authorization]:
    found: list[Authorization] = []
    for item in call.params["TransactItems"]:
        ((kind, body),) = item.items()
        grant = Authorization(_TRANSACT_WRITE[kind], _table_arn(call, body["TableName"]))
        if grant not in found:
            found.append(grant)
    return found


def _transact_get(call: Call) -> list[Authorization]:
    tables = {item["Get"]["TableName"] for item in call.params["TransactItems"]}
    return [Authorization("dynamodb:GetItem", _table_arn(call, t)) for t in sorted(tables)]


def _batch(action: str) -> Builder:
    return lambda call: [Authorization(action, _table_arn(call, t)) for t in sorted(call.params["RequestItems"])]


# ----------------------------------------------------------------------------- Step Functions, Lambda


def _function_arn(call: Call) -> str:
    name = str(call.params["FunctionName"])
    qualifier = call.params.get("Qualifier")
    if name.startswith("arn:"):
        return name
    if ":" in name:  # 123456789012:function:my-function
        account, _, rest = name.partition(":function:")
        return f"arn:aws:lambda:{call.region}:{account}:function:{rest}"
    return call.arn("lambda", f"function:{name}" + (f":{qualifier}" if qualifier else ""))


# ----------------------------------------------------------------------------- SNS, SQS


def _publish(call: Call) -> list[Authorization]:
    topic = call.params.get("TopicArn") or call.params["TargetArn"]
    key = call.resources.topic_kms_key(topic)
    kms = _kms(key, ["kms:GenerateDataKey", "kms:Decrypt"], "sns", call, "KMSAccessDenied")
    return [Authorization("sns:Publish", topic), *kms]


def _queue_arn(url: str) -> str:
    # https://sqs.us-east-1.amazonaws.com/123456789012/name (moto answers its own host name)
    parts = url.rstrip("/").split("/")
    host = parts[2]
    region = host.split(".")[1] if host.startswith("sqs.") else "us-east-1"
    return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"


def _queue(action: str, kms_actions: Sequence[str] = ()) -> Builder:
    def build(call: Call) -> list[Authorization]:
        queue = _queue_arn(call.params["QueueUrl"])
        key = call.resources.queue_kms_key(queue) if kms_actions else None
        return [Authorization(action, queue), *_kms(key, kms_actions, "sqs", call, "KMS.AccessDeniedException")]

    return build


def _queue_url(call: Call) -> list[Authorization]:
    owner = call.params.get("QueueOwnerAWSAccountId", call.account)
    return [Authorization("sqs:GetQueueUrl", f"arn:aws:sqs:{call.region}:{owner}:{call.params['QueueName']}")]


# ----------------------------------------------------------------------------- SageMaker


def _sagemaker_arn(call: Call, kind: str, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return call.arn("sagemaker", f"{kind}/{name.lower()}")


def _tags_context(tags: Sequence[Mapping[str, str]]) -> dict[str, tuple[str, ...]]:
    context: dict[str, tuple[str, ...]] = {f"aws:requesttag/{t['Key'].lower()}": (t["Value"],) for t in tags}
    context["aws:tagkeys"] = tuple(t["Key"] for t in tags)
    return context


def _sagemaker(action: str, kind: str, name_param: str, role_param: str | None = None) -> Builder:
    def build(call: Call) -> list[Authorization]:
        arn = _sagemaker_arn(call, kind, call.params[name_param])
        tags = call.params.get("Tags") or []
        found = [Authorization(action, arn, _tags_context(tags) if tags else {})]
        if role_param and call.params.get(role_param):
            passed = {"iam:passedtoservice": ("sagemaker.amazonaws.com",)}
            found.append(Authorization("iam:PassRole", call.params[role_param], passed))
        if tags:
            found.append(Authorization("sagemaker:AddTags", arn, _tags_context(tags)))
        return found

    return build


def _model_package(action: str) -> Builder:
    def build(call: Call) -> list[Authorization]:
        name = call.params.get("ModelPackageArn") or call.params.get("ModelPackageName")
        if name is None:
            # A new version of a group: its number is not known until it exists, so the check asks
            # for the group's packages (``model-package/GROUP/*``, the ARN form of a version).
            group = call.params["ModelPackageGroupName"]
            name = call.arn("sagemaker", f"model-package/{group.lower()}/*")
        return [Authorization(action, _sagemaker_arn(call, "model-package", name))]

    return build


# ----------------------------------------------------------------------------- CloudWatch, Application Auto Scaling


def _alarms(action: str) -> Builder:
    def build(call: Call) -> list[Authorization]:
        names = query_list(call.params, "AlarmNames") or (
            [call.params["AlarmName"]] if "AlarmName" in call.params else []
        )
        if not names:
            return [Authorization(action, call.arn("cloudwatch", "alarm:*"))]
        return [Authorization(action, call.arn("cloudwatch", f"alarm:{name}")) for name in names]

    return build


def _everything(action: str) -> Builder:
    # No resource-level permissions: the action is granted on "*" or not at all.
    return _one(action, lambda call: "*")


_AUTOSCALING_ROLE = (
    "role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def _scalable_target(action: str) -> Builder:
    """Application Auto Scaling's own action on "*" (a scalable target's ARN exists only once registered,
    https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html),
    plus what it validates the caller may do to the target before it acts: for a SageMaker variant,
    read the endpoint and set its weights, create the service-linked role, and manage a target
    tracking policy's alarms
    (https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_permission_validation.html,
    https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-prerequisites.html).
    """

    def build(call: Call) -> list[Authorization]:
        namespace = str(call.params.get("ServiceNamespace", ""))
        found = [Authorization(action, "*", {"application-autoscaling:servicenamespace": (namespace,)})]
        resource_id = str(call.params.get("ResourceId", ""))
        if namespace != "sagemaker" or not resource_id.startswith("endpoint/"):
            return found
        refused_as = "ValidationException"  # how Application Auto Scaling reports a missing target permission
        endpoint = call.arn("sagemaker", f"endpoint/{resource_id.split('/')[1].lower()}")
        if action.endswith(":RegisterScalableTarget"):
            linked = {"iam:awsservicename": ("sagemaker.application-autoscaling.amazonaws.com",)}
            found += [
                Authorization("sagemaker:DescribeEndpoint", endpoint, error_code=refused_as),
                Authorization("sagemaker:UpdateEndpointWeightsAndCapacities", endpoint, error_code=refused_as),
                Authorization(
                    "iam:CreateServiceLinkedRole", call.arn("iam", _AUTOSCALING_ROLE, region=False), linked, refused_as
                ),
            ]
        if action.endswith(":PutScalingPolicy") and call.params.get("PolicyType") == "TargetTrackingScaling":
            # The alarms it creates are named TargetTracking-<resource id>-Alarm{High,Low}-<uuid>.
            alarms = call.arn("cloudwatch", f"alarm:TargetTracking-{resource_id}-*")
            found += [
                Authorization(a, alarms, error_code=refused_as)
                for a in ("cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms")
            ]
        return found

    return build


OPERATIONS: dict[tuple[str, str], Builder] = {
    # S3 (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)
    ("s3", "GetObject"): _get_object,
    ("s3", "HeadObject"): _read_object,
    ("s3", "PutObject"): _write_object,
    ("s3", "CopyObject"): _copy_object,
    ("s3", "CreateMultipartUpload"): _write_object,
    ("s3", "UploadPart"): _object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _object("s3:AbortMultipartUpload"),
    ("s3", "DeleteObject"): _delete_object,
    ("s3", "ListObjectsV2"): _list_bucket("s3:ListBucket"),
    ("s3", "ListObjects"): _list_bucket("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _list_bucket("s3:ListBucketVersions"),
    # DynamoDB
    ("dynamodb", "GetItem"): _table("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _table("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _table("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _table("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _table("dynamodb:Query"),
    ("dynamodb", "Scan"): _table("dynamodb:Scan"),
    ("dynamodb", "DescribeTable"): _table("dynamodb:DescribeTable"),
    ("dynamodb", "BatchGetItem"): _batch("dynamodb:BatchGetItem"),
    ("dynamodb", "BatchWriteItem"): _batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("dynamodb", "TransactGetItems"): _transact_get,
    # Step Functions
    ("stepfunctions", "StartExecution"): _one("states:StartExecution", lambda c: c.params["stateMachineArn"]),
    ("stepfunctions", "DescribeExecution"): _one("states:DescribeExecution", lambda c: c.params["executionArn"]),
    ("stepfunctions", "StopExecution"): _one("states:StopExecution", lambda c: c.params["executionArn"]),
    # A callback token names no resource: the Service Authorization Reference scopes these actions to
    # activities only, so a token of a service-integration task is authorized on "*".
    ("stepfunctions", "SendTaskSuccess"): _everything("states:SendTaskSuccess"),
    ("stepfunctions", "SendTaskFailure"): _everything("states:SendTaskFailure"),
    ("stepfunctions", "SendTaskHeartbeat"): _everything("states:SendTaskHeartbeat"),
    # Lambda: Invoke is authorized as lambda:InvokeFunction
    ("lambda", "Invoke"): _one("lambda:InvokeFunction", _function_arn),
    # SNS, SQS
    ("sns", "Publish"): _publish,
    ("sqs", "SendMessage"): _queue("sqs:SendMessage", ("kms:GenerateDataKey", "kms:Decrypt")),
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage", ("kms:Decrypt",)),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sqs", "GetQueueUrl"): _queue_url,
    # SageMaker
    ("sagemaker", "CreateTrainingJob"): _sagemaker(
        "sagemaker:CreateTrainingJob", "training-job", "TrainingJobName", "RoleArn"
    ),
    ("sagemaker", "DescribeTrainingJob"): _sagemaker(
        "sagemaker:DescribeTrainingJob", "training-job", "TrainingJobName"
    ),
    ("sagemaker", "StopTrainingJob"): _sagemaker("sagemaker:StopTrainingJob", "training-job", "TrainingJobName"),
    ("sagemaker", "CreateProcessingJob"): _sagemaker(
        "sagemaker:CreateProcessingJob", "processing-job", "ProcessingJobName", "RoleArn"
    ),
    ("sagemaker", "DescribeProcessingJob"): _sagemaker(
        "sagemaker:DescribeProcessingJob", "processing-job", "ProcessingJobName"
    ),
    ("sagemaker", "StopProcessingJob"): _sagemaker(
        "sagemaker:StopProcessingJob", "processing-job", "ProcessingJobName"
    ),
    ("sagemaker", "ListProcessingJobs"): _everything("sagemaker:ListProcessingJobs"),
    ("sagemaker", "CreateCompilationJob"): _sagemaker(
        "sagemaker:CreateCompilationJob", "compilation-job", "CompilationJobName", "RoleArn"
    ),
    ("sagemaker", "DescribeCompilationJob"): _sagemaker(
        "sagemaker:DescribeCompilationJob", "compilation-job", "CompilationJobName"
    ),
    ("sagemaker", "StopCompilationJob"): _sagemaker(
        "sagemaker:StopCompilationJob", "compilation-job", "CompilationJobName"
    ),
    # A transform job passes no role: it runs as the model's, which CreateModel already passed.
    ("sagemaker", "CreateTransformJob"): _sagemaker(
        "sagemaker:CreateTransformJob", "transform-job", "TransformJobName"
    ),
    ("sagemaker", "DescribeTransformJob"): _sagemaker(
        "sagemaker:DescribeTransformJob", "transform-job", "TransformJobName"
    ),
    ("sagemaker", "StopTransformJob"): _sagemaker("sagemaker:StopTransformJob", "transform-job", "TransformJobName"),
    ("sagemaker", "CreateModel"): _sagemaker("sagemaker:CreateModel", "model", "ModelName", "ExecutionRoleArn"),
    ("sagemaker", "DescribeModel"): _sagemaker("sagemaker:DescribeModel", "model", "ModelName"),
    ("sagemaker", "DeleteModel"): _sagemaker("sagemaker:DeleteModel", "model", "ModelName"),
    ("sagemaker", "CreateEndpointConfig"): _sagemaker(
        "sagemaker:CreateEndpointConfig", "endpoint-config", "EndpointConfigName"
    ),
    ("sagemaker", "DescribeEndpointConfig"): _sagemaker(
        "sagemaker:DescribeEndpointConfig", "endpoint-config", "EndpointConfigName"
    ),
    ("sagemaker", "DeleteEndpointConfig"): _sagemaker(
        "sagemaker:DeleteEndpointConfig", "endpoint-config", "EndpointConfigName"
    ),
    ("sagemaker", "CreateEndpoint"): _sagemaker("sagemaker:CreateEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "UpdateEndpoint"): _sagemaker("sagemaker:UpdateEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "UpdateEndpointWeightsAndCapacities"): _sagemaker(
        "sagemaker:UpdateEndpointWeightsAndCapacities", "endpoint", "EndpointName"
    ),
    ("sagemaker", "DescribeEndpoint"): _sagemaker("sagemaker:DescribeEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "DeleteEndpoint"): _sagemaker("sagemaker:DeleteEndpoint", "endpoint", "EndpointName"),
    ("sagemaker", "ListEndpoints"): _everything("sagemaker:ListEndpoints"),
    ("sagemaker", "ListTags"): _everything("sagemaker:ListTags"),
    ("sagemaker", "CreateModelPackageGroup"): _sagemaker(
        "sagemaker:CreateModelPackageGroup", "model-package-group", "ModelPackageGroupName"
    ),
    ("sagemaker", "DescribeModelPackageGroup"): _sagemaker(
        "sagemaker:DescribeModelPackageGroup", "model-package-group", "ModelPackageGroupName"
    ),
    ("sagemaker", "CreateModelPackage"): _model_package("sagemaker:CreateModelPackage"),
    ("sagemaker", "DescribeModelPackage"): _model_package("sagemaker:DescribeModelPackage"),
    ("sagemaker", "UpdateModelPackage"): _model_package("sagemaker:UpdateModelPackage"),
    # CloudWatch
    ("cloudwatch", "DescribeAlarms"): _alarms("cloudwatch:DescribeAlarms"),
    ("cloudwatch", "PutMetricAlarm"): _alarms("cloudwatch:PutMetricAlarm"),
    ("cloudwatch", "DeleteAlarms"): _alarms("cloudwatch:DeleteAlarms"),
    ("cloudwatch", "PutMetricData"): lambda call: [
        Authorization("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": (str(call.params["Namespace"]),)})
    ],
    # Application Auto Scaling
    ("application-autoscaling", "RegisterScalableTarget"): _scalable_target(
        "application-autoscaling:RegisterScalableTarget"
    ),
    ("application-autoscaling", "DeregisterScalableTarget"): _scalable_target(
        "application-autoscaling:DeregisterScalableTarget"
    ),
    ("application-autoscaling", "PutScalingPolicy"): _scalable_target("application-autoscaling:PutScalingPolicy"),
    ("application-autoscaling", "DescribeScalableTargets"): _scalable_target(
        "application-autoscaling:DescribeScalableTargets"
    ),
    ("application-autoscaling", "DescribeScalingPolicies"): _scalable_target(
        "application-autoscaling:DescribeScalingPolicies"
    ),
    # EventBridge
    ("events", "PutEvents"): lambda call: [
        Authorization("events:PutEvents", _event_bus_arn(call, entry.get("EventBusName")))
        for entry in call.params["Entries"]
    ],
}

# Operations no IAM policy governs (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
UNAUTHORIZED = frozenset({("sts", "GetCallerIdentity")})


def _event_bus_arn(call: Call, name: str | None) -> str:
    if name and name.startswith("arn:"):
        return name
    return call.arn("events", f"event-bus/{name or 'default'}")


def authorizations(call: Call) -> list[Authorization]:
    """Everything IAM must allow for ``call`` to proceed; ``UnmappedOperation`` when it is not known."""
    if (call.service, call.operation) in UNAUTHORIZED:
        return []
    builder = OPERATIONS.get((call.service, call.operation))
    if builder is None:
        raise UnmappedOperation(
            f"{call.service}:{call.operation} has no IAM mapping offline (localcloud/iam/actions.py): add the "
            "actions, resources and condition keys the Service Authorization Reference lists for it"
        )
    return builder(call)
