"""The tail every run ends with: format the outcome, publish it, end as the outcome says.

Shared by both state machines. A formatter failure still publishes the raw outcome; a publish
that fails after its retries ends the execution in ``NotificationFailed``, which the run watcher
(``conveyor_core.runs.watch``) reports instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from conveyor_core.shared.notifications import EventType, RunError
from statemachines.builder import asl, functions, outcomes

FORMAT = "FormatNotification"
PUBLISH = "PublishNotification"
PUBLISH_UNFORMATTED = "PublishUnformattedNotification"
NOTIFICATION_FAILED = "NotificationFailed"
TOPIC = "${TopicArn}"


def _publish(
    next_state: str, parameters: dict[str, object], catch: list[dict[str, object]], comment: str | None = None
) -> asl.State:
    return asl.service_task(
        "sns:publish",
        comment=comment,
        parameters={"TopicArn": TOPIC, **parameters},
        result_path=None,
        catch=catch,
        next_state=next_state,
    )


def formatted_publish(message_path: str, next_state: str, catch: list[dict[str, object]]) -> asl.State:
    """Publish what the formatter returned at ``message_path``."""
    return _publish(
        next_state,
        {
            "Subject": f"{message_path}.Subject",
            "Message": f"{message_path}.Message",
            "MessageAttributes": f"{message_path}.MessageAttributes",
        },
        catch,
    )


def _lost() -> list[dict[str, object]]:
    return asl.catch_all(NOTIFICATION_FAILED, "$.message_error")


def tail(*, end_state: str, fallback_subject: str) -> dict[str, asl.State]:
    """Format → Publish, with the unformatted fallback; every path continues at ``end_state``.

    ``fallback_subject`` is the intrinsic that titles a raw outcome (the model name differs in
    where it comes from between the two machines).
    """
    return {
        FORMAT: functions.FORMAT_NOTIFICATION.task(
            input_path=outcomes.OUTCOME,
            result_path="$.message",
            catch=asl.catch_all(PUBLISH_UNFORMATTED, "$.message_error"),
            next_state=PUBLISH,
        ),
        PUBLISH: formatted_publish("$.message", end_state, _lost()),
        PUBLISH_UNFORMATTED: _publish(
            end_state,
            {
                "Subject": fallback_subject,
                "Message": f"States.JsonToString({outcomes.OUTCOME})",
                "MessageAttributes": {
                    "event": {"DataType": "String", "StringValue": f"{outcomes.OUTCOME}.event"},
                    "severity": {"DataType": "String", "StringValue": "error"},
                },
            },
            _lost(),
            comment="Last resort when the formatter fails: the raw outcome still reaches subscribers.",
        ),
    }


def ending(
    name: str,
    *,
    events: Iterable[EventType],
    when_listed: str,
    otherwise: str,
) -> dict[str, asl.State]:
    """The Choice that ends a run by its outcome's event, and the failure state for a lost publish."""
    listed = [event.value for event in EventType if event in set(events)]
    condition = (
        asl.equals(f"{outcomes.OUTCOME}.event", listed[0])
        if len(listed) == 1
        else asl.equals_any(f"{outcomes.OUTCOME}.event", listed)
    )
    return {
        name: asl.choice([asl.rule(condition, when_listed)], otherwise),
    }


def succeed() -> asl.State:
    return {"Type": "Succeed"}


def fail(error: RunError, cause: str) -> asl.State:
    return {"Type": "Fail", "Error": error.value, "Cause": cause}


NOTIFICATION_FAILED_STATE = {
    NOTIFICATION_FAILED: fail(RunError.NOTIFICATION_FAILED, "The outcome could not be published to SNS after retries.")
}
