"""Whether a run compiles its model with Neo, for which target, and what the endpoint then serves.

Neo artefacts run only on the instance family they were compiled for, with the inference image
``DescribeCompilationJob`` names (cloud ``ml_*`` targets only). So the target follows the endpoint's
instance type unless the stack names another one: another cloud family is refused (the artefact
could never be served), and an edge device (``jetson_*``, ``rasp*``...) is compiled and published
while the endpoint serves the uncompiled model. The family says which versions and targets Neo
takes for its models. The plan's reason is what the run's notification says ran where.
"""

from __future__ import annotations

from conveyor_core.families import ModelFamily
from conveyor_core.shared.contracts import CompilationPlan


def target_for_instance(instance_type: str) -> str:
    """Neo's target device for a SageMaker instance type: ``ml.c5.xlarge`` → ``ml_c5``."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml":
        raise ValueError(f"{instance_type!r} is not a SageMaker instance type (ml.<family>.<size>)")
    return f"ml_{parts[1]}"


def is_cloud_target(target_device: str) -> bool:
    return target_device.startswith("ml_")


def plan_compilation(
    family: ModelFamily, version: str, instance_type: str, requested_target: str = "", region: str = ""
) -> CompilationPlan:
    serving_target = target_for_instance(instance_type)
    target = requested_target or serving_target
    if is_cloud_target(target) and target != serving_target:
        return CompilationPlan(
            compile=False,
            serve=False,
            target_device=target,
            reason=f"not compiled: NeoTargetDevice {target} is not the endpoint's instance family ({instance_type}); "
            "a Neo artefact runs only on the family it was compiled for",
        )
    if refusal := family.neo_refusal(version, target) or (
        is_cloud_target(target) and region and family.neo_region_refusal(region)
    ):
        return CompilationPlan(compile=False, serve=False, target_device=target, reason=f"not compiled: {refusal}")
    if is_cloud_target(target):
        return CompilationPlan(
            compile=True,
            serve=True,
            target_device=target,
            reason=f"compiled with Neo for {target} and served on {instance_type} with Neo's inference image",
        )
    return CompilationPlan(
        compile=True,
        serve=False,
        target_device=target,
        reason=f"compiled with Neo for the edge device {target} and published; "
        f"the endpoint serves the uncompiled model on {instance_type}",
    )
