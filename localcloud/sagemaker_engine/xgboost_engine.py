"""The built-in XGBoost family's offline engine: its container, Neo's tree compiler, its models."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

TRACKER_MODULE = "localcloud.sagemaker_engine.rabit_tracker"
TRACKER_START_SECONDS = 30.0

if TYPE_CHECKING:
    from localcloud.sagemaker_engine.compilation import CompilationOutcome
    from localcloud.sagemaker_engine.inference import LoadedModel
    from localcloud.sagemaker_engine.training import TrainingOutcome


def _tracker_address(tracker: subprocess.Popen[bytes], address_file: Path) -> dict[str, Any]:
    """The tracker's address once it listens; its failure to start fails the job as the cluster's."""
    deadline = time.monotonic() + TRACKER_START_SECONDS
    while not address_file.exists():
        if tracker.poll() is not None or time.monotonic() > deadline:
            log = (address_file.parent / "tracker.log").read_text(errors="replace")[-500:]
            raise RuntimeError(f"the training cluster's tracker did not start: {log}")
        time.sleep(0.02)
    address: dict[str, Any] = json.loads(address_file.read_text(encoding="utf-8"))
    return address


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

    def train_cluster(
        self,
        job_dirs: Mapping[str, Path],
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Mapping[str, Path]],
        timeout_seconds: float,
        content_types: Mapping[str, str],
    ) -> TrainingOutcome:
        """Distributed XGBoost: the containers meet at a Rabit tracker, as SageMaker's do on their master host.

        The tracker runs beside them (``rabit_tracker``, a process of its own), and its address
        reaches the containers as the DMLC tracker variables; each container then trains on its own
        shard and XGBoost's collective sums their histograms, so every host builds the same trees.
        """
        from localcloud.sagemaker_engine import training

        root = next(iter(job_dirs.values())).parent
        root.mkdir(parents=True, exist_ok=True)
        address_file = root / "tracker.json"
        with (root / "tracker.log").open("wb") as log:
            tracker = subprocess.Popen(
                [sys.executable, "-m", TRACKER_MODULE, str(len(job_dirs)), str(address_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=training.container_environment(),
            )
        try:
            address = _tracker_address(tracker, address_file)
            return training.run_training_cluster(
                job_dirs,
                hyperparameters,
                channels,
                timeout_seconds,
                content_types=content_types,
                container_module=training.CONTAINER_MODULE,
                environment={
                    "DMLC_TRACKER_URI": str(address["dmlc_tracker_uri"]),
                    "DMLC_TRACKER_PORT": str(address["dmlc_tracker_port"]),
                },
            )
        finally:
            if tracker.poll() is None:
                tracker.kill()
            tracker.wait()

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
