"""Which offline engine stands in for a model family's containers.

Each model family (``conveyor_core.families``) names its engine (``offline_engine``,
``"module:attribute"``); the offline cloud picks one by what SageMaker would have run: a training
job by its image's repository, a compilation job by its Neo framework, a hosted model by what its
artefact holds. Nothing here names a family, so a new family adds an engine without edits here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conveyor_core.families import all_families

if TYPE_CHECKING:
    from localcloud.sagemaker_engine.compilation import CompilationOutcome
    from localcloud.sagemaker_engine.inference import LoadedModel
    from localcloud.sagemaker_engine.training import TrainingOutcome


class NoEngineError(LookupError):
    """Nothing offline can run this image, framework or artefact; the message is a FailureReason."""


class OfflineEngine(Protocol):
    # The Neo frameworks (CreateCompilationJob InputConfig.Framework) it compiles.
    neo_frameworks: tuple[str, ...]

    def train(
        self,
        job_dir: Path,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        timeout_seconds: float,
        content_types: Mapping[str, str],
    ) -> TrainingOutcome: ...

    def compile(
        self, model_tar_gz: bytes, framework: str, target_device: str, work_dir: Path, framework_version: str = ""
    ) -> CompilationOutcome: ...

    def owns(self, artefact_files: Mapping[str, bytes]) -> bool:
        """Whether a model artefact (its tar members) is one this engine wrote."""
        ...

    def load(self, model_tar_gz: bytes, work_dir: Path) -> LoadedModel: ...

    def compiled_for(self, artefact_files: Mapping[str, bytes]) -> Mapping[str, str] | None:
        """For a Neo artefact this engine compiled: its ``framework`` and ``target_device``; else None."""
        ...

    def saved_by_version(self, model_tar_gz: bytes) -> tuple[int, int] | None:
        """The (major, minor) framework version the model file says wrote it; None when it does not say."""
        ...


def _load(reference: str) -> OfflineEngine:
    module_name, _, attribute = reference.partition(":")
    engine: OfflineEngine = getattr(importlib.import_module(module_name), attribute)
    return engine


@cache
def by_repository() -> dict[str, OfflineEngine]:
    """Every family's engine, keyed by the ECR repository of the family's image."""
    return {family.image_repository: _load(family.offline_engine) for family in all_families().values()}


def repository_of(image_uri: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`` → ``<repository>``."""
    path = image_uri.split("/", 1)[1] if "/" in image_uri else image_uri
    return path.split("@", 1)[0].split(":", 1)[0]


def for_training_image(image_uri: str) -> OfflineEngine:
    engines = by_repository()
    repository = repository_of(image_uri)
    if repository not in engines:
        raise NoEngineError(
            f"ClientError: the offline cloud has no engine for the image {image_uri}; "
            f"it runs the model families' images ({', '.join(sorted(engines))})"
        )
    return engines[repository]


def for_framework(framework: str) -> OfflineEngine:
    for engine in by_repository().values():
        if framework.upper() in engine.neo_frameworks:
            return engine
    known = sorted({name for engine in by_repository().values() for name in engine.neo_frameworks})
    raise NoEngineError(f"ClientError: the offline compiler handles {', '.join(known)}; got {framework}")


def for_artefact(artefact_files: Mapping[str, bytes]) -> OfflineEngine:
    for engine in by_repository().values():
        if engine.owns(artefact_files):
            return engine
    found = sorted(artefact_files) or "nothing"
    raise NoEngineError(f"no offline engine recognises a model artefact holding {found}")
