"""EnableSnapStart: every function publishes a version behind an alias, and everything invokes the alias.

SnapStart applies to published versions only: a caller of the unqualified ARN runs $LATEST, which is
never snapshotted. The offline deployer refuses what Lambda refuses (a runtime without SnapStart,
provisioned concurrency, EFS, ephemeral storage over 512 MB).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from localcloud.template import LambdaRequestError, snap_start_setting
from tests.template.conftest import SERVERLESS_FUNCTION, Project, TemplateResolver


def _functions(project: Project) -> dict[str, Any]:
    return {
        logical_id: resource
        for logical_id, resource in project.template["Resources"].items()
        if resource["Type"] == SERVERLESS_FUNCTION
    }


@pytest.mark.parametrize(("enabled", "apply_on"), [("false", "None"), ("true", "PublishedVersions")])
def test_the_parameter_sets_snapstart_on_every_function(project: Project, enabled: str, apply_on: str) -> None:
    resolver = TemplateResolver(project.template, {"EnableSnapStart": enabled})
    globals_function = project.template["Globals"]["Function"]
    assert globals_function["AutoPublishAlias"] == "live"
    assert resolver.resolve(globals_function["SnapStart"]) == {"ApplyOn": apply_on}
    for logical_id, resource in _functions(project).items():
        properties = resource.get("Properties", {})
        assert "SnapStart" not in properties, logical_id
        assert "AutoPublishAlias" not in properties, logical_id
        settings = {**globals_function, **properties, "SnapStart": {"ApplyOn": apply_on}}
        assert snap_start_setting(logical_id, settings) == (None if apply_on == "None" else {"ApplyOn": apply_on})


def test_nothing_invokes_a_function_by_its_unqualified_arn(project: Project) -> None:
    """State machines, schedules, the scheduler role and the queue mapping name the alias."""
    text = json.dumps(project.template["Resources"])
    functions = "|".join(_functions(project))
    unqualified = re.findall(rf'"Fn::GetAtt": \[?"({functions})(?:\.|", ")Arn"', text)
    unqualified += re.findall(rf'"\$\{{({functions})\.Arn\}}"', text)
    assert not unqualified, f"invoked as $LATEST (no SnapStart): {sorted(set(unqualified))}"
    substitutions = [
        value
        for resource in project.template["Resources"].values()
        for value in (resource.get("Properties", {}).get("DefinitionSubstitutions") or {}).values()
    ]
    lambda_refs = [value for value in substitutions if isinstance(value, dict) and "Function" in json.dumps(value)]
    assert lambda_refs
    assert all(value == {"Ref": value["Ref"]} and value["Ref"].endswith(".Alias") for value in lambda_refs)


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"Runtime": "python3.11"}, "does not support SnapStart"),
        ({"Runtime": "nodejs22.x"}, "does not support SnapStart"),
        (
            {"Runtime": "python3.13", "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}},
            "concurrency",
        ),
        ({"Runtime": "python3.13", "FileSystemConfigs": [{"Arn": "arn", "LocalMountPath": "/mnt/x"}]}, "EFS"),
        ({"Runtime": "python3.13", "EphemeralStorage": {"Size": 1024}}, "512 MB"),
    ],
)
def test_the_offline_deployer_refuses_what_lambda_refuses(properties: dict[str, Any], problem: str) -> None:
    with pytest.raises(LambdaRequestError, match=problem) as refused:
        snap_start_setting("f", {**properties, "SnapStart": {"ApplyOn": "PublishedVersions"}})
    assert str(refused.value).startswith("InvalidParameterValueException")


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13", "python3.14", "java21", "dotnet8"])
def test_the_offline_deployer_accepts_snapstart_runtimes(runtime: str) -> None:
    setting = {"Runtime": runtime, "EphemeralStorage": {"Size": 512}, "SnapStart": {"ApplyOn": "PublishedVersions"}}
    assert snap_start_setting("f", setting) == {"ApplyOn": "PublishedVersions"}
    assert snap_start_setting("f", {"Runtime": "python3.11", "SnapStart": {"ApplyOn": "None"}}) is None
