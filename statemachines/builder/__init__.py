"""The ASL generator: the state machines are written here in Python and committed as JSON.

``python -m statemachines.builder`` writes ``statemachines/*.asl.json``; ``--check`` fails when a
committed file differs from what the builder writes, or when a contract between the ASL and the
Python around it is broken (``contracts``). tests/template runs the same checks. The JSON files
are what ``template.yaml`` deploys and what the offline cloud runs: the builder is only how they
are written, so a Lambda task, a retry policy, an outcome and a history item each exist once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

STATEMACHINES = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GeneratedMachine:
    file_name: str
    build: Callable[[], dict[str, Any]]
    # What an execution starts with: the first state's input.
    input_model: type[BaseModel]

    @property
    def path(self) -> Path:
        return STATEMACHINES / self.file_name


def machines() -> list[GeneratedMachine]:
    from conveyor_core.shared.contracts import AlarmStateChangeEvent, PipelineInput
    from statemachines.builder import retrain, rollback

    return [
        GeneratedMachine("retrain.asl.json", retrain.definition, PipelineInput),
        GeneratedMachine("rollback.asl.json", rollback.definition, AlarmStateChangeEvent),
    ]


def render(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def stale_files() -> list[str]:
    """The committed ASL files that differ from what the builder writes now."""
    return [
        machine.file_name
        for machine in machines()
        if not machine.path.is_file() or machine.path.read_text() != render(machine.build())
    ]


def contract_findings() -> list[str]:
    from statemachines.builder import contracts

    return [
        f"{machine.file_name}: {finding}"
        for machine in machines()
        for finding in contracts.all_findings(machine.build(), machine.input_model)
    ]


def write() -> list[str]:
    written = []
    for machine in machines():
        machine.path.write_text(render(machine.build()))
        written.append(machine.file_name)
    return written
