"""SageMaker's built-in XGBoost: CSV with the label first, trained and served by one image.

Neo compiles XGBoost models (``Framework=XGBOOST``, no input shape). Which versions and targets it
accepts is the compilation step's business; here the family only says what to hand it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor_core.families.base import LabelTask, ModelFamily

# The accounts that publish sagemaker-xgboost in each region (the SageMaker Python SDK's image
# tables, image_uri_config/xgboost.json).
_IMAGE_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
    "ca-central-1": "341280168497",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "eu-central-1": "492215442770",
    "eu-north-1": "662702820516",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-south-1": "720646828776",
    "sa-east-1": "737474898029",
}
_DEFAULT_OBJECTIVE = "reg:squarederror"
_BINARY = ("binary:",)
_MULTICLASS = ("multi:",)


class XGBoostFamily(ModelFamily):
    name = "xgboost"
    versions = ("1.7-1", "1.5-1", "1.3-1")
    image_repository = "sagemaker-xgboost"
    content_type = "text/csv"
    offline_engine = "localcloud.sagemaker_engine.xgboost_engine:ENGINE"

    def training_image(self, region: str, version: str) -> str:
        try:
            account = _IMAGE_ACCOUNTS[region]
        except KeyError:
            raise ValueError(
                f"the built-in XGBoost image is not mapped for {region}; set TrainingImage to its URI"
            ) from None
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return f"{account}.dkr.ecr.{region}.{suffix}/{self.image_repository}:{version}"

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
