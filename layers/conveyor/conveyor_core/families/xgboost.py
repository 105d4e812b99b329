"""SageMaker's built-in XGBoost: CSV with the label first, trained and served by one image.

Neo compiles XGBoost models (``Framework=XGBOOST``, no input shape) of 1.3.3 or earlier, for CPU
instances and edge devices; a compiled model is served by Neo's own ``xgboost-neo`` image, which
``DescribeCompilationJob`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor_core.families.base import LabelTask, ModelFamily, ecr_domain

# The accounts that publish sagemaker-xgboost in each region: the SageMaker Python SDK's image
# table (image_uri_config/xgboost.json), the same for every version offered here.
_IMAGE_ACCOUNTS = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-iso-east-1": "833128469047",
    "us-isob-east-1": "281123927165",
    "us-isof-east-1": "108575199400",
    "us-isof-south-1": "124985052026",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
# Neo compiles XGBoost model files of 1.3.3 or earlier (docs: neo-supported-cloud); the 1.3-1
# image trains XGBoost 1.3, the later ones newer models it refuses.
_NEO_VERSIONS = frozenset({"1.3-1"})
# Neo's XGBoost runs in one inference image (xgboost-neo) with no GPU variant, and Inferentia's
# framework list has no XGBoost: the targets worth compiling a tree model for are CPU instances
# and edge devices.
_NEO_CPU_TARGETS = frozenset({"ml_c4", "ml_c5", "ml_m4", "ml_m5"})
# Regions with a sagemaker-xgboost image but no xgboost-neo inference image (the SageMaker Python
# SDK's image_uri_config/xgboost-neo.json): a model compiled there for an ml_* target cannot be served.
_NO_NEO_IMAGE_REGIONS = frozenset(
    {"ap-south-2", "ap-southeast-3", "ap-southeast-4", "ca-west-1", "eu-south-2", "me-central-1"}
)
_DEFAULT_OBJECTIVE = "reg:squarederror"
_BINARY = ("binary:",)
_MULTICLASS = ("multi:",)


class XGBoostFamily(ModelFamily):
    name = "xgboost"
    # 1.3-1 first: the newest version whose models Neo compiles.
    versions = ("1.3-1", "1.5-1", "1.7-1")
    image_repository = "sagemaker-xgboost"
    content_type = "text/csv"
    offline_engine = "localcloud.sagemaker_engine.xgboost_engine:ENGINE"
    # SageMaker's XGBoost trains across instances (Rabit), each on its shard of the train channel.
    distributed_training = True

    def training_image(self, region: str, version: str) -> str:
        try:
            account = _IMAGE_ACCOUNTS[region]
        except KeyError:
            raise ValueError(
                f"SageMaker publishes no built-in XGBoost image in {region}; set TrainingImage to an image URI"
            ) from None
        return f"{account}.dkr.ecr.{region}.{ecr_domain(region)}/{self.image_repository}:{version}"

    def neo_refusal(self, version: str, target_device: str) -> str | None:
        if version not in _NEO_VERSIONS:
            return (
                f"Neo compiles XGBoost 1.3.3 or earlier; this run trains XGBoost {version} "
                "(FrameworkVersion 1.3-1 compiles)"
            )
        if target_device.startswith("ml_") and target_device not in _NEO_CPU_TARGETS:
            return (
                f"Neo's XGBoost image runs on CPU only: compiling for {target_device} would not use its accelerator "
                f"(CPU targets: {', '.join(sorted(_NEO_CPU_TARGETS))})"
            )
        return None

    def neo_region_refusal(self, region: str) -> str | None:
        if region in _NO_NEO_IMAGE_REGIONS:
            return (
                f"SageMaker publishes no xgboost-neo inference image in {region}, "
                "so a compiled model could not be served"
            )
        return None

    def label_task(self, hyperparameters: Mapping[str, str]) -> LabelTask:
        objective = hyperparameters.get("objective", _DEFAULT_OBJECTIVE)
        described = f"objective {objective}"
        if objective.startswith(_BINARY):
            return LabelTask("binary", described)
        if objective.startswith(_MULTICLASS):
            return LabelTask("multiclass", described)
        return LabelTask("regression", described)

    def derived_hyperparameters(
        self, hyperparameters: Mapping[str, str], label_counts: Mapping[str, int]
    ) -> dict[str, str]:
        derived = dict(hyperparameters)
        if self.label_task(hyperparameters).kind == "multiclass" and "num_class" not in derived and label_counts:
            # XGBoost wants labels in [0, num_class), so a missing class in between still counts.
            derived["num_class"] = str(int(max(float(label) for label in label_counts)) + 1)
        return derived

    def neo_input(self, version: str, feature_count: int) -> dict[str, Any]:
        return {"Framework": "XGBOOST"}

    def parse_predictions(self, body: str, rows: int) -> list[float | list[float]] | None:
        lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
        try:
            # The container answers one line per row, or (older versions) one comma-separated line.
            if len(lines) == 1 and rows > 1:
                return [float(value) for value in lines[0].split(",")]
            parsed: list[float | list[float]] = []
            for line in lines:
                values = [float(value) for value in line.split(",")]
                parsed.append(values[0] if len(values) == 1 else values)
        except ValueError:
            return None
        return parsed


FAMILY = XGBoostFamily()
