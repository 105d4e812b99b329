"""template.yaml passes cfn-lint and ``sam validate --lint``, the same checks ``make test`` runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LINT_TIMEOUT_SECONDS = 300


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=LINT_TIMEOUT_SECONDS, check=False
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_template_passes_cfn_lint(repo_root: Path) -> None:
    # cfn-lint is a pinned dev dependency: it sits next to the interpreter running the tests.
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.exists():
        pytest.fail(f"{cfn_lint} is missing: run `make venv` to install the dev requirements")
    result = run([str(cfn_lint), "template.yaml"], repo_root)
    assert result.returncode == 0, f"cfn-lint template.yaml failed:\n{report(result)}"


def test_template_passes_sam_validate_lint(repo_root: Path) -> None:
    # The SAM CLI pins versions that fight the project's, so it lives in a venv of its own.
    sam = repo_root / ".venv-sam" / "bin" / "sam"
    if not sam.exists():
        pytest.fail(f"{sam} is missing: run `make .venv-sam/.installed` to install the SAM CLI")
    result = run([str(sam), "validate", "--lint", "--template", "template.yaml"], repo_root)
    assert result.returncode == 0, f"sam validate --lint failed:\n{report(result)}"
