"""Where a promoted model is served: the stack's instance type, or the target advisor's choice.

The training job timed the model on its own instance's processors (a script-mode family prints
its latencies as training metrics; SageMaker's built-in XGBoost prints none). The advisor turns
those timings and the dated price table into a recommendation for the endpoint latency alarm's
threshold. With ``TargetSelection=configuration`` the run serves on ``EndpointInstanceType`` and
reports the advice; with ``advisor`` it follows the advice when there is one, recompiling for the
recommended instance's Neo target and serving with that processor's image.
"""

from __future__ import annotations

from typing import Any

from conveyor_core.families import ModelFamily
from conveyor_core.release.compilation import is_cloud_target, plan_compilation
from conveyor_core.release.target_advisor import Measurement, Recommendation, measurements_from_metrics, recommend
from conveyor_core.shared.contracts import FamilySpec, ServingTarget
from conveyor_core.shared.settings import ServingTargetSettings

NOT_MEASURED = (
    "no advice: the training job reported no latency ({family}'s training container does not time its model); "
    "`conveyor advise` measures the serving model"
)


def _advice(family: str, measurements: list[Measurement], settings: ServingTargetSettings) -> Recommendation | None:
    if not measurements:
        return None
    return recommend(family, measurements, settings.latency_objective_us, settings.request_rows)


def choose(
    family: ModelFamily, spec: FamilySpec, final_metrics: list[dict[str, Any]], settings: ServingTargetSettings
) -> ServingTarget:
    advice = _advice(family.name, measurements_from_metrics(final_metrics), settings)
    configured = ServingTarget(
        instance_type=settings.endpoint_instance_type,
        serving_image=spec.serving_image,
        compilation=spec.compilation,
        chosen_by="configuration",
        advice=NOT_MEASURED.format(family=family.name),
    )
    if advice is not None:
        configured = configured.model_copy(
            update={
                "advice": advice.reason,
                "recommended_instance_type": advice.instance_type or "",
                "recommended_target": advice.neo_target or "",
            }
        )
    if settings.target_selection != "advisor" or advice is None or advice.instance_type is None:
        return configured
    if advice.instance_type == settings.endpoint_instance_type:
        return configured.model_copy(update={"chosen_by": "advisor"})
    # An edge device is compiled for and published whatever serves; a cloud target follows the instance.
    edge = settings.neo_target_device if not is_cloud_target(settings.neo_target_device) else ""
    return configured.model_copy(
        update={
            "instance_type": advice.instance_type,
            "serving_image": settings.training_image
            or family.serving_image(settings.region, spec.version, advice.instance_type),
            "compilation": plan_compilation(family, spec.version, advice.instance_type, edge, settings.region),
            "chosen_by": "advisor",
        }
    )
