"""The built-in XGBoost family's offline engine: its container, Neo's tree compiler, its models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localcloud.sagemaker_engine.compilation import CompilationOutcome
    from localcloud.sagemaker_engine.inference import LoadedModel
    from localcloud.sagemaker_engine.training import TrainingOutcome


class XGBoostEngine:
    neo_frameworks = ("XGBOOST",)

    def train(
        self,
        job_dir: Path,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        timeout_seconds: float,
        content_types: Mapping[str, str],
    ) -> TrainingOutcome:
        from localcloud.sagemaker_engine.training import CONTAINER_MODULE, run_training

        return run_training(
            job_dir,
            hyperparameters,
            channels,
            timeout_seconds,
            content_types=content_types,
            container_module=CONTAINER_MODULE,
        )

    def compile(self, model_tar_gz: bytes, framework: str, target_device: str, work_dir: Path) -> CompilationOutcome:
        from localcloud.sagemaker_engine.compilation import compile_model

        return compile_model(model_tar_gz, framework, target_device, work_dir)

    def owns(self, artefact_files: Mapping[str, bytes]) -> bool:
        from localcloud.sagemaker_engine.inference import MANIFEST_FILE_NAME
        from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME

        return MANIFEST_FILE_NAME in artefact_files or MODEL_FILE_NAME in artefact_files

    def load(self, model_tar_gz: bytes, work_dir: Path) -> LoadedModel:
        from localcloud.sagemaker_engine.inference import load_model

        return load_model(model_tar_gz, work_dir)


ENGINE = XGBoostEngine()
