"""The local state file: how commands in other shells find the offline cloud ``conveyor local up`` runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from conveyor_cli.errors import CliError

STATE_FILE_ENV = "CONVEYOR_STATE_FILE"
DEFAULT_STATE_FILE = Path(".conveyor") / "local.json"


class LocalState(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    endpoint_url: str
    region: str
    stack_name: str
    outputs: dict[str, str]
    # Logical id -> physical id: the offline cloud has no CloudFormation stack to ask for them.
    resources: dict[str, str] = {}
    parameters: dict[str, str] = {}


def load(path: Path) -> LocalState:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CliError(f"no offline cloud state at {path}: start one with `conveyor local up`") from None
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror}") from None
    try:
        return LocalState.model_validate_json(text)
    except ValidationError as error:
        raise CliError(f"{path} is not a valid conveyor state file ({error.error_count()} problems)") from None


def save(path: Path, state: LocalState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and renamed, so a command in another shell never reads half a file.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(state.model_dump_json(indent=2) + "\n")
    partial.replace(path)


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
