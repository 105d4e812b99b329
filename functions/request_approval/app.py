"""ApprovalMode=manual: keep the waiting run's task token, and ask people to review the model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release import approval
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import ApprovalRequest
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import ApprovalSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ApprovalRequest)
def lambda_handler(event: ApprovalRequest, context: LambdaContext) -> dict[str, Any]:
    settings = load(ApprovalSettings)
    # Stored before anyone is told: a reviewer quick enough to decide at once still finds the token.
    approval.await_decision(
        dynamodb, settings.state_table, event.package_arn, event.task_token, event.execution, event.timeout_seconds
    )
    notifications.publish(
        sns,
        settings.topic_arn,
        Notification(
            event=EventType.APPROVAL_REQUESTED,
            model=event.model,
            execution=event.execution,
            reason=(
                f"{event.package_arn} passed the quality gate ({event.gate_reason}) and waits for approval in the "
                f"Model Registry for {event.timeout_seconds} s: `conveyor approve` or `conveyor reject`"
            ),
            details={
                "model_package": event.package_arn,
                "gate": event.gate_reason,
                "serving": event.serving_note,
                "target_advice": event.target_advice,
                "timeout_seconds": event.timeout_seconds,
            },
        ),
    )
    logger.info("approval requested", extra={"package": event.package_arn, "run_id": event.run_id})
    return {"waiting": True}
