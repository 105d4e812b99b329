"""Every function in template.yaml points at a real handler that imports under the environment the template gives it."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from conveyor_core.shared.settings import EnvSettings

# What the Lambda runtime adds to every function's environment, plus the switches that keep
# Powertools quiet outside Lambda.
RUNTIME_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def function_environment(project: Any, function_id: str) -> dict[str, str]:
    """Environment.Variables (Globals merged in) with intrinsics resolved to plausible deployed values."""
    properties = project.function_properties(function_id)
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    resolver = project.resolver()
    return {name: resolver.resolve_string(value) for name, value in variables.items()}


def handler_location(project: Any, function_id: str) -> tuple[Path, Path, str]:
    """(CodeUri directory, module file, function name) for ``Handler: package.module.function``."""
    properties = project.function_properties(function_id)
    code_dir = project.template_path.parent / properties["CodeUri"]
    module_path, _, function_name = str(properties["Handler"]).rpartition(".")
    return code_dir, code_dir.joinpath(*module_path.split(".")).with_suffix(".py"), function_name


@pytest.fixture
def lambda_environment(project: Any, function_id: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    environment = {**function_environment(project, function_id), **RUNTIME_ENVIRONMENT}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield environment


def import_handler_module(
    function_id: str, module_file: Path, code_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """Import one handler file under a name of its own, as Lambda would with CodeUri on sys.path."""
    name = f"conveyor_template_handler_{function_id}"
    spec = importlib.util.spec_from_file_location(name, module_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.syspath_prepend(str(code_dir))
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("lambda_environment")
def test_function_handler_resolves_to_a_callable_in_its_code_uri(
    project: Any, function_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code_dir, module_file, function_name = handler_location(project, function_id)
    assert code_dir.is_dir(), f"{function_id}: CodeUri {code_dir} is not a directory"
    assert module_file.is_file(), f"{function_id}: Handler module {module_file} does not exist"

    module = import_handler_module(function_id, module_file, code_dir, monkeypatch)

    handler = getattr(module, function_name, None)
    assert handler is not None, f"{function_id}: {module_file.name} has no attribute {function_name!r}"
    assert callable(handler), f"{function_id}: {module_file.name}.{function_name} is not callable"


def settings_classes(module: ModuleType) -> list[type[EnvSettings]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, EnvSettings) and value.model_fields
    ]


def test_function_settings_parse_from_the_template_environment(
    project: Any,
    function_id: str,
    lambda_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every settings class a handler imports loads from exactly what the template sets.

    Variables the template does not set are removed first, so a developer's shell cannot hide a
    variable the function would be missing once deployed.
    """
    code_dir, module_file, _ = handler_location(project, function_id)
    try:
        classes = settings_classes(import_handler_module(function_id, module_file, code_dir, monkeypatch))
    except Exception as error:
        pytest.fail(f"{function_id}: the handler does not import under the template's environment: {error}")
    for settings_class in classes:
        for field in settings_class.model_fields.values():
            if field.alias and field.alias not in lambda_environment:
                monkeypatch.delenv(field.alias, raising=False)
    # Import again without them: some handlers parse their settings at import time.
    problems: list[str] = []
    try:
        classes = settings_classes(import_handler_module(function_id, module_file, code_dir, monkeypatch))
    except Exception as error:
        problems.append(f"import: {error}")
    for settings_class in classes:
        try:
            settings_class()
        except Exception as error:
            problems.append(f"{settings_class.__name__}: {error}")
    assert not problems, f"{function_id}: settings do not load from the template's environment:\n" + "\n".join(problems)


def tracer_calls(module_file: Path) -> list[ast.Call]:
    tree = ast.parse(module_file.read_text())
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Tracer"
    ]


def test_a_handlers_tracer_patches_only_the_library_it_reaches_aws_through(project: Any, function_id: str) -> None:
    """``Tracer()`` alone patches every library X-Ray knows, importing each at init (cold start)."""
    _, module_file, _ = handler_location(project, function_id)
    for call in tracer_calls(module_file):
        patched = {keyword.arg: ast.unparse(keyword.value) for keyword in call.keywords}.get("patch_modules")
        assert patched == "aws_clients.TRACED_LIBRARIES", (
            f"{function_id}: {ast.unparse(call)} patches {patched or 'every library X-Ray knows'}"
        )
