"""The deployment history (``HistoryTable``): its records, its key scheme, their DynamoDB form and the queries.

This module is the one owner of the table's items. The state machines write them (``RecordDeployment``,
``RecordRolledBackDeployment`` in the retrain machine, ``RecordRollback`` in the rollback machine); every
Python reader (the quality gate, the scheduled retrain, the rollback planner, the CLI) reads them here.

Layout, one partition per model:

* ``pk = model#<model>``;
* ``sk = deployment#<recorded_at>#<run id or rollback execution name>``: one item per deployment, guardrail
  rollback or alarm rollback. ``recorded_at`` is Step Functions' ``$$.State.EnteredTime`` (ISO 8601, UTC,
  fixed width), so descending sort-key order is newest first;
* ``sk = current``: the deployment in production, a copy of its deployment item re-keyed. A retrain run
  writes it with the deployment item in one transaction; an alarm rollback writes the restored
  deployment's item re-keyed (:meth:`DeploymentRecord.as_current`);
* ``sk = experiment#<run id>``: an A/B test or bandit run's latest evaluation and, once it ended, its
  verdict (:class:`ExperimentRecord`, written by ``EvaluateExperimentFunction``). The prefix keeps
  experiments out of :func:`deployments`, which the rollback planner reads.

Records, discriminated by ``status`` (:class:`DeploymentStatus`):

* :class:`DeploymentRecord`: ``InService`` (a run's config serves) or ``RolledBack`` (SageMaker's
  deployment guardrails rolled the run's update back); 18 attributes;
* :class:`AlarmRollbackRecord`: ``AlarmRollback`` (an alarm rolled the endpoint back from
  ``endpoint_config`` to ``restored_config``); 9 attributes.

Items written by older versions. An attribute that every version of the state machines wrote is
required: an item without it is not one of ours, and reading it raises rather than guessing (the
rollback planner must not pick a target from a half-understood history). An attribute added later is
optional, ``None`` meaning "not recorded"; :meth:`to_item` leaves a ``None`` attribute out, so an old
item reads and writes back unchanged, also when a rollback restores it as ``current``. Today that is
``dataset_identity`` (added with scheduled retraining): a production model without it never matches a
drop, so the schedule retrains, and its drop is never treated as rolled back. Attributes the models do
not declare are dropped on reading; an unknown ``status`` raises.

Numbers: ``metric_value`` is a ``float``. The retrain machine writes it with at most 10 significant
digits (``candidate_text``), which a float carries exactly, so an item survives a round trip unchanged.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

PARTITION_PREFIX = "model#"
CURRENT_SORT_KEY = "current"
DEPLOYMENT_PREFIX = "deployment#"
EXPERIMENT_PREFIX = "experiment#"


def partition(model: str) -> str:
    """The partition key of ``model``'s history: ``model#<model>``.

    ``partition("{}")`` is the ``States.Format`` template of the same key, for the state machines.
    """
    return f"{PARTITION_PREFIX}{model}"


def deployment_sort_key(recorded_at: str, name: str) -> str:
    """The sort key of one history entry: ``deployment#<recorded_at>#<run id or execution name>``.

    ``deployment_sort_key("{}", "{}")`` is its ``States.Format`` template.
    """
    return f"{DEPLOYMENT_PREFIX}{recorded_at}#{name}"


class DeploymentStatus(enum.StrEnum):
    IN_SERVICE = "InService"
    """A retrain run's endpoint config went live and served."""
    ROLLED_BACK = "RolledBack"
    """SageMaker's deployment guardrails rolled the run's update back while it was being deployed."""
    ALARM_ROLLBACK = "AlarmRollback"
    """After a deployment, an alarm made the rollback state machine restore an earlier config."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The sort keys this record may carry: a deployment may be the ``current`` pointer, a rollback not.
    _may_be_current: ClassVar[bool] = False
    _sort_prefix: ClassVar[str] = DEPLOYMENT_PREFIX

    pk: str
    sk: str

    @field_validator("pk")
    @classmethod
    def _pk_is_a_model_partition(cls, value: str) -> str:
        if not value.startswith(PARTITION_PREFIX) or value == PARTITION_PREFIX:
            raise ValueError(f"pk {value!r} is not {PARTITION_PREFIX}<model>")
        return value

    @field_validator("sk")
    @classmethod
    def _sk_is_a_history_key(cls, value: str) -> str:
        if value.startswith(cls._sort_prefix) or (cls._may_be_current and value == CURRENT_SORT_KEY):
            return value
        raise ValueError(f"sk {value!r} is not a {cls.__name__} sort key")

    def to_item(self) -> dict[str, dict[str, Any]]:
        """DynamoDB typed JSON of this record: every field, typed as :func:`attribute_types` says; ``None`` omitted."""
        kinds = _attribute_types(type(self))
        item: dict[str, dict[str, Any]] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                item[name] = _encode(kinds[name], value)
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        """Read a record from DynamoDB typed JSON; raises ``ValueError`` (or pydantic's ``ValidationError``)."""
        kinds = _attribute_types(cls)
        plain: dict[str, Any] = {}
        for name, kind in kinds.items():
            typed = item.get(name)
            if typed is None or typed.get("NULL") is True:
                continue
            if kind not in typed:
                raise ValueError(f"{cls.__name__}.{name} must be DynamoDB type {kind}, not {sorted(typed)}")
            plain[name] = _decode(kind, typed[kind])
        return cls.model_validate(plain)


class DeploymentRecord(_Record):
    """A retrain run's deployment: ``InService``, or ``RolledBack`` by SageMaker's guardrails.

    Also the shape of the ``current`` pointer (``sk = current``). Field names and order are the
    attributes ``RecordDeployment`` writes.
    """

    _may_be_current: ClassVar[bool] = True

    status: Literal[DeploymentStatus.IN_SERVICE, DeploymentStatus.ROLLED_BACK]
    run_id: str
    trigger: str
    endpoint: str
    endpoint_config: str
    previous_endpoint_config: str
    model_name: str
    model_package_arn: str
    metric_name: str
    metric_value: Annotated[float, Field(allow_inf_nan=False)]
    dataset_uri: str
    dataset_sha256: str
    # Written since scheduled retraining (840f8e9); older deployments have none.
    dataset_identity: str | None = None
    # The number of features the model takes; older deployments have none.
    feature_count: int | None = None
    compiled: bool
    strategy: str
    recorded_at: str
    # Written since the target advisor; older deployments have none.
    instance_type: str | None = None
    target_advice: str | None = None
    # Written since drift monitoring: the model's data-quality baseline (Model Monitor's files).
    baseline_statistics_uri: str | None = None
    baseline_constraints_uri: str | None = None

    @property
    def served(self) -> bool:
        """Whether this config went live and served (not rolled back by the guardrails)."""
        return self.status is DeploymentStatus.IN_SERVICE

    @property
    def is_current(self) -> bool:
        return self.sk == CURRENT_SORT_KEY

    def as_current(self) -> DeploymentRecord:
        """This deployment re-keyed as the model's ``current`` pointer (what a rollback restores)."""
        return self.model_copy(update={"sk": CURRENT_SORT_KEY})


class AlarmRollbackRecord(_Record):
    """An alarm-driven rollback: the endpoint left ``endpoint_config`` for ``restored_config``.

    ``model_package_arn`` is the bad config's package, or ``""`` when the history did not know it.
    Field names and order are the attributes ``RecordRollback`` writes.
    """

    status: Literal[DeploymentStatus.ALARM_ROLLBACK] = DeploymentStatus.ALARM_ROLLBACK
    endpoint: str
    endpoint_config: str
    restored_config: str
    model_package_arn: str
    alarm: str
    recorded_at: str


# DynamoDB numbers hold neither NaN nor infinity: refused when the record is built, not at PutItem.
Finite = Annotated[float, Field(allow_inf_nan=False)]


class ExperimentRecord(_Record):
    """An A/B test or bandit: its latest evaluation while it runs, its verdict once it ended.

    Figures that do not exist yet (an effect before two outcomes per variant, an unbounded interval)
    are ``None``: DynamoDB numbers hold neither NaN nor infinity.
    """

    _sort_prefix: ClassVar[str] = EXPERIMENT_PREFIX

    run_id: str
    strategy: str
    endpoint: str
    state: Literal["running", "promoted", "kept"]
    reason: str
    started_at: str
    evaluated_at: str
    evaluations: int
    candidate_share: Finite
    production_n: int
    candidate_n: int
    production_mean: Finite | None = None
    candidate_mean: Finite | None = None
    effect: Finite | None = None
    ci_low: Finite | None = None
    ci_high: Finite | None = None
    p_value: Finite | None = None
    probability_candidate_best: Finite | None = None


def experiment_sort_key(run_id: str) -> str:
    return f"{EXPERIMENT_PREFIX}{run_id}"


HistoryRecord = Annotated[DeploymentRecord | AlarmRollbackRecord, Field(discriminator="status")]
"""One history entry (not the ``current`` pointer, which is always a :class:`DeploymentRecord`)."""

_RECORD_TYPES: dict[str, type[DeploymentRecord] | type[AlarmRollbackRecord]] = {
    DeploymentStatus.IN_SERVICE: DeploymentRecord,
    DeploymentStatus.ROLLED_BACK: DeploymentRecord,
    DeploymentStatus.ALARM_ROLLBACK: AlarmRollbackRecord,
}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> HistoryRecord:
    """Any history item, read as the record its ``status`` names."""
    status = item.get("status", {}).get("S")
    record_type = _RECORD_TYPES.get(str(status))
    if record_type is None:
        raise ValueError(f"history item {_key_text(item)} has status {status!r}; known: {sorted(_RECORD_TYPES)}")
    return record_type.from_item(item)


# --- DynamoDB types ------------------------------------------------------------------------------


def attribute_types(record_type: type[BaseModel]) -> dict[str, str]:
    """Each field's DynamoDB type letter (``S``, ``N`` or ``BOOL``), in field order, from the annotations.

    ``str``, a ``StrEnum`` or a ``Literal`` of strings is ``S``; ``int`` or ``float`` is ``N``;
    ``bool`` is ``BOOL``; ``X | None`` is ``X``'s letter. Anything else raises ``TypeError``.
    """
    return dict(_attribute_types(record_type))


@functools.cache
def _attribute_types(record_type: type[BaseModel]) -> dict[str, str]:
    return {name: _type_letter(record_type, name, field.annotation) for name, field in record_type.model_fields.items()}


def _type_letter(owner: type[BaseModel], name: str, annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Annotated:  # constraints (finite numbers) do not change the stored type
        return _type_letter(owner, name, typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        present = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(present) == 1:
            return _type_letter(owner, name, present[0])
    elif origin is Literal:
        if all(isinstance(value, str) for value in typing.get_args(annotation)):
            return "S"
    elif isinstance(annotation, type):
        # bool before int: bool is an int subclass.
        if issubclass(annotation, bool):
            return "BOOL"
        if issubclass(annotation, str):
            return "S"
        if issubclass(annotation, int | float):
            return "N"
    raise TypeError(f"{owner.__name__}.{name}: {annotation!r} has no DynamoDB scalar type")


def _encode(kind: str, value: Any) -> dict[str, Any]:
    if kind == "N":
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if kind == "BOOL":
        return {"BOOL": bool(value)}
    return {"S": str(value)}


def _decode(kind: str, value: Any) -> Any:
    if kind == "N":
        return float(value)
    return value


def _key_text(item: Mapping[str, Mapping[str, Any]]) -> str:
    return f"{item.get('pk', {}).get('S')}/{item.get('sk', {}).get('S')}"


# --- queries -------------------------------------------------------------------------------------


def current(dynamodb_client: Any, history_table: str, model: str) -> DeploymentRecord | None:
    """The deployment in production (the ``current`` pointer), or None before the first deployment."""
    item = dynamodb_client.get_item(
        TableName=history_table,
        Key={"pk": {"S": partition(model)}, "sk": {"S": CURRENT_SORT_KEY}},
        ConsistentRead=True,
    ).get("Item")
    return DeploymentRecord.from_item(item) if item else None


def deployments(dynamodb_client: Any, history_table: str, model: str, limit: int | None = None) -> list[HistoryRecord]:
    """The model's deployments and rollbacks, newest first; the newest ``limit`` of them when given."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    records: list[HistoryRecord] = []
    pagination = {} if limit is None else {"PaginationConfig": {"MaxItems": limit, "PageSize": min(limit, 100)}}
    for page in dynamodb_client.get_paginator("query").paginate(
        TableName=history_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": partition(model)}, ":prefix": {"S": DEPLOYMENT_PREFIX}},
        # The sort key starts with the fixed-width ISO time, so descending key order is newest first.
        ScanIndexForward=False,
        ConsistentRead=True,
        **pagination,
    ):
        records.extend(from_item(item) for item in page.get("Items", []))
    return records if limit is None else records[:limit]


def put_experiment(dynamodb_client: Any, history_table: str, record: ExperimentRecord) -> None:
    dynamodb_client.put_item(TableName=history_table, Item=record.to_item())


def experiment(dynamodb_client: Any, history_table: str, model: str, run_id: str) -> ExperimentRecord | None:
    """The run's experiment record, or None before its first evaluation."""
    item = dynamodb_client.get_item(
        TableName=history_table,
        Key={"pk": {"S": partition(model)}, "sk": {"S": experiment_sort_key(run_id)}},
        ConsistentRead=True,
    ).get("Item")
    return ExperimentRecord.from_item(item) if item else None


def experiments(dynamodb_client: Any, history_table: str, model: str) -> list[ExperimentRecord]:
    """The model's experiments, the most recently started first."""
    found: list[ExperimentRecord] = []
    for page in dynamodb_client.get_paginator("query").paginate(
        TableName=history_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": {"S": partition(model)}, ":prefix": {"S": EXPERIMENT_PREFIX}},
        ConsistentRead=True,
    ):
        found.extend(ExperimentRecord.from_item(item) for item in page.get("Items", []))
    return sorted(found, key=lambda record: record.started_at, reverse=True)


def registered_metric(sagemaker_client: Any, model_package_arn: str, metric_name: str) -> float | None:
    """The metric recorded on the model package (the registry is the source of truth for metrics)."""
    package = sagemaker_client.describe_model_package(ModelPackageName=model_package_arn)
    metadata: dict[str, str] = package.get("CustomerMetadataProperties", {})
    if metadata.get("metric_name") != metric_name or "metric_value" not in metadata:
        return None
    return float(metadata["metric_value"])
