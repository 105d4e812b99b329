"""The deployment history items the state machines write, built from the record's one owner.

``conveyor_core.release.history`` defines each record (its fields, their DynamoDB types and the
key scheme); here each field is given the place in the run's state its value comes from. A
record field without a source, or a source without a field, stops the build: the item a state
machine writes cannot drift from the model every reader parses it with.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from conveyor_core.release import history
from statemachines.builder import asl

ENTERED = "$$.State.EnteredTime"


def key_format(build_key: Any, count: int) -> str:
    """The key scheme as a ``States.Format`` template: the owner's key builder, given ``{}`` slots."""
    return str(build_key(*(["{}"] * count)))


def record_item(record_type: type[BaseModel], sources: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (typed JSON) of ``record_type``, each attribute read from its source."""
    types = history.attribute_types(record_type)
    missing, unknown = set(types) - set(sources), set(sources) - set(types)
    if missing or unknown:
        raise ValueError(
            f"{record_type.__name__} item: no source for {sorted(missing)}; not a field: {sorted(unknown)}"
        )
    return {name: asl.fields({types[name]: source}) for name, source in sources.items()}


def deployment_item(status: history.DeploymentStatus, sort_key: str) -> dict[str, Any]:
    """A retrain run's deployment record, as ``RecordDeployment`` and ``RecordRolledBackDeployment`` write it."""
    return record_item(
        history.DeploymentRecord,
        {
            "pk": f"States.Format('{key_format(history.partition, 1)}', $.model)",
            "sk": sort_key,
            "status": status.value,
            "run_id": "$.run_id",
            "trigger": "$.trigger",
            "endpoint": "$.plan.endpoint_name",
            "endpoint_config": "$.plan.endpoint_config_name",
            "previous_endpoint_config": "$.plan.previous_endpoint_config",
            "model_name": "$.plan.model_name",
            "model_package_arn": "$.registry.ModelPackageArn",
            "metric_name": "$.gate.metric_name",
            "metric_value": "$.gate.candidate_text",
            "dataset_uri": "$.dataset.uri",
            "dataset_sha256": "$.preprocess.dataset_sha256",
            "dataset_identity": "$.dataset.identity",
            "feature_count": "States.Format('{}', $.preprocess.features)",
            "compiled": "$.artifact.compiled",
            "strategy": "$.plan.strategy",
            "recorded_at": ENTERED,
            "instance_type": "$.serving.instance_type",
            "target_advice": "$.serving.advice",
            "baseline_statistics_uri": "$.preprocess.baseline_statistics_uri",
            "baseline_constraints_uri": "$.preprocess.baseline_constraints_uri",
        },
    )


def deployment_sort_key(run: str) -> str:
    """The sort key of a history entry recorded now, by the run or execution ``run``."""
    return f"States.Format('{key_format(history.deployment_sort_key, 2)}', {ENTERED}, {run})"


def alarm_rollback_item(model: str) -> dict[str, Any]:
    """The rollback machine's record of an alarm rollback (``model`` is the stack's model name)."""
    return record_item(
        history.AlarmRollbackRecord,
        {
            "pk": history.partition(model),
            "sk": deployment_sort_key("$$.Execution.Name"),
            "status": history.DeploymentStatus.ALARM_ROLLBACK.value,
            "endpoint": "$.plan.endpoint",
            "endpoint_config": "$.plan.bad_config",
            "restored_config": "$.plan.good_config",
            "model_package_arn": "$.plan.bad_package",
            "alarm": "$.detail.alarmName",
            "recorded_at": ENTERED,
        },
    )
