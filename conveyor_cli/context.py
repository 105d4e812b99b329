"""The global options, shared by every command through ``typer.Context.obj``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from conveyor_cli import target as targets
from conveyor_cli.target import Target


@dataclass
class Options:
    local: bool
    stack: str | None
    region: str | None
    profile: str | None
    json: bool
    state_file: Path
    _target: Target | None = field(default=None, repr=False)

    def target(self) -> Target:
        # Resolved on first use: `conveyor local up` and `--help` need no target at all.
        if self._target is None:
            self._target = targets.resolve(
                local=self.local,
                stack=self.stack,
                region=self.region,
                profile=self.profile,
                state_file=self.state_file,
            )
        return self._target


def options(ctx: typer.Context) -> Options:
    found = ctx.find_object(Options)
    assert found is not None, "the main callback sets Options"
    return found
