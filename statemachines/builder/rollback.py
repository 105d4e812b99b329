"""The alarm-driven rollback: plan once, restore the last good config, autoscale, record it, reject, notify.

``PlanRollback`` (``conveyor_core.release.rollback``) decides; this machine carries the decision
out and ends in the same notification tail as a retrain run. Autoscaling is handled as a retrain
run's deployment handles it (``autoscaling``): deregistered before a restore that changes the
instance type, and registered after every restore, so a rollback also repairs a registration that
an earlier run lost.
"""

from __future__ import annotations

from conveyor_core.release.polling import RESTORE_MAX_POLLS, RESTORE_POLL_SECONDS
from conveyor_core.shared.notifications import ROLLBACK_FAILS_ON, EventType, RunError
from statemachines.builder import asl, autoscaling, functions, history_items, notify, outcomes
from statemachines.builder.retrain.deploy import endpoint_failed

COMMENT = (
    "Conveyor alarm-driven rollback: restore the last known good endpoint config, record it, reject the bad "
    "model package, notify."
)
MODEL = "${ModelName}"
_ALARM = "$.detail.alarmName"
_FAILED = "RollbackFailedOutcome"
_ENDPOINT = "$.plan.endpoint"
_ALARM_DETAILS = {"alarm": _ALARM, "alarm_reason": "$.detail.state.reason", "endpoint": _ENDPOINT}


def _outcome(
    event: EventType,
    *,
    reason: str | None = None,
    failure: str | None = None,
    details: dict[str, str] | None = None,
) -> asl.State:
    """Every rollback outcome names the alarm and carries how long the rollback took."""
    return outcomes.outcome(
        event,
        model=MODEL,
        reason=reason,
        failure=failure,
        details=details or _ALARM_DETAILS,
        timed=True,
        next_state=notify.FORMAT,
    )


def _restore_states() -> dict[str, asl.State]:
    return {
        "DeregisterAutoscaling": autoscaling.deregister(_ENDPOINT, next_state="RestoreEndpointConfig"),
        "RestoreEndpointConfig": asl.service_task(
            "sagemaker:updateEndpoint",
            comment="Back to the last known good config, kept since its deployment. Variant properties are retained "
            "so autoscaled instance counts survive, unless the instance type changes.",
            parameters={
                "EndpointName": _ENDPOINT,
                "EndpointConfigName": "$.plan.good_config",
                "RetainAllVariantProperties": "$.plan.retain_variant_properties",
            },
            result_selector={"attempt": 0},
            result_path="$.restore",
            catch=asl.catch_all(_FAILED, "$.failure"),
            next_state="WaitForRestore",
        ),
        "WaitForRestore": asl.wait("DescribeRestoredEndpoint", seconds=RESTORE_POLL_SECONDS),
        "DescribeRestoredEndpoint": asl.service_task(
            "aws-sdk:sagemaker:describeEndpoint",
            comment="The whole answer: EndpointConfigName is not always in it (see RestoreSettled).",
            parameters={"EndpointName": _ENDPOINT},
            result_path="$.endpoint",
            catch=asl.catch_all(_FAILED, "$.failure"),
            next_state="RestoreSettled",
        ),
        "RestoreSettled": asl.choice(
            [
                asl.rule(endpoint_failed("$.endpoint.EndpointStatus"), "RestoreFailedOutcome"),
                asl.rule(
                    {"Variable": "$.restore.attempt", "NumericGreaterThanEquals": RESTORE_MAX_POLLS},
                    "RestoreFailedOutcome",
                ),
                asl.rule({"Not": {"Variable": "$.endpoint.EndpointConfigName", "IsPresent": True}}, "BackOffRestore"),
                asl.rule(
                    {
                        "And": [
                            asl.equals("$.endpoint.EndpointStatus", "InService"),
                            {"Variable": "$.endpoint.EndpointConfigName", "StringEqualsPath": "$.plan.good_config"},
                        ]
                    },
                    "RegisterAutoscaling",
                ),
            ],
            "BackOffRestore",
        ),
        "BackOffRestore": asl.pass_state(
            {"attempt": "States.MathAdd($.restore.attempt, 1)"}, result_path="$.restore", next_state="WaitForRestore"
        ),
        **autoscaling.register(_ENDPOINT, next_state="RecordRollback"),
        "RecordRollback": asl.service_task(
            "aws-sdk:dynamodb:transactWriteItems",
            comment="The history entry and the restored `current` pointer, in one transaction.",
            parameters={
                "TransactItems": [
                    {"Put": {"TableName": "${HistoryTableName}", "Item": history_items.alarm_rollback_item(MODEL)}},
                    {"Put": {"TableName": "${HistoryTableName}", "Item": "$.plan.current_item"}},
                ]
            },
            result_path=None,
            catch=asl.catch_all("HasBadPackage", "$.record_error"),
            next_state="HasBadPackage",
        ),
        "HasBadPackage": asl.choice(
            [asl.rule(asl.equals("$.plan.bad_package", ""), "RolledBackOutcome")], "RejectBadPackage"
        ),
        "RejectBadPackage": asl.service_task(
            "aws-sdk:sagemaker:updateModelPackage",
            parameters={
                "ModelPackageArn": "$.plan.bad_package",
                "ModelApprovalStatus": "Rejected",
                "ApprovalDescription": f"States.Format('Rolled back after alarm {{}}', {_ALARM})",
            },
            result_path=None,
            catch=asl.catch_all("RolledBackOutcome", "$.reject_error"),
            next_state="RolledBackOutcome",
        ),
    }


def _outcome_states() -> dict[str, asl.State]:
    return {
        "RolledBackOutcome": _outcome(
            EventType.DEPLOYMENT_ROLLED_BACK,
            reason=f"States.Format('alarm {{}} fired: {{}} rolled back from {{}} to {{}}', {_ALARM}, $.plan.endpoint, "
            "$.plan.bad_config, $.plan.good_config)",
            details={
                "alarm": _ALARM,
                "alarm_reason": "$.detail.state.reason",
                "endpoint": _ENDPOINT,
                "from_config": "$.plan.bad_config",
                "to_config": "$.plan.good_config",
                "rejected_package": "$.plan.bad_package",
                "rollout_notes": "$.plan.notes",
                "autoscaling": autoscaling.RESULT,
            },
        ),
        "DeferredOutcome": _outcome(
            EventType.ROLLBACK_DEFERRED, reason=f"States.Format('alarm {{}} fired: {{}}', {_ALARM}, $.plan.reason)"
        ),
        "ImpossibleOutcome": _outcome(
            EventType.ROLLBACK_IMPOSSIBLE, reason=f"States.Format('alarm {{}} fired: {{}}', {_ALARM}, $.plan.reason)"
        ),
        "RestoreFailedOutcome": _outcome(
            EventType.ROLLBACK_FAILED,
            reason="States.Format('restoring {} on {} ended {}', $.plan.good_config, $.plan.endpoint, "
            "$.endpoint.EndpointStatus)",
        ),
        _FAILED: _outcome(EventType.ROLLBACK_FAILED, failure="$.failure"),
        "PlanFailedOutcome": _outcome(EventType.ROLLBACK_FAILED, failure="$.failure", details={"alarm": _ALARM}),
    }


def definition() -> dict[str, object]:
    machine = asl.Machine(COMMENT, start_at="PlanRollback")
    machine.add(
        {
            "PlanRollback": functions.PLAN_ROLLBACK.task(
                comment="Decides rollback, deferral to the guardrails, impossibility, or a duplicate; claims the bad "
                "config exactly once.",
                parameters={"alarm": _ALARM, "alarm_time": "$.detail.state.timestamp", "execution": "$$.Execution.Id"},
                result_path="$.plan",
                catch=asl.catch_all("PlanFailedOutcome", "$.failure"),
                next_state="RollbackAction",
            ),
            "RollbackAction": asl.choice(
                [
                    asl.rule(
                        {
                            "And": [
                                asl.equals("$.plan.action", "rollback"),
                                {"Variable": "$.plan.deregister_autoscaling", "BooleanEquals": True},
                            ]
                        },
                        "DeregisterAutoscaling",
                    ),
                    asl.rule(asl.equals("$.plan.action", "rollback"), "RestoreEndpointConfig"),
                    asl.rule(asl.equals("$.plan.action", "deferred"), "DeferredOutcome"),
                    asl.rule(asl.equals("$.plan.action", "impossible"), "ImpossibleOutcome"),
                ],
                "AlreadyHandled",
            ),
            "AlreadyHandled": {
                "Type": "Succeed",
                "Comment": "A duplicate or stale alarm event: the rollback it asks for already happened.",
            },
        }
    )
    machine.add(_restore_states())
    machine.add(_outcome_states())
    machine.add(
        notify.tail(
            end_state="EndRollback", fallback_subject="States.Format('[Conveyor] ${ModelName}: {}', $.outcome.event)"
        )
    )
    machine.add(
        notify.ending("EndRollback", events=ROLLBACK_FAILS_ON, when_listed="RollbackFailed", otherwise="RollbackDone")
    )
    machine.add(
        {
            "RollbackDone": notify.succeed(),
            "RollbackFailed": notify.fail(
                RunError.ROLLBACK_FAILED, "The rollback failed; the notification carries the cause."
            ),
            **notify.NOTIFICATION_FAILED_STATE,
        }
    )
    return machine.definition()
