"""Reading HistoryTable for the CLI: the records and queries are ``conveyor_core.release.history``'s."""

from __future__ import annotations

from conveyor_cli.target import Target
from conveyor_core.release import history
from conveyor_core.release.history import DeploymentRecord, ExperimentRecord, HistoryRecord


def current(target: Target) -> DeploymentRecord | None:
    """The deployment in production, or None before the first one."""
    return history.current(target.client("dynamodb"), target.outputs.history_table_name, target.model_name)


def deployments(target: Target, limit: int) -> list[HistoryRecord]:
    """The newest ``limit`` deployment and rollback records, newest first."""
    return history.deployments(
        target.client("dynamodb"), target.outputs.history_table_name, target.model_name, limit=limit
    )


def latest_experiment(target: Target) -> ExperimentRecord | None:
    """The most recently started A/B test or bandit, running or ended; None when there was none."""
    found = history.experiments(target.client("dynamodb"), target.outputs.history_table_name, target.model_name)
    return found[0] if found else None
