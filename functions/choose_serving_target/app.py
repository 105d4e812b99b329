"""Choose where the promoted model is served: the stack's instance type, or the target advisor's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core import families
from conveyor_core.release import serving_target
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import ServingTargetInput
from conveyor_core.shared.settings import ServingTargetSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
sagemaker = aws_clients.client("sagemaker")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=ServingTargetInput)
def lambda_handler(event: ServingTargetInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(ServingTargetSettings)
    logger.append_keys(run_id=event.run_id)
    # The latencies are training metrics: FinalMetricDataList holds each one's last value.
    job = sagemaker.describe_training_job(TrainingJobName=event.training_job_name)
    chosen = serving_target.choose(
        families.get(event.family.name), event.family, job.get("FinalMetricDataList", []), settings
    )
    logger.info("serving target chosen", extra=chosen.model_dump(exclude={"compilation"}))
    return chosen.model_dump(mode="json")
