"""Close a run: release the model's lock and start the drop that queued behind it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.runs.closing import close_run
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import FinalizeInput, FinalizeOutput
from conveyor_core.shared.locks import ModelLock
from conveyor_core.shared.settings import FinalizeSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
dynamodb = aws_clients.client("dynamodb")
sfn = aws_clients.client("stepfunctions")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=FinalizeInput)
def lambda_handler(event: FinalizeInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(FinalizeSettings)
    result = close_run(
        event.run_id, ModelLock(dynamodb, settings.lock_table, event.model), sfn, settings.state_machine_arn
    )
    logger.info("run closed", extra=result)
    return FinalizeOutput.model_validate(result).model_dump(mode="json")
