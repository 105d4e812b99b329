"""The built-in XGBoost family's offline engine: its container, Neo's tree compiler, its models."""

from __future__ import annotations

import json
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

    def compile(
        self, model_tar_gz: bytes, framework: str, target_device: str, work_dir: Path, framework_version: str = ""
    ) -> CompilationOutcome:
        from localcloud.sagemaker_engine.compilation import compile_model

        return compile_model(model_tar_gz, framework, target_device, work_dir)

    def owns(self, artefact_files: Mapping[str, bytes]) -> bool:
        from localcloud.sagemaker_engine.inference import MANIFEST_FILE_NAME
        from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME

        return MANIFEST_FILE_NAME in artefact_files or MODEL_FILE_NAME in artefact_files

    def load(self, model_tar_gz: bytes, work_dir: Path) -> LoadedModel:
        from localcloud.sagemaker_engine.inference import load_model

        return load_model(model_tar_gz, work_dir)

    def compiled_for(self, artefact_files: Mapping[str, bytes]) -> Mapping[str, str] | None:
        from localcloud.sagemaker_engine.inference import MANIFEST_FILE_NAME

        if MANIFEST_FILE_NAME not in artefact_files:
            return None
        try:
            manifest = json.loads(artefact_files[MANIFEST_FILE_NAME])
        except ValueError:
            return {"framework": "XGBOOST", "target_device": ""}
        return {
            "framework": str(manifest.get("framework", "XGBOOST")),
            "target_device": str(manifest.get("target_device", "")),
        }

    def saved_by_version(self, model_tar_gz: bytes) -> tuple[int, int] | None:
        from localcloud.sagemaker_engine.inference import read_tar_members
        from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME

        try:
            model = read_tar_members(model_tar_gz).get(MODEL_FILE_NAME)
            # A JSON model records the XGBoost that saved it; the binary formats are not read here.
            version = json.loads(model)["version"] if model is not None else None
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(version, list) or len(version) < 2:
            return None
        return int(version[0]), int(version[1])


ENGINE = XGBoostEngine()
