"""template.yaml deploys unchanged in every SageMaker region it claims, and ``prod`` runs on two instances or more.

Eight regions are checked, six in the ``aws`` partition and one each in ``aws-cn`` and ``aws-us-gov``
(the model family's image table and ``ecr_domain`` claim both):

(a) nothing in template.yaml or the ASL files it deploys names a region, an account or a partition:
    every ARN is built from ``${AWS::Partition}`` (``${Partition}`` in ASL), ``${AWS::Region}`` and
    ``${AWS::AccountId}``;
(b) the model family resolves its training and serving images in the region, on the host of the
    region's partition; the regions where SageMaker publishes no built-in XGBoost image are listed
    (``NO_BUILT_IN_XGBOOST``) and refused with a message that names the way out (``TrainingImage``);
(c) localcloud's intrinsic resolver, given the region's pseudo parameters, builds only ARNs of that
    region, partition and account; in the ``aws`` partition the offline cloud deploys the whole stack
    and every ARN it created (outputs, function environments, state machine definitions, IAM and
    resource policies, rules) is checked the same way;
(d) cfn-lint accepts the template for the region, as written (what ``make cfn-lint`` lints) and
    after the SAM transform of the region's partition (what CloudFormation receives: SAM picks the
    partition's managed policy ARNs), which runs in .venv-sam in the background while (c) deploys.

The template declares no ``AWS::SageMaker::ModelPackageGroup`` (CloudFormation lacks the type in
China, GovCloud East and the newest regions; the first run creates the group), so every SageMaker
region with a CloudFormation schema accepts it. The one known gap is an expected failure
(``xfail(strict=True)``, listed by ``-ra``), so its fix shows up as an unexpected pass: the offline
cloud speaks only the ``aws`` partition.

The last tests read samconfig.toml: every override names a template parameter with a value the
parameter accepts, the rollout settings are ones the deployment plan carries out as given, and
``prod`` spreads its endpoint over two instances or more (docs/multi-region.md has the rest).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import cfnlint
import pytest
from botocore.exceptions import ClientError
from cfnlint.version import __version__ as cfnlint_version

from conveyor_core.families import xgboost
from conveyor_core.release.compilation import plan_compilation
from conveyor_core.release.deployment import effective_strategy
from conveyor_core.shared.settings import DeploymentSettings
from localcloud.cloud import ACCOUNT_ID, OfflineCloud
from localcloud.lambdas import LocalLambdaRuntime
from localcloud.template import Deployer, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
SAMCONFIG_PATH = REPO_ROOT / "samconfig.toml"
SAM_PYTHON = REPO_ROOT / ".venv-sam" / "bin" / "python"
SYNTHESIS_TIMEOUT_SECONDS = 240

# The regions checked, with the partition each belongs to (test_region_table_matches_botocore).
REGIONS: dict[str, str] = {
    "us-east-1": "aws",
    "eu-west-1": "aws",
    "eu-central-1": "aws",
    "ap-northeast-1": "aws",
    "ap-southeast-2": "aws",
    "sa-east-1": "aws",
    "cn-north-1": "aws-cn",
    "us-gov-west-1": "aws-us-gov",
}
# The partitions whose regions the family's image table covers and whose documentation is public.
PUBLIC_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# SageMaker regions without a built-in XGBoost image (the SageMaker Python SDK's
# image_uri_config/xgboost.json, every version Conveyor offers): runs there need TrainingImage.
NO_BUILT_IN_XGBOOST = frozenset({"ap-east-2", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "mx-central-1"})
# cfn-lint bundles no resource schema for these SageMaker regions, so (d) cannot judge them.
NO_CFN_LINT_SCHEMA = frozenset({"me-south-1"})

OFFLINE_PARTITION_GAP = (
    "the offline cloud speaks only the aws partition: localcloud/template.py (Deployer._pseudo, _arn, the bucket "
    "ARN) and localcloud/iam/sam.py (managed policy ARNs) hard-code arn:aws"
)

# An ARN's first five fields; the values may hold ${...} placeholders (mapped to <...> tokens first).
ARN_FIELDS = re.compile(r"arn:([^:\s\"'/]*):([^:\s\"'/]*):([^:\s\"']*):([^:\s\"']*):")
# A region name of any partition (us-east-1, cn-north-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1...).
REGION_NAME = re.compile(
    r"(?<![\w-])(?:us|eu|ap|sa|ca|me|af|il|mx|cn|eusc)(?:-gov|-iso[a-z]?|-de)?"
    r"-(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}(?![\w-])"
)
ACCOUNT_NUMBER = re.compile(r"(?<![\w.-])\d{12}(?![\w.-])")
PLACEHOLDERS = {
    "${AWS::Partition}": "<partition>",
    "${Partition}": "<partition>",  # ASL: DefinitionSubstitutions.Partition is !Ref AWS::Partition
    "${AWS::Region}": "<region>",
    "${AWS::AccountId}": "<account>",
}


# ----------------------------------------------------------------------------------- region facts


@functools.cache
def source_template() -> dict[str, Any]:
    """template.yaml as written, parsed once (read only: the tests never change it)."""
    return load_template(TEMPLATE_PATH.read_text())


@functools.cache
def _partitions() -> dict[str, dict[str, Any]]:
    data = botocore.loaders.create_loader().load_data("endpoints")
    return {partition["partition"]: partition for partition in data["partitions"]}


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()  # a session loads botocore's data: one for the module


@functools.cache
def partition_of(region: str) -> str:
    return str(_session().get_partition_for_region(region))


def dns_suffix(partition: str) -> str:
    return str(_partitions()[partition]["dnsSuffix"])


@functools.cache
def sagemaker_regions() -> dict[str, str]:
    """Every region of the public partitions where botocore knows a SageMaker endpoint, with its partition."""
    return {
        region: partition
        for partition in PUBLIC_PARTITIONS
        for region in _session().get_available_regions("sagemaker", partition_name=partition)
    }


def test_region_table_matches_botocore() -> None:
    for region, partition in REGIONS.items():
        assert partition_of(region) == partition, f"{region} is in {partition_of(region)}, not {partition}"
        assert region in sagemaker_regions(), f"botocore knows no SageMaker endpoint in {region}"
    assert {"aws-cn", "aws-us-gov"} <= set(REGIONS.values()), "a region of every partition the family claims"


def test_gap_lists_name_only_sagemaker_regions() -> None:
    stale = (NO_BUILT_IN_XGBOOST | NO_CFN_LINT_SCHEMA) - set(sagemaker_regions())
    assert not stale, f"not SageMaker regions of {PUBLIC_PARTITIONS} (any more?): {sorted(stale)}"


# ------------------------------------------------------------- (a) nothing hard-coded in the sources


def strings_in(node: Any) -> Iterator[str]:
    """Every scalar under ``node`` as text (numbers too: an account id can hide in one)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)
    elif node is not None and not isinstance(node, bool):
        yield str(node)


def tokenized(text: str) -> str:
    """``text`` with the pseudo-parameter placeholders as ``<...>`` tokens (they hold colons an ARN splits on)."""
    for placeholder, token in PLACEHOLDERS.items():
        text = text.replace(placeholder, token)
    return text


def hard_coded(text: str) -> list[str]:
    """What in one template or ASL string names a region, an account or a partition instead of deriving it."""
    text = tokenized(text)
    problems = [f"region {name!r}" for name in REGION_NAME.findall(text)]
    problems += [f"account {number!r}" for number in ACCOUNT_NUMBER.findall(text)]
    for match in ARN_FIELDS.finditer(text):
        partition, _, region, account = match.groups()
        arn = match.group(0)
        if partition != "<partition>":
            problems.append(f"{arn!r}: partition {partition!r}, not ${{AWS::Partition}}")
        if region not in ("<region>", "", "*"):
            problems.append(f"{arn!r}: region {region!r}, not ${{AWS::Region}}")
        # "aws" owns AWS managed policies (arn:${AWS::Partition}:iam::aws:policy/...); "*": ECR images
        # live in AWS's accounts.
        if account not in ("<account>", "", "*", "aws"):
            problems.append(f"{arn!r}: account {account!r}, not ${{AWS::AccountId}}")
    return problems


def asl_paths() -> list[Path]:
    """The ASL files the template deploys (an unreadable template yields one path that names the error)."""
    try:
        resources = source_template()["Resources"]
    except Exception as error:  # reported by the test that reads the path, not as a collection error
        return [Path(f"template.yaml is unreadable: {error}")]
    return sorted(
        {
            REPO_ROOT / resource["Properties"]["DefinitionUri"]
            for resource in resources.values()
            if resource.get("Type") == "AWS::Serverless::StateMachine"
            and isinstance(resource.get("Properties", {}).get("DefinitionUri"), str)
        }
    )


def test_the_checker_finds_hard_coded_regions_accounts_and_partitions() -> None:
    assert hard_coded("arn:aws:sns:us-east-1:123456789012:topic")  # all three
    assert hard_coded("arn:${AWS::Partition}:sns:eu-west-1:${AWS::AccountId}:topic")
    assert hard_coded("arn:${AWS::Partition}:sns:${AWS::Region}:210987654321:topic")
    assert hard_coded("logs.cn-north-1.amazonaws.com.cn")
    assert hard_coded("arn:aws-us-gov:iam::${AWS::AccountId}:root")
    assert not hard_coded("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/x")
    assert not hard_coded("arn:${Partition}:states:::sagemaker:createTrainingJob.sync")
    assert not hard_coded("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    assert not hard_coded("ml.c5.xlarge rate(7 days) 5368709120")


def test_template_names_no_region_account_or_partition() -> None:
    problems = [problem for text in strings_in(source_template()) for problem in hard_coded(text)]
    assert not problems, "template.yaml hard-codes: " + "; ".join(sorted(set(problems)))


@pytest.mark.parametrize("asl_path", asl_paths(), ids=lambda path: path.name)
def test_state_machine_definition_names_no_region_account_or_partition(asl_path: Path) -> None:
    problems = [problem for text in strings_in(json.loads(asl_path.read_text())) for problem in hard_coded(text)]
    assert not problems, f"{asl_path.name} hard-codes: " + "; ".join(sorted(set(problems)))


def test_state_machines_take_their_partition_from_the_stack() -> None:
    resources = source_template()["Resources"]
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::StateMachine":
            continue
        definition = (REPO_ROOT / resource["Properties"]["DefinitionUri"]).read_text()
        substitutions = resource["Properties"].get("DefinitionSubstitutions", {})
        if "${Partition}" in definition:
            assert substitutions.get("Partition") == {"Ref": "AWS::Partition"}, (
                f"{logical_id}: its ASL uses ${{Partition}}, which must be !Ref AWS::Partition"
            )


# --------------------------------------------------------------- (b) the family's images per region


@pytest.mark.parametrize("region", list(REGIONS))
def test_family_resolves_its_images_in_the_region(region: str) -> None:
    family = xgboost.FAMILY
    host = re.compile(rf"\d{{12}}\.dkr\.ecr\.{re.escape(region)}\.{re.escape(dns_suffix(REGIONS[region]))}")
    for version in family.versions:
        expected = re.compile(rf"{host.pattern}/{re.escape(family.image_repository)}:{re.escape(version)}")
        for image in (family.training_image(region, version), family.serving_image(region, version)):
            assert expected.fullmatch(image), f"{family.name} {version} in {region}: {image}"
    # What a run is really handed: the preprocess step's spec, with the default endpoint's Neo plan.
    version = family.default_version
    spec = family.spec(region, version, 4, plan_compilation(family, version, "ml.c5.xlarge"))
    assert spec.algorithm_specification["TrainingImage"] == family.training_image(region, version)
    assert spec.serving_image == family.serving_image(region, version)


@pytest.mark.parametrize("region", sorted(NO_BUILT_IN_XGBOOST))
def test_family_refuses_regions_without_an_image_and_names_the_way_out(region: str) -> None:
    family = xgboost.FAMILY
    with pytest.raises(ValueError, match=re.escape(region)) as refusal:
        family.training_image(region, family.default_version)
    assert "TrainingImage" in str(refusal.value)
    own = f"{ACCOUNT_ID}.dkr.ecr.{region}.{dns_suffix(partition_of(region))}/xgboost:1"
    plan = plan_compilation(family, family.default_version, "ml.c5.xlarge")
    spec = family.spec(region, family.default_version, 4, plan, training_image=own)
    assert spec.algorithm_specification["TrainingImage"] == own
    assert spec.serving_image == own


def test_family_has_an_image_in_every_other_sagemaker_region() -> None:
    family = xgboost.FAMILY
    missing = []
    for region in sorted(set(sagemaker_regions()) - NO_BUILT_IN_XGBOOST):
        try:
            family.training_image(region, family.default_version)
        except ValueError:
            missing.append(region)
    assert not missing, (
        f"no {family.name} image in {missing}: add the region's account from the SageMaker Python SDK's "
        "image_uri_config/xgboost.json, or list it in NO_BUILT_IN_XGBOOST (and the README) if there is none"
    )


# ------------------------------------------------------- (c) resolved and deployed for the region


def _no_clients(service: str) -> Any:
    raise AssertionError(f"resolving the template must not call AWS ({service})")


class RegionResolver(Deployer):
    """localcloud's intrinsic resolver with the pseudo parameters of one region and its partition.

    Resources resolve to opaque ``<LogicalId>``/``<LogicalId.Attribute>`` tokens, so that every ARN
    left after resolving is one the template itself builds.
    """

    def __init__(self, region: str) -> None:
        self.partition = partition_of(region)
        super().__init__(TEMPLATE_PATH, "conveyor", region, ACCOUNT_ID, {}, LocalLambdaRuntime(), _no_clients)

    def _pseudo(self, name: str) -> Any:
        if name == "AWS::Partition":
            return self.partition
        if name == "AWS::URLSuffix":
            return dns_suffix(self.partition)
        value = super()._pseudo(name)
        return value.replace("arn:aws:", f"arn:{self.partition}:", 1) if name == "AWS::StackId" else value

    def _ref(self, name: str) -> Any:
        if name.split(".", 1)[0] in self.template["Resources"]:  # MyFunction.Alias names the function
            return f"<{name}>"
        return super()._ref(name)

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        return f"<{logical_id}.{attribute}>"

    def everything(self) -> dict[str, Any]:
        """Every resource's properties, the function globals, the outputs and the deployed ASL, resolved."""
        resolved: dict[str, Any] = {"Globals": self.resolve(self.template.get("Globals", {}))}
        for logical_id, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            properties = self.resolve(resource.get("Properties", {}))
            resolved[logical_id] = properties
            if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
                definition = (TEMPLATE_PATH.parent / properties["DefinitionUri"]).read_text()
                for key, value in properties.get("DefinitionSubstitutions", {}).items():
                    definition = definition.replace("${" + key + "}", str(value))
                resolved[f"{logical_id}.definition"] = json.loads(definition)
        resolved["Outputs"] = {name: self.resolve(output["Value"]) for name, output in self.template["Outputs"].items()}
        return resolved


def foreign(text: str, region: str, partition: str) -> list[str]:
    """ARNs and region names in resolved or deployed text that belong to another region, partition or account."""
    problems = [f"region {name!r}" for name in REGION_NAME.findall(text) if name != region]
    for match in ARN_FIELDS.finditer(text):
        arn_partition, _, arn_region, account = match.groups()
        if arn_partition != partition:
            problems.append(f"{match.group(0)!r}: partition {arn_partition!r}")
        if arn_region not in (region, "", "*"):
            problems.append(f"{match.group(0)!r}: region {arn_region!r}")
        if account not in (ACCOUNT_ID, "", "*", "aws"):
            problems.append(f"{match.group(0)!r}: account {account!r}")
    return problems


@pytest.mark.parametrize("region", list(REGIONS))
def test_resolved_template_builds_arns_of_the_region_only(region: str) -> None:
    partition = REGIONS[region]
    resolved = RegionResolver(region).everything()
    problems = {
        f"{where}: {problem}"
        for where, value in resolved.items()
        for problem in foreign(json.dumps(value), region, partition)
    }
    assert not problems, f"resolved for {region}: " + "; ".join(sorted(problems))
    built = [match.group(0) for match in ARN_FIELDS.finditer(json.dumps(resolved))]
    # Not vacuous: the template builds dozens of ARNs, and those of regional services carry the region.
    assert any(arn == f"arn:{partition}:states:{region}:{ACCOUNT_ID}:" for arn in built), built[:5]


def deployed_documents(cloud: OfflineCloud) -> dict[str, str]:
    """What the deployed stack holds that names other resources, as text, by where it was read."""
    assert cloud.stack is not None
    found = {
        "outputs": json.dumps(cloud.stack.outputs, default=str),
        "resources": json.dumps(cloud.stack.resources, default=str),
    }
    lambdas = cloud.client("lambda")
    for function in lambdas.list_functions()["Functions"]:
        found[f"function {function['FunctionName']}"] = json.dumps(function.get("Environment", {}))
    sfn = cloud.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        found[f"state machine {machine['name']}"] = sfn.describe_state_machine(
            stateMachineArn=machine["stateMachineArn"]
        )["definition"]
    iam = cloud.client("iam")
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        documents = [role["AssumeRolePolicyDocument"], iam.list_attached_role_policies(RoleName=name)]
        documents += [
            iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        found[f"role {name}"] = json.dumps(documents, default=str)
    kms = cloud.client("kms")
    for key in kms.list_keys()["Keys"]:
        found[f"key {key['KeyId']}"] = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    events = cloud.client("events")
    for rule in events.list_rules()["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        found[f"rule {rule['Name']}"] = json.dumps([rule.get("EventPattern", ""), targets], default=str)
    return found


@pytest.mark.parametrize(
    "region",
    [
        region
        if partition == "aws"
        else pytest.param(
            region, marks=pytest.mark.xfail(strict=True, raises=ClientError, reason=OFFLINE_PARTITION_GAP)
        )
        for region, partition in REGIONS.items()
    ],
)
def test_stack_deploys_into_the_offline_cloud_in_the_region(region: str) -> None:
    cloud = OfflineCloud(
        region=region, use_sam_build=False, evaluate_alarms=False, run_schedules=False, template=TEMPLATE_PATH
    )
    with cloud:
        documents = deployed_documents(cloud)
    problems = {
        f"{where}: {problem}" for where, text in documents.items() for problem in foreign(text, region, REGIONS[region])
    }
    assert not problems, f"deployed in {region}: " + "; ".join(sorted(problems))
    arns = [match.group(0) for text in documents.values() for match in ARN_FIELDS.finditer(text)]
    assert f"arn:{REGIONS[region]}:lambda:{region}:{ACCOUNT_ID}:" in arns, "no function ARN of the region was read"


# ------------------------------------------------------------------------------- (d) cfn-lint


def findings_for(findings: list[str], region: str) -> list[str]:
    """The findings about ``region``: those naming it, and those naming no checked region (they hold everywhere)."""
    others = set(REGIONS) - {region}
    return [finding for finding in findings if not any(f"'{other}'" in finding for other in others)]


def region_params() -> list[Any]:
    return list(REGIONS)


def expect_no_findings(findings: list[str], region: str, what: str) -> None:
    if findings:
        pytest.fail(f"cfn-lint of {what} for {region}: " + "; ".join(findings))


# What .venv-sam runs, in the background while the offline cloud deploys: cfn-lint of template.yaml as
# written for every checked region (what `make cfn-lint` lints), then SAM's transform in each partition
# (SAM's bundled managed policy ARNs, no AWS call) and cfn-lint of the result for the partition's regions.
_SYNTHESIZE = r"""
import json, sys
from cfnlint.api import ManualArgs, lint
from cfnlint.version import __version__
from samcli.lib.translate.sam_template_validator import SamTemplateValidator
from samcli.yamlhelper import yaml_parse
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map

class BundledPolicies:
    def __init__(self, partition):
        self.partition = partition
    def load(self):
        return get_bundled_managed_policy_map(self.partition)

def findings(matches):
    return [match.rule.id + " " + match.message for match in matches]

template_path, regions, tasks = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
with open(template_path, encoding="utf-8") as source:
    text = source.read()
raw = findings(lint(text, config=ManualArgs(regions=regions)))
result = {"cfn_lint": __version__, "raw_lint": raw, "partitions": {}}
for task in tasks:
    validator = SamTemplateValidator(yaml_parse(text), BundledPolicies(task["partition"]), region=task["region"])
    transformed = yaml_parse(validator.get_translated_template_if_valid())
    matches = lint(json.dumps(transformed), config=ManualArgs(regions=task["lint_regions"]))
    result["partitions"][task["partition"]] = {"template": transformed, "lint": findings(matches)}
json.dump(result, sys.stdout)
"""


@dataclass
class Synthesis:
    process: subprocess.Popen[str] | None
    problem: str = ""
    _result: dict[str, Any] | None = None

    def result(self) -> dict[str, Any]:
        if self._result is None:
            if self.process is None:
                pytest.fail(self.problem)
            stdout, stderr = self.process.communicate(timeout=SYNTHESIS_TIMEOUT_SECONDS)
            if self.process.returncode != 0:
                pytest.fail(f"the SAM transform failed (exit status {self.process.returncode}):\n{stderr}")
            self._result = json.loads(stdout)
        return self._result


@pytest.fixture(scope="module", autouse=True)
def synthesis() -> Iterator[Synthesis]:
    """SAM's transform and its cfn-lint, started when this module starts so that it runs beside the deploys."""
    if not SAM_PYTHON.exists():
        yield Synthesis(None, f"{SAM_PYTHON} is missing: run `make .venv-sam/.installed` to install the SAM CLI")
        return
    tasks = [
        {
            "partition": partition,
            "region": next(region for region, owner in REGIONS.items() if owner == partition),
            "lint_regions": [region for region, owner in REGIONS.items() if owner == partition],
        }
        for partition in dict.fromkeys(REGIONS.values())
    ]
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    process = subprocess.Popen(
        [str(SAM_PYTHON), "-c", _SYNTHESIZE, str(TEMPLATE_PATH), json.dumps(list(REGIONS)), json.dumps(tasks)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=REPO_ROOT,
    )
    running = Synthesis(process)
    yield running
    if process.poll() is None:
        process.kill()
        process.communicate()


def test_sam_cli_lints_with_the_projects_cfn_lint(synthesis: Synthesis) -> None:
    assert synthesis.result()["cfn_lint"] == cfnlint_version, ".venv-sam and .venv pin different cfn-lint versions"


@pytest.mark.parametrize("region", region_params())
def test_cfn_lint_accepts_the_template_in_the_region(region: str, synthesis: Synthesis) -> None:
    expect_no_findings(findings_for(synthesis.result()["raw_lint"], region), region, "template.yaml")


@pytest.mark.parametrize("region", region_params())
def test_cfn_lint_accepts_the_transformed_template_in_the_region(region: str, synthesis: Synthesis) -> None:
    findings = synthesis.result()["partitions"][REGIONS[region]]["lint"]
    expect_no_findings(findings_for(findings, region), region, f"the SAM transform in {REGIONS[region]}")


@pytest.mark.parametrize("partition", list(dict.fromkeys(REGIONS.values())))
def test_sam_transform_builds_arns_of_the_partition(partition: str, synthesis: Synthesis) -> None:
    transformed = synthesis.result()["partitions"][partition]["template"]
    text = tokenized(json.dumps(transformed))
    literal = {match.group(0) for match in ARN_FIELDS.finditer(text) if match.group(1) != "<partition>"}
    # SAM writes the AWS managed policies it attaches as literal ARNs of the partition it runs in.
    assert literal, "SAM attached no managed policy? (the transform changed: check what it writes)"
    wrong = sorted(arn for arn in literal if not arn.startswith(f"arn:{partition}:iam::aws:"))
    assert not wrong, f"SAM's transform in {partition} wrote: {wrong}"
    problems = [problem for value in strings_in(transformed) for problem in hard_coded(value)]
    problems = [problem for problem in problems if f"arn:{partition}:iam::aws:" not in problem]
    assert not problems, f"the transformed template hard-codes: {sorted(set(problems))}"


@functools.cache
def _resource_types_per_region() -> dict[str, frozenset[str]]:
    providers = Path(cfnlint.__file__).parent / "data" / "schemas" / "providers"
    return {
        path.stem: frozenset(json.loads(path.read_text()))
        for path in providers.glob("*.json")
        if path.stem in sagemaker_regions()
    }


def every_sagemaker_region() -> list[Any]:
    params: list[Any] = []
    for region in sorted(sagemaker_regions()):
        if region in NO_CFN_LINT_SCHEMA:
            params.append(pytest.param(region, marks=pytest.mark.skip(reason="cfn-lint has no schema for it")))
        else:
            params.append(region)
    return params


@pytest.mark.parametrize("region", every_sagemaker_region())
def test_cloudformation_has_every_resource_type_in_every_sagemaker_region(region: str, synthesis: Synthesis) -> None:
    available = _resource_types_per_region().get(region)
    if available is None:
        pytest.fail(f"cfn-lint 1.58.0 bundles no resource schema for {region}: list it in NO_CFN_LINT_SCHEMA")
    transformed = synthesis.result()["partitions"][partition_of(region)]["template"]
    declared = {resource["Type"] for resource in transformed["Resources"].values()}
    missing = sorted(declared - available)
    assert not missing, f"CloudFormation has no {missing} in {region}"


# ------------------------------------------------------------------------------- samconfig.toml


@functools.cache
def samconfig() -> dict[str, Any]:
    return tomllib.loads(SAMCONFIG_PATH.read_text())


def deploy_environments() -> list[str]:
    try:
        return [name for name, table in samconfig().items() if isinstance(table, dict) and "deploy" in table]
    except (OSError, tomllib.TOMLDecodeError) as error:
        return [f"unreadable: {error}"]


def overrides(environment: str) -> dict[str, str]:
    """``parameter_overrides`` of an environment's deploy command, as SAM reads them (Key=Value, shell quoting)."""
    raw = samconfig()[environment]["deploy"]["parameters"].get("parameter_overrides", "")
    words = raw if isinstance(raw, list) else shlex.split(raw)
    pairs: dict[str, str] = {}
    for word in words:
        name, separator, value = str(word).partition("=")
        assert separator, f"{environment}: override {word!r} is not Name=Value"
        assert name not in pairs, f"{environment}: {name} is overridden twice"
        pairs[name] = value
    return pairs


def template_parameters() -> dict[str, Any]:
    parameters: dict[str, Any] = source_template()["Parameters"]
    return parameters


def effective(environment: str) -> dict[str, str]:
    """Every parameter's value in an environment: its override, else the template's Default."""
    values = {name: str(spec.get("Default", "")) for name, spec in template_parameters().items()}
    values.update(overrides(environment))
    return values


def rejected(spec: dict[str, Any], value: str) -> list[str]:
    """Why CloudFormation would refuse ``value`` for a parameter with ``spec``."""
    values = [item.strip() for item in value.split(",")] if spec.get("Type") == "CommaDelimitedList" else [value]
    problems: list[str] = []
    for item in values:
        if "AllowedValues" in spec and item not in map(str, spec["AllowedValues"]):
            problems.append(f"{item!r} is not one of {spec['AllowedValues']}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], item):
            problems.append(f"{item!r} does not match {spec['AllowedPattern']!r}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            problems.append(f"{item!r} is shorter than {spec['MinLength']}")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            problems.append(f"{item!r} is longer than {spec['MaxLength']}")
        if spec.get("Type") == "Number":
            try:
                number = float(item)
            except ValueError:
                problems.append(f"{item!r} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"{item!r} is below {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"{item!r} is above {spec['MaxValue']}")
    return problems


@pytest.mark.parametrize("environment", deploy_environments())
def test_every_override_is_a_template_parameter_with_an_allowed_value(environment: str) -> None:
    parameters = template_parameters()
    problems = []
    for name, value in overrides(environment).items():
        if name not in parameters:
            problems.append(f"{name} is not a template parameter")
        else:
            problems += [f"{name}: {problem}" for problem in rejected(parameters[name], value)]
    assert not problems, f"samconfig.toml [{environment}]: " + "; ".join(problems)


@pytest.mark.parametrize("environment", deploy_environments())
def test_rollout_settings_are_carried_out_as_given(environment: str) -> None:
    values = effective(environment)
    count = int(values["EndpointInstanceCount"])
    low, high = int(values["AutoscalingMinInstances"]), int(values["AutoscalingMaxInstances"])
    assert low <= count <= high, f"{environment}: EndpointInstanceCount {count} outside autoscaling [{low}, {high}]"
    settings = DeploymentSettings(
        MODEL_NAME=values["ModelName"],
        ENDPOINT_NAME=f"conveyor-{values['ModelName']}-00000000",
        DATA_CAPTURE_URI="s3://conveyor-artifacts/capture",
        ENDPOINT_INSTANCE_TYPE=values["EndpointInstanceType"],
        ENDPOINT_INSTANCE_COUNT=count,
        DEPLOYMENT_STRATEGY=values["DeploymentStrategy"],
        CANARY_PERCENT=int(values["CanaryPercent"]),
        LINEAR_STEP_PERCENT=int(values["LinearStepPercent"]),
    )
    # The plan falls back to all at once when a canary or linear step exceeds half the fleet.
    assert effective_strategy(settings) == settings.strategy, (
        f"{environment}: a {settings.strategy} rollout of {count} instance(s) would run all at once"
    )


def test_prod_spreads_the_endpoint_over_at_least_two_instances() -> None:
    prod = overrides("prod")
    assert "EndpointInstanceCount" in prod, "prod must set EndpointInstanceCount itself, not lean on the Default"
    values = effective("prod")
    assert int(values["EndpointInstanceCount"]) >= 2, f"prod runs {values['EndpointInstanceCount']} instance(s)"
    # Autoscaling may scale in to its minimum: one instance would end the spread over Availability Zones.
    assert int(values["AutoscalingMinInstances"]) >= 2, (
        f"prod lets autoscaling scale in to {values['AutoscalingMinInstances']} instance(s)"
    )
    count = int(values["EndpointInstanceCount"])
    canary = math.ceil(count * int(values["CanaryPercent"]) / 100)
    assert values["DeploymentStrategy"] != "canary" or canary <= count // 2, (
        f"prod's canary of {canary} instance(s) is more than half of {count}: it would run all at once"
    )
