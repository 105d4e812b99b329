"""Validate, split and profile a dataset drop (constant memory), or quarantine it with a reason.

Called twice for a drop over ProcessingThresholdBytes: first it answers with the Processing job that
reads the drop (status ``processing``), then, with that plan in its event, it merges the shards.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core import families
from conveyor_core.intake import dataset_keys, shard_merge
from conveyor_core.intake.preprocess import preprocess
from conveyor_core.intake.processing_plan import ProcessingConfig
from conveyor_core.intake.training_code import stage_training_code
from conveyor_core.release import history
from conveyor_core.release.compilation import plan_compilation
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import PipelineInput, PreprocessOutput
from conveyor_core.shared.settings import PreprocessSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
metrics = Metrics()
s3 = aws_clients.client("s3")
dynamodb = aws_clients.client("dynamodb")


def _processing(settings: PreprocessSettings) -> ProcessingConfig:
    return ProcessingConfig(
        threshold_bytes=settings.processing_threshold_bytes,
        instance_count=settings.processing_instance_count,
        instance_type=settings.processing_instance_type,
        volume_gb=settings.processing_volume_gb,
        max_seconds=settings.max_processing_seconds,
        image=settings.processing_image,
    )


def _read_drop(event: PipelineInput, settings: PreprocessSettings, family: families.ModelFamily) -> PreprocessOutput:
    production = history.current(dynamodb, settings.history_table, settings.model_name)
    production_features = production.feature_count if production is not None else None
    run = dataset_keys.with_keys_inline(s3, event)
    if event.processing is not None:
        return shard_merge.merge_shards(
            s3,
            run,
            event.processing,
            settings.artifact_bucket,
            family,
            settings.hyperparameters,
            production_features,
            settings.drift_threshold,
            settings.training_instance_count,
        )
    return preprocess(
        s3,
        run,
        settings.artifact_bucket,
        family,
        settings.hyperparameters,
        settings.validation_fraction,
        settings.max_dataset_bytes,
        production_features=production_features,
        drift_threshold=settings.drift_threshold,
        processing=_processing(settings),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=PipelineInput)
def lambda_handler(event: PipelineInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(PreprocessSettings)
    logger.append_keys(run_id=event.run_id)
    family = families.get(settings.model_family)
    result = _read_drop(event, settings, family)
    update: dict[str, Any] = {
        "stopping_condition": settings.stopping_condition(),
        "managed_spot": settings.spot_training,
    }
    if result.status == "ok":
        version = family.version(settings.framework_version)
        compilation = plan_compilation(
            family, version, settings.endpoint_instance_type, settings.neo_target_device, settings.region
        )
        update["family"] = family.spec(
            settings.region,
            version,
            result.features,
            compilation,
            settings.training_image,
            instance_type=settings.endpoint_instance_type,
        )
        update["hyperparameters"] = {
            **result.hyperparameters,
            **stage_training_code(s3, settings.artifact_bucket, family),
        }
    result = result.model_copy(update=update)
    if result.status == "quarantined":
        logger.warning("dataset quarantined", extra={"reason": result.reason, "detail": result.detail})
        metrics.add_metric(name="DatasetsQuarantined", unit=MetricUnit.Count, value=1)
    elif result.status == "processing" and result.processing is not None:
        logger.info("drop handed to a Processing job", extra={"instances": result.processing.instance_count})
        metrics.add_metric(name="DropsToProcessing", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="RowsPreprocessed", unit=MetricUnit.Count, value=result.rows)
    return result.model_dump()
