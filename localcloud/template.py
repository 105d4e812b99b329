"""Deploy ``template.yaml`` into moto: the same resources, handlers and ASL as ``sam deploy``.

moto's CloudFormation ignores the SAM transform and ``DefinitionSubstitutions``, so this module
resolves the intrinsics itself and creates the subset of resource types Conveyor uses. Anything
else fails loudly instead of being skipped.

Functions and state machines run as the roles SAM would generate for them (``localcloud.iam.sam``:
their ``Policies``, policy templates expanded, and what SAM adds), created in moto's IAM with
those policies attached, so the offline IAM check (``localcloud.iam``) decides with them.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from localcloud.iam import sam
from localcloud.iam.roles import create_role, ensure_aws_managed_policy
from localcloud.lambdas import FunctionRuntime, LocalLambdaRuntime

_NO_VALUE = object()
_SUB_PATTERN = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    pass


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short intrinsic tags (``!Ref``, ``!Sub``, ``!GetAtt`` ...)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}" if tag_suffix != "Condition" else "Condition": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals merge: maps merge recursively, lists concatenate, otherwise the resource wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def load_template(text: str) -> dict[str, Any]:
    # A SafeLoader subclass: only the intrinsic tags are added, nothing that constructs objects.
    document: dict[str, Any] = yaml.load(text, Loader=_TemplateLoader)
    return document


@dataclass
class Stack:
    name: str
    region: str
    account_id: str
    parameters: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    # CloudFormation's stack id ends in a random UUID; names the template derives from it
    # (SageMaker's, through Fn::Split) must see the same shape offline.
    stack_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def physical(self, logical_id: str) -> str:
        return str(self.resources[logical_id]["Ref"])


class Deployer:
    def __init__(
        self,
        template_path: Path,
        stack_name: str,
        region: str,
        account_id: str,
        parameters: dict[str, str],
        runtime: LocalLambdaRuntime,
        client_factory: Callable[[str], Any],
        build_dir: Path | None = None,
    ) -> None:
        self.root = template_path.parent
        self.template = load_template(template_path.read_text())
        self.region = region
        self.client = client_factory
        self.runtime = runtime
        self.build_dir = build_dir
        self.stack = Stack(stack_name, region, account_id, self._parameters(parameters))
        self.conditions = {name: bool(self.resolve(expr)) for name, expr in self.template.get("Conditions", {}).items()}

    # ----------------------------------------------------------------- intrinsics
    def _parameters(self, overrides: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            value = overrides.get(name, spec.get("Default"))
            if value is None:
                raise TemplateError(f"parameter {name} has no value and no default")
            if spec.get("Type") == "CommaDelimitedList":
                value = list(str(value).split(",")) if value != "" else [""]
            values[name] = value
        unknown = set(overrides) - set(values)
        if unknown:
            raise TemplateError(f"unknown parameters: {sorted(unknown)}")
        return values

    def _pseudo(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.stack.account_id,
            "AWS::StackName": self.stack.name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.stack.account_id}"
            f":stack/{self.stack.name}/{self.stack.stack_uuid}",
            "AWS::NoValue": _NO_VALUE,
        }
        if name not in pseudo:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return pseudo[name]

    def _ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.stack.parameters:
            return self.stack.parameters[name]
        if name in self.stack.resources:
            return self.stack.resources[name]["Ref"]
        logical_id, _, generated = name.partition(".")
        if generated in ("Alias", "Version") and generated in self.stack.resources.get(logical_id, {}):
            # SAM's references to what AutoPublishAlias generates: the alias ARN, the version ARN.
            return self.stack.resources[logical_id][generated]
        raise TemplateError(f"Ref to {name}, which is not (yet) created")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        attributes = self.stack.resources.get(logical_id)
        if attributes is None or attribute not in attributes:
            raise TemplateError(f"GetAtt {logical_id}.{attribute} is not available")
        return attributes[attribute]

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(variables[token])
            if "." in token and not token.startswith("AWS::"):
                logical_id, attribute = token.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._ref(token))

        return _SUB_PATTERN.sub(replace, text).replace("${!", "${")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self._sub(arg, {})
            if key == "Fn::Join":
                items = self.resolve(arg[1])
                return str(arg[0]).join(str(i) for i in (items if isinstance(items, list) else [items]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key == "Fn::FindInMap":
                name, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][name][first][second]
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    # ----------------------------------------------------------------- ordering
    def _dependencies(self, node: Any) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            for key, arg in node.items():
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg.split(".", 1)[0])  # SAM's MyFunction.Alias and .Version name the function
                elif key == "Fn::GetAtt":
                    found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
                elif key == "Fn::Sub":
                    text = arg[0] if isinstance(arg, list) else arg
                    found.update(t.split(".", 1)[0] for t in _SUB_PATTERN.findall(text))
                found |= self._dependencies(arg)
        elif isinstance(node, list):
            for item in node:
                found |= self._dependencies(item)
        return found

    def deploy(self) -> Stack:
        resources = {
            logical_id: spec
            for logical_id, spec in self.template["Resources"].items()
            if "Condition" not in spec or self.conditions[spec["Condition"]]
        }
        pending = dict(resources)
        while pending:
            ready = [
                logical_id
                for logical_id, spec in pending.items()
                if all(
                    dep not in pending or dep == logical_id
                    for dep in self._dependencies(spec.get("Properties", {})) | set(_as_list(spec.get("DependsOn")))
                )
            ]
            if not ready:
                raise TemplateError(f"circular or unsatisfiable dependencies among {sorted(pending)}")
            for logical_id in ready:
                spec = pending.pop(logical_id)
                creator = getattr(self, "_create_" + spec["Type"].replace("::", "_"), None)
                if creator is None:
                    raise TemplateError(f"{logical_id}: resource type {spec['Type']} is not supported offline")
                self.stack.resources[logical_id] = creator(logical_id, spec)
        self.stack.outputs = {name: self.resolve(o["Value"]) for name, o in self.template.get("Outputs", {}).items()}
        return self.stack

    def _name(self, logical_id: str, lower: bool = False, limit: int = 63) -> str:
        name = f"{self.stack.name}-{logical_id}-{uuid.uuid4().hex[:8]}"
        return (name.lower() if lower else name)[-limit:].lstrip("-")

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.stack.account_id}:{resource}"

    # ----------------------------------------------------------------- resources
    def _create_AWS_S3_Bucket(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec.get("Properties", {}))
        name = props.get("BucketName") or self._name(logical_id, lower=True)
        s3 = self.client("s3")
        # S3 (and moto) refuse a bucket outside us-east-1 without its region as the location constraint.
        location = (
            {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        )
        s3.create_bucket(Bucket=name, **location)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(
                Bucket=name,
                # CloudFormation says ServerSideEncryptionByDefault where the API says Apply...ByDefault.
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                        for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        if "LoggingConfiguration" in props:
            # Recorded, like CloudFormation does; the offline cloud writes no access logs.
            logging = props["LoggingConfiguration"]
            s3.put_bucket_logging(
                Bucket=name,
                BucketLoggingStatus={
                    "LoggingEnabled": {
                        "TargetBucket": logging["DestinationBucketName"],
                        "TargetPrefix": logging.get("LogFilePrefix", ""),
                    }
                },
            )
        return {"Ref": name, "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}

    def _create_AWS_S3_BucketPolicy(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        document = dict(props["PolicyDocument"])
        # The offline cloud speaks plain HTTP on loopback, so a TLS-only deny would refuse every
        # call. Only statements conditioned on aws:SecureTransport are dropped; the rest apply.
        document["Statement"] = [
            s for s in document["Statement"] if "aws:SecureTransport" not in json.dumps(s.get("Condition", {}))
        ]
        if document["Statement"]:
            self.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))
        return {"Ref": props["Bucket"]}

    def _create_AWS_DynamoDB_Table(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        name = props.get("TableName") or self._name(logical_id)
        request = {
            "TableName": name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "SSESpecification" in props:
            request["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
        table = self.client("dynamodb").create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            self.client("dynamodb").update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        return {"Ref": name, "Arn": table["TableArn"]}

    def _create_AWS_KMS_Key(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec.get("Properties", {}))
        key = self.client("kms").create_key(
            Description=props.get("Description", logical_id), Policy=json.dumps(props["KeyPolicy"])
        )
        key_id = key["KeyMetadata"]["KeyId"]
        if props.get("EnableKeyRotation"):
            self.client("kms").enable_key_rotation(KeyId=key_id)
        return {"Ref": key_id, "Arn": key["KeyMetadata"]["Arn"], "KeyId": key_id}

    def _create_AWS_SNS_Topic(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec.get("Properties", {}))
        attributes = {k: str(props[k]) for k in ("DisplayName", "KmsMasterKeyId") if k in props}
        arn = self.client("sns").create_topic(
            Name=props.get("TopicName") or self._name(logical_id), Attributes=attributes
        )["TopicArn"]
        return {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[1]}

    def _create_AWS_SQS_Queue(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec.get("Properties", {}))
        name = props.get("QueueName") or self._name(logical_id, limit=80)
        attributes = {key: _queue_attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    def _create_AWS_SQS_QueuePolicy(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        for url in props["Queues"]:
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        return {"Ref": logical_id}

    def _create_AWS_Lambda_EventSourceMapping(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        request = {
            key: props[key]
            for key in ("EventSourceArn", "FunctionName", "BatchSize", "Enabled", "FunctionResponseTypes")
            if key in props
        }
        mapping = self.client("lambda").create_event_source_mapping(**request)
        return {"Ref": mapping["UUID"], "Id": mapping["UUID"]}

    def _create_AWS_SNS_TopicPolicy(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        for topic in props["Topics"]:
            self.client("sns").set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )
        return {"Ref": logical_id}

    def _create_AWS_SNS_Subscription(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
        )["SubscriptionArn"]
        return {"Ref": arn}

    def _create_AWS_IAM_Role(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        name = props.get("RoleName") or self._name(logical_id, limit=64)
        iam = self.client("iam")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))[
            "Role"
        ]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(policy["PolicyDocument"])
            )
        for arn in props.get("ManagedPolicyArns", []):
            ensure_aws_managed_policy(self.stack.account_id, arn)
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        return {"Ref": name, "Arn": role["Arn"], "RoleId": role["RoleId"]}

    def _create_AWS_CloudWatch_Alarm(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        name = props.get("AlarmName") or self._name(logical_id)
        request = {k: v for k, v in props.items() if k != "AlarmName"}
        for numeric in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if numeric in request:
                request[numeric] = int(request[numeric])
        request["Threshold"] = float(request["Threshold"])
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **request)
        return {"Ref": name, "Arn": self._arn("cloudwatch", f"alarm:{name}")}

    def _create_AWS_CloudWatch_Dashboard(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        name = props.get("DashboardName") or self._name(logical_id)
        self.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        return {"Ref": name}

    def _create_AWS_Logs_LogGroup(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec.get("Properties", {}))
        name = props.get("LogGroupName") or self._name(logical_id)
        extra = {"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {}
        self.client("logs").create_log_group(logGroupName=name, **extra)
        return {"Ref": name, "Arn": self._arn("logs", f"log-group:{name}:*")}

    def _create_AWS_Serverless_LayerVersion(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        # The layer's package is importable in this process already (it is installed in the
        # project's venv), just as Lambda puts /opt/python on the path.
        props = self.resolve(spec["Properties"])
        return {"Ref": self._arn("lambda", f"layer:{logical_id}:1"), "ContentUri": str(self.root / props["ContentUri"])}

    def _function_settings(self, spec: dict[str, Any]) -> dict[str, Any]:
        props: dict[str, Any] = merge_globals(self.template.get("Globals", {}).get("Function", {}), spec["Properties"])
        props.setdefault("Environment", {}).setdefault("Variables", {})
        return props

    def _code_dir(self, logical_id: str, code_uri: str) -> Path:
        if self.build_dir is not None and (self.build_dir / logical_id).is_dir():
            return self.build_dir / logical_id
        return self.root / code_uri

    def _create_AWS_Serverless_Function(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(self._function_settings(spec))
        name = props.get("FunctionName") or self._name(logical_id, limit=64)
        role_arn = self._execution_role(sam.function_role(logical_id, props), props.get("Role"))
        variables = {k: str(v) for k, v in props["Environment"]["Variables"].items()}
        dead_letter = props.get("DeadLetterQueue") or {}
        snap_start = snap_start_setting(name, props)
        arn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=props["Runtime"],
            Role=role_arn,
            Handler=props["Handler"],
            Code={"ZipFile": _placeholder_zip()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": variables},
            Architectures=props.get("Architectures", ["x86_64"]),
            **({"SnapStart": snap_start} if snap_start else {}),
            # Lambda checks here that the role may send to it (localcloud/iam/validations.py).
            **({"DeadLetterConfig": {"TargetArn": dead_letter["TargetArn"]}} if dead_letter.get("TargetArn") else {}),
        )["FunctionArn"]
        self.runtime.register(
            FunctionRuntime(
                name=name,
                arn=arn,
                region=self.region,
                account_id=self.stack.account_id,
                code_dir=self._code_dir(logical_id, props["CodeUri"]),
                handler=props["Handler"],
                environment=variables,
                timeout_seconds=int(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                dead_letter_arn=dead_letter.get("TargetArn"),
            )
        )
        attributes = {"Ref": name, "Arn": arn}
        alias = props.get("AutoPublishAlias")
        if alias:
            # What SAM generates for AutoPublishAlias: a version of this code and an alias on it. Event
            # sources, their permissions and the event invoke config then all point at the alias.
            version = self.client("lambda").publish_version(FunctionName=name)["Version"]
            attributes["Version"] = f"{arn}:{version}"
            attributes["Alias"] = self.client("lambda").create_alias(
                FunctionName=name, Name=alias, FunctionVersion=version
            )["AliasArn"]
            for qualified in (attributes["Version"], attributes["Alias"]):
                self.runtime.add_qualified_arn(qualified, name)
        target = attributes.get("Alias", arn)
        if "EventInvokeConfig" in props:
            self._event_invoke_config(name, props["EventInvokeConfig"], alias)
        for event_id, rule_arn in self._event_rules(logical_id, name, props.get("Events", {}), target).items():
            # SAM's <Function><Event>Permission: EventBridge may invoke the function for this rule.
            self.client("lambda").add_permission(
                FunctionName=name,
                **({"Qualifier": alias} if alias else {}),
                StatementId=f"{logical_id}{event_id}Permission",
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        return attributes

    def _execution_role(self, generated: sam.RoleSpec | None, given: str | None) -> str:
        """The ARN of the role a function or state machine runs as: its ``Role``, or the one SAM generates."""
        if generated is None:
            return str(given)
        name = self._name(generated.logical_id, limit=64)
        return str(create_role(self.client("iam"), name, generated, self.resolve, self.stack.account_id)["Arn"])

    def _event_invoke_config(self, function_name: str, config: dict[str, Any], alias: str | None) -> None:
        request: dict[str, Any] = {
            key: int(config[key]) for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if key in config
        }
        destinations = {
            outcome: {"Destination": target["Destination"]}
            for outcome, target in (config.get("DestinationConfig") or {}).items()
            if target.get("Destination")
        }
        if destinations:
            request["DestinationConfig"] = destinations
        if alias:
            request["Qualifier"] = alias
        self.client("lambda").put_function_event_invoke_config(FunctionName=function_name, **request)

    def _event_rules(
        self,
        logical_id: str,
        name: str,
        events: dict[str, Any],
        target_arn: str,
        role_for: Callable[[str], str] | None = None,
    ) -> dict[str, str]:
        """One rule per EventBridgeRule event; ``role_for(event_id)`` gives the target's RoleArn, if any."""
        rules: dict[str, str] = {}
        for event_id, event in events.items():
            if event["Type"] != "EventBridgeRule":
                raise TemplateError(f"{logical_id}.{event_id}: event type {event['Type']} is not supported offline")
            properties = event["Properties"]
            target: dict[str, Any] = {}
            if "RetryPolicy" in properties:
                target["RetryPolicy"] = {key: int(value) for key, value in properties["RetryPolicy"].items()}
            if (properties.get("DeadLetterConfig") or {}).get("Arn"):
                target["DeadLetterConfig"] = {"Arn": properties["DeadLetterConfig"]["Arn"]}
            if role_for is not None:
                target["RoleArn"] = role_for(event_id)
            rules[event_id] = self._rule(f"{name}-{event_id}"[-64:], properties["Pattern"], target_arn, target=target)
        return rules

    def _rule(
        self,
        name: str,
        pattern: dict[str, Any],
        target_arn: str,
        target_input: str | None = None,
        target: dict[str, Any] | None = None,
    ) -> str:
        events = self.client("events")
        rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")["RuleArn"]
        request: dict[str, Any] = {"Id": "target", "Arn": target_arn, **(target or {})}
        if target_input is not None:
            request["Input"] = target_input
        events.put_targets(Rule=name, Targets=[request])
        return str(rule_arn)

    def _create_AWS_Serverless_StateMachine(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        definition = (self.root / props["DefinitionUri"]).read_text()
        substitutions = {k: str(v) for k, v in props.get("DefinitionSubstitutions", {}).items()}
        missing = sorted(set(re.findall(r"\$\{([^}]+)\}", definition)) - set(substitutions))
        if missing:
            raise TemplateError(f"{logical_id}: no DefinitionSubstitutions for {missing}")
        for key, value in substitutions.items():
            definition = definition.replace("${" + key + "}", value)
        json.loads(definition)
        name = props.get("Name") or self._name(logical_id, limit=80)
        role_arn = self._execution_role(sam.state_machine_role(logical_id, props), props.get("Role"))
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=role_arn, type=props.get("Type", "STANDARD")
        )["stateMachineArn"]

        def event_role(event_id: str) -> str:
            return self._execution_role(sam.state_machine_event_role(logical_id, event_id, arn), None)

        self._event_rules(logical_id, name, props.get("Events", {}), arn, role_for=event_role)
        return {"Ref": arn, "Arn": arn, "Name": name}

    def _create_AWS_Scheduler_Schedule(self, logical_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        props = self.resolve(spec["Properties"])
        name = props.get("Name") or self._name(logical_id, limit=64)
        target = {
            k: v
            for k, v in props["Target"].items()
            if k in ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")
        }
        arn = self.client("scheduler").create_schedule(
            Name=name,
            ScheduleExpression=props["ScheduleExpression"],
            State=props.get("State", "ENABLED"),
            FlexibleTimeWindow=props["FlexibleTimeWindow"],
            Target=target,
            Description=props.get("Description", ""),
        )["ScheduleArn"]
        return {"Ref": name, "Arn": arn}


_QUEUE_ATTRIBUTES = (
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
)


# Lambda's SnapStart rules (docs: "Improving startup performance with Lambda SnapStart"): managed
# runtimes Java 11+, Python 3.12+ and .NET 8+ only; not with provisioned concurrency, EFS, or more
# than 512 MB of ephemeral storage.
_SNAP_START_RUNTIMES = re.compile(r"^(java(1[1-9]|[2-9]\d)|python3\.(1[2-9]|[2-9]\d)|dotnet([89]|\d\d+))$")


def snap_start_setting(function_name: str, props: dict[str, Any]) -> dict[str, str] | None:
    """The function's SnapStart request, refused here as Lambda refuses it (InvalidParameterValueException)."""
    apply_on = str((props.get("SnapStart") or {}).get("ApplyOn", "None"))
    if apply_on == "None":
        return None
    if apply_on != "PublishedVersions":
        raise LambdaRequestError(function_name, f"SnapStart ApplyOn {apply_on!r} is not PublishedVersions or None")
    problems = []
    if not _SNAP_START_RUNTIMES.match(str(props.get("Runtime", ""))):
        problems.append(f"runtime {props.get('Runtime')} does not support SnapStart")
    if props.get("ProvisionedConcurrencyConfig"):
        problems.append("SnapStart cannot be used with provisioned concurrency")
    if props.get("FileSystemConfigs"):
        problems.append("SnapStart cannot be used with Amazon EFS")
    if int((props.get("EphemeralStorage") or {}).get("Size", 512)) > 512:
        problems.append("SnapStart supports at most 512 MB of ephemeral storage")
    if problems:
        raise LambdaRequestError(function_name, "; ".join(problems))
    return {"ApplyOn": apply_on}


class LambdaRequestError(TemplateError):
    """A function Lambda would refuse to create, with the error code Lambda answers."""

    code = "InvalidParameterValueException"

    def __init__(self, function_name: str, detail: str) -> None:
        super().__init__(f"{self.code}: function {function_name}: {detail}")


def _queue_attribute(value: Any) -> str:
    """CloudFormation's typed queue properties as the string attributes the SQS API takes."""
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _placeholder_zip() -> bytes:
    # moto insists on a code package; the real code runs from the function's directory.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The offline cloud runs this function from its CodeUri directory.")
    return buffer.getvalue()


def boto_factory(region: str, endpoint_url: str | None = None) -> Callable[[str], Any]:
    """One client per service for a deployment (a client per resource cost more than the resource)."""
    clients: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in clients:
            clients[service] = boto3.client(service, region_name=region, endpoint_url=endpoint_url)
        return clients[service]

    return make
