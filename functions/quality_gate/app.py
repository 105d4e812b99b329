"""The quality gate: compare the new model's validation metric with the production model's."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.release import gate, history
from conveyor_core.release.registry import customer_metadata
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import GateInput, GateOutput
from conveyor_core.shared.settings import GateSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()
dynamodb = aws_clients.client("dynamodb")
sagemaker = aws_clients.client("sagemaker")


def production_metric(settings: GateSettings) -> float | None:
    current = history.current(dynamodb, settings.history_table, settings.model_name)
    if current is None:
        return None
    registered = history.registered_metric(sagemaker, current.model_package_arn, settings.metric_name)
    # The registry is the source of truth; the history copy covers a package whose metadata was lost.
    return registered if registered is not None else current.metric_value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=GateInput)
def lambda_handler(event: GateInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(GateSettings)
    # Read from the job itself: FinalMetricDataList is optional (a custom image may report none),
    # and a missing metric must become a clear, catchable error rather than an ASL path failure.
    job = sagemaker.describe_training_job(TrainingJobName=event.training_job_name)
    candidate = gate.metric_from_training_job(job.get("FinalMetricDataList", []), settings.metric_name)
    decision = gate.decide(
        candidate,
        production_metric(settings),
        settings.metric_direction,
        settings.min_improvement,
        settings.metric_name,
    )
    logger.info("gate decision", extra=decision.as_output())
    metrics.add_metric(name="ModelsPromoted" if decision.promote else "ModelsRejected", unit=MetricUnit.Count, value=1)
    candidate_text = f"{candidate:.10g}"
    lineage = {
        "metric_name": settings.metric_name,
        "metric_value": candidate_text,
        "dataset_uri": event.dataset_uri,
        "dataset_sha256": event.dataset_sha256,
        "statistics_uri": event.statistics_uri,
        "training_job": event.training_job_name,
        "code_version": settings.code_version,
        "run_id": event.run_id,
    }
    output = GateOutput(
        **decision.as_output(),
        metric_name=settings.metric_name,
        candidate_text=candidate_text,
        package_metadata=customer_metadata(lineage),
    )
    return output.model_dump(mode="json")
