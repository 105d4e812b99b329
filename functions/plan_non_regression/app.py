"""Plan the non-regression transforms: the golden dataset, the production model, where answers go."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release import history, non_regression
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import NonRegressionPlanInput
from conveyor_core.shared.settings import NonRegressionPlanSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
dynamodb = aws_clients.client("dynamodb")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=NonRegressionPlanInput)
def lambda_handler(event: NonRegressionPlanInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(NonRegressionPlanSettings)
    production = history.current(dynamodb, settings.history_table, settings.model_name)
    if production is None:
        # The state machine asks only when the gate compared with a production model.
        raise ValueError("no model in production to compare the candidate with")
    planned = non_regression.plan(settings, event.run_id, production)
    logger.info("non-regression planned", extra=planned.model_dump())
    return planned.model_dump()
