"""Alarm-driven rollback: decide whether and where to roll an endpoint back, exactly once.

Four guards keep an alarm that flaps, or an event delivered many times at once, from causing a
second rollback or a rollback loop:

* a marker per alarm transition (alarm name + state timestamp): copies of one event are duplicates
  before anything else is decided, so they neither roll back nor report a deferral;
* a marker per bad endpoint config (conditional write): one rollback away from a config, ever;
* an alarm older than the moment the current config went live is about an earlier config: stale.
  "Went live" includes the moment a rollback *claimed* the restore, which is written before the
  endpoint update, so an alarm planned between the restore and its history record is stale too;
* configs that were rolled away from, or rolled back by the guardrails, are never targets.

A restore to a config on another instance type (the stack's ``EndpointInstanceType`` changed since
it served) must deregister the variant's autoscaling first: ``across_instance_types`` says so.

The planner reads the deployment history as ``release.history`` records, and the markers it writes
to the state table are ``shared.state_items`` items; this module owns only the decisions and the
conditional writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from botocore.exceptions import ClientError

from conveyor_core.release.history import (
    AlarmRollbackRecord,
    DeploymentRecord,
    DeploymentStatus,
    HistoryRecord,
)
from conveyor_core.shared.contracts import RollbackPlanOutput
from conveyor_core.shared.state_items import AlarmClaim, RestoreClaim, RollbackClaim, state_key

Action = Literal["rollback", "deferred", "impossible", "duplicate", "stale"]
# While SageMaker itself is changing the endpoint, its deployment guardrails own the rollback.
_GUARDRAIL_STATUSES = frozenset({"Updating", "RollingBack", "SystemUpdating", "Creating"})
SHIFT_CONFIG_SUFFIX = "-shift"


@dataclass(frozen=True, slots=True)
class RollbackPlan:
    action: Action
    reason: str
    endpoint: str
    bad_config: str = ""
    good_config: str = ""
    bad_package: str = ""
    # The restored deployment's history item, re-keyed as the `current` pointer (DynamoDB JSON):
    # ``DeploymentRecord.as_current().to_item()``, written as is by the RecordRollback state.
    current_item: dict[str, Any] = field(default_factory=dict)
    # Keep the instance counts autoscaling set, unless the instance type changes.
    retain_variant_properties: bool = True
    # A changed instance type: SageMaker refuses the restore while autoscaling is registered on it.
    deregister_autoscaling: bool = False
    # What the restore does beyond pointing the endpoint back (the notification carries them).
    notes: list[str] = field(default_factory=list)

    def as_output(self) -> dict[str, Any]:
        """What PlanRollback returns, built through its contract model (the ASL reads it by path)."""
        return RollbackPlanOutput.model_validate(dataclasses.asdict(self)).model_dump(mode="json")


def parse_time(text: str) -> dt.datetime:
    """CloudWatch writes ``2019-10-02T17:04:40.989+0000``; Step Functions ``...40.989Z``."""
    normalised = text.replace("Z", "+00:00")
    if len(normalised) >= 5 and normalised[-5] in "+-" and normalised[-3] != ":":
        normalised = f"{normalised[:-2]}:{normalised[-2:]}"
    parsed = dt.datetime.fromisoformat(normalised)
    # AWS timestamps are UTC when they carry no offset; an aware value keeps comparisons valid.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _served(record: HistoryRecord) -> TypeGuard[DeploymentRecord]:
    return isinstance(record, DeploymentRecord) and record.served


def went_live_at(history: Sequence[HistoryRecord], config: str) -> dt.datetime | None:
    """When ``config`` last started serving: deployed by a run, or restored by a rollback."""
    for record in history:
        deployed = _served(record) and record.endpoint_config == config
        restored = isinstance(record, AlarmRollbackRecord) and record.restored_config == config
        if deployed or restored:
            return parse_time(record.recorded_at)
    return None


def choose_target(
    history: Sequence[HistoryRecord], bad_config: str, claimed_away: Callable[[str], bool] = lambda _config: False
) -> DeploymentRecord | None:
    """The newest deployment that served successfully and was never rolled away from.

    ``claimed_away`` says whether a rollback has claimed the move away from a config (``claim``): it is
    written before that rollback touches the endpoint, and its history record only after it settled,
    so a second alarm in between would otherwise take the config just rolled away from for a good one.
    """
    tainted = {bad_config}
    tainted |= {
        r.endpoint_config
        for r in history
        if r.status in (DeploymentStatus.ALARM_ROLLBACK, DeploymentStatus.ROLLED_BACK)
    }
    for record in history:
        if _served(record) and record.endpoint_config not in tainted and not claimed_away(record.endpoint_config):
            return record
    return None


def _conditional_put(
    dynamodb_client: Any, state_table: str, item: dict[str, Any], condition: str, **values: Any
) -> bool:
    try:
        dynamodb_client.put_item(
            TableName=state_table,
            Item=item,
            ConditionExpression=condition,
            **({"ExpressionAttributeValues": values} if values else {}),
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def claim_alarm(
    dynamodb_client: Any, state_table: str, model_name: str, alarm: str, alarm_time: str, execution: str
) -> bool:
    """Own one alarm transition; False when another execution already handles the same event.

    The same execution may claim again: Step Functions retries the planning task after a Lambda error.
    """
    marker = AlarmClaim.new(model_name, alarm, alarm_time, execution, dt.datetime.now(dt.UTC))
    return _conditional_put(
        dynamodb_client,
        state_table,
        marker.to_item(),
        "attribute_not_exists(id) OR execution = :execution",
        **{":execution": {"S": execution}},
    )


def claim(
    dynamodb_client: Any,
    state_table: str,
    model_name: str,
    bad_config: str,
    execution: str,
    good_config: str = "",
    now: dt.datetime | None = None,
) -> bool:
    """Record that ``execution`` rolls back away from ``bad_config``; False if someone already did.

    The winner also records when ``good_config`` was claimed for restoring (see ``restored_at``).
    """
    moment = now or dt.datetime.now(dt.UTC)
    won = _conditional_put(
        dynamodb_client,
        state_table,
        RollbackClaim.new(model_name, bad_config, execution, good_config, moment).to_item(),
        "attribute_not_exists(id)",
    )
    if won and good_config:
        dynamodb_client.put_item(
            TableName=state_table, Item=RestoreClaim.new(model_name, good_config, execution, moment).to_item()
        )
    return won


def rolled_away_by(dynamodb_client: Any, state_table: str, model_name: str, config: str) -> str | None:
    """The execution that claimed the rollback away from ``config``, if one did."""
    item = dynamodb_client.get_item(
        TableName=state_table, Key=state_key(RollbackClaim.id_for(model_name, config)), ConsistentRead=True
    ).get("Item")
    return RollbackClaim.from_item(item).execution if item else None


def restored_at(dynamodb_client: Any, state_table: str, model_name: str, config: str) -> dt.datetime | None:
    """When a rollback last claimed ``config`` as the one to restore, if one did."""
    item = dynamodb_client.get_item(
        TableName=state_table, Key=state_key(RestoreClaim.id_for(model_name, config)), ConsistentRead=True
    ).get("Item")
    return RestoreClaim.from_item(item).claimed_at if item else None


def plan_rollback(
    endpoint: dict[str, Any] | None,
    endpoint_name: str,
    history: Sequence[HistoryRecord],
    alarm_time: dt.datetime,
    model_name: str,
    restored_since: dt.datetime | None = None,
    claimed_away: Callable[[str], bool] = lambda _config: False,
) -> RollbackPlan:
    """Pure decision; the caller claims the marker for a ``rollback`` plan before acting on it.

    ``history`` is the model's deployment history, newest first (``release.history.deployments``).
    """
    if endpoint is None:
        return RollbackPlan("impossible", f"endpoint {endpoint_name} does not exist", endpoint_name)
    status = str(endpoint["EndpointStatus"])
    if status in _GUARDRAIL_STATUSES:
        return RollbackPlan(
            "deferred",
            f"endpoint {endpoint_name} is {status}: a deployment is in progress "
            "and SageMaker's guardrails own its rollback",
            endpoint_name,
        )
    bad = str(endpoint["EndpointConfigName"])
    if bad.endswith(SHIFT_CONFIG_SUFFIX):
        return RollbackPlan(
            "deferred",
            f"endpoint {endpoint_name} is in a variant shift ({bad}); the shift's own alarm checks own its rollback",
            endpoint_name,
            bad,
        )
    live_since = max(
        (moment for moment in (went_live_at(history, bad), restored_since) if moment is not None), default=None
    )
    if live_since is not None and alarm_time <= live_since:
        return RollbackPlan(
            "stale", f"the alarm predates {bad} going live at {live_since.isoformat()}", endpoint_name, bad
        )
    bad_package = next(
        (r.model_package_arn for r in history if _served(r) and r.endpoint_config == bad),
        "",
    )
    target = choose_target(history, bad, claimed_away)
    if target is None:
        return RollbackPlan(
            "impossible",
            f"no earlier endpoint config of {model_name} served successfully; {endpoint_name} stays on {bad}",
            endpoint_name,
            bad,
            bad_package=bad_package,
        )
    good = target.endpoint_config
    return RollbackPlan(
        "rollback",
        f"rolling {endpoint_name} back from {bad} to {good}",
        endpoint_name,
        bad,
        good,
        bad_package,
        target.as_current().to_item(),
    )


def variant_instance_types(sagemaker_client: Any, config_name: str) -> dict[str, str]:
    """DescribeEndpointConfig's production variants, by name, with their instance types.

    A serverless variant has no instance type, so it is left out: it cannot change one.
    """
    config = sagemaker_client.describe_endpoint_config(EndpointConfigName=config_name)
    return {
        str(variant["VariantName"]): str(variant["InstanceType"])
        for variant in config["ProductionVariants"]
        if variant.get("InstanceType")
    }


def across_instance_types(plan: RollbackPlan, serving: Mapping[str, str], restored: Mapping[str, str]) -> RollbackPlan:
    """The plan, deregistering autoscaling around the restore if a serving variant changes its instance type.

    SageMaker refuses an UpdateEndpoint that changes the instance type of a variant registered as a
    scalable target, or removes it (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html).
    The instance count autoscaling set was sized for the other type, so the restored config's own
    count applies until autoscaling, registered again after the restore, takes over.
    """
    changes = sorted(
        f"from {kind} to {restored[name]}" if name in restored else f"from {kind} to none (variant {name} is removed)"
        for name, kind in serving.items()
        if restored.get(name) != kind
    )
    if not changes:
        return plan
    note = (
        f"the instance type changes {', '.join(changes)}: autoscaling is deregistered for the restore and "
        "registered again after it"
    )
    return dataclasses.replace(
        plan, retain_variant_properties=False, deregister_autoscaling=True, notes=[*plan.notes, note]
    )
