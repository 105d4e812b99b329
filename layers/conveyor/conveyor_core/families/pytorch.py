"""A tabular PyTorch network: SageMaker's PyTorch container in script mode, compiled by Neo for GPUs.

The training script (``pytorch_script/train.py``) lives in this package; preprocessing stages it
to the artifact bucket as ``sourcedir.tar.gz`` (``stage_training_code``) and names it in the
job's ``sagemaker_program`` / ``sagemaker_submit_directory`` hyperparameters, as the SageMaker
Python SDK does. The model is a traced TorchScript ``model.pth`` with a float32 ``[1, features]``
input, the form Neo takes (``Framework=PYTORCH``, ``DataInputConfig`` from the feature count).

Neo compiles PyTorch 1.13 and 2.0 models for cloud CPU and GPU instances
(https://docs.aws.amazon.com/sagemaker/latest/dg/neo-supported-cloud.html); a compiled model is
served by the ``InferenceImage`` DescribeCompilationJob returns, an uncompiled one by the Deep
Learning Containers' ``pytorch-inference`` image for the instance's processor.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor_core.families.base import LabelTask, ModelFamily, ecr_domain
from conveyor_core.release.target_advisor import latency_metric_names

# The Deep Learning Containers' accounts for pytorch-training and pytorch-inference 2.0.1 (the SageMaker
# Python SDK's image_uri_config/pytorch.json); the same for both images.
_IMAGE_ACCOUNTS = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462",
    "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-central-2": "380420809688",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "mx-central-1": "637423239942",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}
# Neo's PyTorch inference image (sagemaker-inference-pytorch) exists in these regions only (the SDK's
# image_uri_config/neo-pytorch.json): elsewhere a compiled model could not be served.
_NEO_REGIONS = frozenset(
    {
        "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-southeast-1", "ap-southeast-2", "ca-central-1", "cn-north-1", "cn-northwest-1", "eu-central-1",
        "eu-central-2", "eu-north-1", "eu-south-1", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1",
        "me-south-1", "sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1",
        "us-west-2",
    }
)  # fmt: skip
# The Deep Learning Containers tag of each framework version offered (Neo compiles 1.13 and 2.0).
_IMAGE_TAGS = {"2.0": "2.0.1", "1.13": "1.13.1"}
_PYTHON_TAGS = {"2.0": "py310", "1.13": "py39"}
# Neo's cloud targets for PyTorch: CPU and NVIDIA GPU instances. Inferentia needs a Neuron-traced model.
_NEO_CPU_TARGETS = frozenset({"ml_c4", "ml_c5", "ml_m4", "ml_m5"})
_NEO_GPU_TARGETS = frozenset({"ml_p2", "ml_p3", "ml_g4dn"})
_GPU_INSTANCE_FAMILIES = ("ml.p2.", "ml.p3.", "ml.p4d.", "ml.g4dn.", "ml.g5.", "ml.g6.")
_SCRIPT_DIR = Path(__file__).with_name("pytorch_script")
ENTRY_POINT = "train.py"


def deep_learning_container(repository: str, region: str, tag: str) -> str:
    """An AWS Deep Learning Container's URI in ``region`` (the DLC registry account differs by region)."""
    try:
        account = _IMAGE_ACCOUNTS[region]
    except KeyError:
        raise ValueError(
            f"SageMaker publishes no PyTorch Deep Learning Container in {region}; set an image URI for it"
        ) from None
    return f"{account}.dkr.ecr.{region}.{ecr_domain(region)}/{repository}:{tag}"


def is_gpu_instance(instance_type: str) -> bool:
    return instance_type.startswith(_GPU_INSTANCE_FAMILIES)


class PyTorchFamily(ModelFamily):
    name = "pytorch"
    versions = ("2.0", "1.13")
    image_repository = "pytorch-training"
    content_type = "text/csv"
    offline_engine = "localcloud.sagemaker_engine.pytorch_engine:ENGINE"

    def _image(self, repository: str, region: str, version: str, processor: str) -> str:
        return deep_learning_container(
            repository, region, f"{_IMAGE_TAGS[version]}-{processor}-{_PYTHON_TAGS[version]}"
        )

    def training_image(self, region: str, version: str) -> str:
        # A tabular network trains in minutes on CPU; the GPU is where it serves large batches.
        return self._image(self.image_repository, region, version, "cpu")

    def serving_image(self, region: str, version: str, instance_type: str = "") -> str:
        processor = "gpu" if is_gpu_instance(instance_type) else "cpu"
        return self._image("pytorch-inference", region, version, processor)

    def metric_definitions(self) -> list[dict[str, str]]:
        # train.py prints "<channel>:<metric>=<value>" every epoch; SageMaker keeps the last value.
        # It then prints its latencies per processor and batch, which the target advisor reads.
        names = ("auc", "rmse", "mae", "error", "logloss", "mlogloss", "merror")
        scores = [f"{channel}:{name}" for channel in ("train", "validation") for name in names]
        return [{"Name": name, "Regex": f"{name}=([-+0-9.eE]+|nan)"} for name in scores + latency_metric_names()]

    def label_task(self, hyperparameters: Mapping[str, str]) -> LabelTask:
        objective = hyperparameters.get("objective", "binary:logistic")
        described = f"objective {objective}"
        if objective.startswith("binary:"):
            return LabelTask("binary", described)
        if objective.startswith("multi:"):
            return LabelTask("multiclass", described)
        return LabelTask("regression", described)

    def neo_refusal(self, version: str, target_device: str) -> str | None:
        if version not in _IMAGE_TAGS:
            return f"Neo compiles PyTorch 1.13 and 2.0 for cloud instances; this run trains PyTorch {version}"
        if not target_device.startswith("ml_"):
            return f"Neo compiles PyTorch 1.8 or earlier for edge devices; this run trains PyTorch {version}"
        if target_device not in _NEO_CPU_TARGETS | _NEO_GPU_TARGETS:
            return (
                f"Neo has no PyTorch target {target_device} for this model (Inferentia needs a Neuron-traced model); "
                f"targets: {', '.join(sorted(_NEO_CPU_TARGETS | _NEO_GPU_TARGETS))}"
            )
        return None

    def neo_region_refusal(self, region: str) -> str | None:
        if region not in _NEO_REGIONS:
            return (
                f"SageMaker publishes no Neo PyTorch inference image in {region}, "
                "so a compiled model could not be served"
            )
        return None

    def neo_input(self, version: str, feature_count: int) -> dict[str, Any]:
        return {
            "Framework": "PYTORCH",
            "FrameworkVersion": version,
            "DataInputConfig": f'{{"input0": [1, {feature_count}]}}',
        }

    def parse_predictions(self, body: str, rows: int) -> list[float | list[float]] | None:
        lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
        try:
            parsed: list[float | list[float]] = []
            for line in lines:
                values = [float(value) for value in line.split(",")]
                parsed.append(values[0] if len(values) == 1 else values)
        except ValueError:
            return None
        return parsed if len(parsed) == rows else None

    def training_code(self) -> dict[str, bytes]:
        return {path.name: path.read_bytes() for path in sorted(_SCRIPT_DIR.glob("*.py"))}

    def code_hyperparameters(self, submit_directory: str) -> dict[str, str]:
        return {"sagemaker_program": ENTRY_POINT, "sagemaker_submit_directory": submit_directory}


def source_archive(files: Mapping[str, bytes]) -> tuple[bytes, str]:
    """``sourcedir.tar.gz`` of the training code, byte-for-byte reproducible, and its digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            archive.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    return data, hashlib.sha256(b"".join(files[n] for n in sorted(files))).hexdigest()[:16]


FAMILY = PyTorchFamily()
