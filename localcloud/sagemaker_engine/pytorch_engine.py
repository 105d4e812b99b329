"""The pytorch family's offline engine: its script-mode container, Neo's compiler, its models.

The offline Neo compiles the traced TorchScript model Neo receives into an ONNX graph that ONNX
Runtime has already optimized (constant folding, operator fusion: ``ORT_ENABLE_ALL``, saved), and
the endpoint serves that graph with ONNX Runtime. Chosen by ``bench/torch_compile_choice.py``
against eager PyTorch, the traced module and a TorchScript freeze (docs/performance.md): on this
2-core CPU ONNX Runtime answered one row in 11 us at p50 against 25 us for the freeze and 39 us
eager, tied at 64 rows and was fastest again at 1,024; TorchScript freezing is also deprecated in
current PyTorch. Its answers match the traced model's to 1e-5. The graph runs on the GPU through
ONNX Runtime's CUDA provider when the machine has one, otherwise on the CPU, and the loaded
model's note says which.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import tarfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from localcloud.sagemaker_engine.inference import FloatArray, LoadedModel, read_tar_members

if TYPE_CHECKING:
    from localcloud.sagemaker_engine.compilation import CompilationOutcome
    from localcloud.sagemaker_engine.training import TrainingOutcome

CONTAINER_MODULE = "localcloud.sagemaker_engine.pytorch_container"
MODEL_FILE = "model.pth"
DESCRIPTION_FILE = "conveyor-model.json"
COMPILED_FILE = "compiled-model.onnx"
MANIFEST_FILE = "neo-pytorch.json"
_GPU_TARGETS = ("ml_p2", "ml_p3", "ml_g4dn")


def final_metrics(log: str, definitions: list[dict[str, str]]) -> list[dict[str, Any]]:
    """What SageMaker reads from a job's log with its MetricDefinitions: each metric's last match."""
    found = []
    for definition in definitions:
        values = re.findall(definition["Regex"], log)
        if values:
            try:
                found.append({"MetricName": definition["Name"], "Value": float(values[-1])})
            except ValueError:
                continue
    return found


@contextlib.contextmanager
def _torchscript_quietly() -> Iterator[None]:
    # Recent torch deprecates TorchScript (and its ONNX exporter) in favour of torch.export; Neo still
    # takes TorchScript (a traced .pth), so the offline Neo reads it without a warning on every compile.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="no signature found for", category=UserWarning)
        yield


def _device() -> Any:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchScriptModel(LoadedModel):
    """A traced or frozen TorchScript model on the GPU when there is one, else the CPU."""

    kind = "torchscript"

    def __init__(self, module_bytes: bytes, num_features: int, note: str) -> None:
        import torch

        self.device = _device()
        with _torchscript_quietly():
            self._module = torch.jit.load(io.BytesIO(module_bytes), map_location=self.device).eval()
        super().__init__(num_features, f"{note}; runs on {'the GPU' if self.device.type == 'cuda' else 'the CPU'}")

    def _predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray:
        import torch

        with torch.inference_mode():
            out = self._module(torch.from_numpy(matrix).to(self.device))
        predictions: FloatArray = out.cpu().numpy().astype(np.float64)
        return predictions


class OnnxModel(LoadedModel):
    """The offline Neo's optimized ONNX graph, on ONNX Runtime's CUDA provider when there is one."""

    kind = "compiled"

    def __init__(self, graph: bytes, num_features: int, note: str) -> None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
        wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        options = onnxruntime.SessionOptions()
        # One thread, like the other offline models: on a few shared cores thread hand-offs cost more than the math.
        options.intra_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(graph, options, providers=wanted)
        self.device = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        super().__init__(num_features, f"{note}; runs on {'the GPU' if self.device == 'cuda' else 'the CPU'}")

    def _predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray:
        out = self._session.run(None, {"input0": matrix})[0]
        predictions: FloatArray = np.asarray(out, dtype=np.float64)
        return predictions


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class PyTorchEngine:
    neo_frameworks = ("PYTORCH",)

    def train(
        self,
        job_dir: Path,
        hyperparameters: Mapping[str, str],
        channels: Mapping[str, Path],
        timeout_seconds: float,
        content_types: Mapping[str, str],
    ) -> TrainingOutcome:
        from conveyor_core.families import get
        from localcloud.sagemaker_engine.training import run_training

        outcome = run_training(
            job_dir, hyperparameters, channels, timeout_seconds, content_types=content_types,
            container_module=CONTAINER_MODULE,
        )  # fmt: skip
        if outcome.status != "Completed":
            return outcome
        return dataclasses.replace(
            outcome, final_metrics=final_metrics(outcome.log, get("pytorch").metric_definitions())
        )

    def compile(
        self, model_tar_gz: bytes, framework: str, target_device: str, work_dir: Path, framework_version: str = ""
    ) -> CompilationOutcome:
        import onnxruntime
        import torch

        from localcloud.sagemaker_engine.compilation import CompilationOutcome

        started = time.perf_counter()
        files = read_tar_members(model_tar_gz)
        description = json.loads(files.get(DESCRIPTION_FILE, b"{}") or b"{}")
        features = int(description.get("features") or 0)
        if MODEL_FILE not in files or features <= 0:
            reason = f"ClientError: InputConfiguration: no {MODEL_FILE} with its input shape in the model archive"
            return CompilationOutcome("FAILED", reason, None, "", time.perf_counter() - started)
        work_dir.mkdir(parents=True, exist_ok=True)
        exported, optimized = work_dir / "exported.onnx", work_dir / "optimized.onnx"
        try:
            with _torchscript_quietly():
                traced = torch.jit.load(io.BytesIO(files[MODEL_FILE]), map_location="cpu").eval()
                torch.onnx.export(
                    traced, (torch.zeros(1, features),), str(exported), input_names=["input0"],
                    output_names=["output0"], dynamic_axes={"input0": {0: "rows"}, "output0": {0: "rows"}},
                    dynamo=False,
                )  # fmt: skip
            options = onnxruntime.SessionOptions()
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.optimized_model_filepath = str(optimized)
            onnxruntime.InferenceSession(str(exported), options, providers=["CPUExecutionProvider"])
        except (RuntimeError, ValueError, torch.onnx.errors.OnnxExporterError) as error:
            reason = f"ClientError: InputConfiguration: {MODEL_FILE} is not a TorchScript model Neo can read: {error}"
            return CompilationOutcome("FAILED", reason[:1000], None, "", time.perf_counter() - started)
        manifest = {
            "framework": "PYTORCH",
            "framework_version": framework_version,
            "target_device": target_device,
            "features": features,
            "runtime": f"onnxruntime {onnxruntime.__version__}",
            "processor": "gpu" if target_device in _GPU_TARGETS else "cpu",
        }
        artefact = {COMPILED_FILE: optimized.read_bytes(), MANIFEST_FILE: json.dumps(manifest, indent=2).encode()}
        artefact.update({name: content for name, content in files.items() if name.startswith("code/")})
        return CompilationOutcome(
            "COMPLETED", None, _tar(artefact), f"compiled for {target_device}", time.perf_counter() - started
        )

    def owns(self, artefact_files: Mapping[str, bytes]) -> bool:
        return MODEL_FILE in artefact_files or MANIFEST_FILE in artefact_files

    def load(self, model_tar_gz: bytes, work_dir: Path) -> LoadedModel:
        files = read_tar_members(model_tar_gz)
        if MANIFEST_FILE in files:
            manifest = json.loads(files[MANIFEST_FILE])
            note = f"compiled by the offline Neo for {manifest.get('target_device')} ({manifest.get('runtime')})"
            return OnnxModel(files[COMPILED_FILE], int(manifest.get("features") or 0), note)
        description = json.loads(files.get(DESCRIPTION_FILE, b"{}") or b"{}")
        return TorchScriptModel(files[MODEL_FILE], int(description.get("features") or 0), "uncompiled TorchScript")

    def compiled_for(self, artefact_files: Mapping[str, bytes]) -> Mapping[str, str] | None:
        if MANIFEST_FILE not in artefact_files:
            return None
        manifest = json.loads(artefact_files[MANIFEST_FILE])
        return {key: str(manifest.get(key, "")) for key in ("framework", "target_device", "framework_version")}

    def saved_by_version(self, model_tar_gz: bytes) -> tuple[int, int] | None:
        description = json.loads(read_tar_members(model_tar_gz).get(DESCRIPTION_FILE, b"{}") or b"{}")
        match = re.match(r"^(\d+)\.(\d+)", str(description.get("torch_version", "")))
        return (int(match.group(1)), int(match.group(2))) if match else None


ENGINE = PyTorchEngine()
