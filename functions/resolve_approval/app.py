"""A package was approved or rejected in the Model Registry: resume or end the run that waits for it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release import approval
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import ModelPackageStateChangeEvent
from conveyor_core.shared.settings import ApprovalSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
dynamodb = aws_clients.client("dynamodb")
sagemaker = aws_clients.client("sagemaker")
sfn = aws_clients.client("stepfunctions")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ModelPackageStateChangeEvent)
def lambda_handler(event: ModelPackageStateChangeEvent, context: LambdaContext) -> dict[str, Any]:
    settings = load(ApprovalSettings)
    detail = event.detail
    if detail.model_approval_status not in approval.DECIDED:
        return {"action": "ignored", "status": detail.model_approval_status}
    decision = approval.decision_of(sagemaker, detail.model_package_arn, detail.model_approval_status)
    outcome = approval.resolve(dynamodb, sfn, settings.state_table, decision)
    logger.info("approval decision", extra={"package": detail.model_package_arn, "outcome": outcome})
    return {"action": "resolved", "outcome": outcome}
