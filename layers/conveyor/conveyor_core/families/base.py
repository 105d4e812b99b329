"""What a model family is: everything that depends on the kind of model Conveyor trains.

The pipeline itself (intake, gate, registry, compilation loop, rollouts, rollback, notifications)
is the same for every family. A family says which container trains and serves its models, how
its hyperparameters decide the learning task, what Neo needs to compile it, how an endpoint's
answer reads, and which engine of the offline cloud stands in for its containers. Preprocess
turns the family into a ``FamilySpec`` for the run, and the state machine reads only that.

A new family is one module in this package that defines ``FAMILY``: nothing else imports it by
name (``conveyor_core.families.get`` discovers it), and the template lists it in ``ModelFamily``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from conveyor_core.shared.contracts import CompilationPlan, FamilySpec

TaskKind = Literal["regression", "binary", "multiclass"]


@dataclass(frozen=True, slots=True)
class LabelTask:
    """What the label column means, as the family's hyperparameters decide it."""

    kind: TaskKind
    # How the user asked for it, for error messages ("objective binary:logistic").
    described_as: str

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"


def ecr_domain(region: str) -> str:
    """The DNS suffix of ECR in ``region``'s partition (an image URI's host ends with it)."""
    for prefix, domain in _PARTITION_DOMAINS:
        if region.startswith(prefix):
            return domain
    return "amazonaws.com"


# botocore's endpoints.json, per partition: China, and the isolated regions, have their own.
_PARTITION_DOMAINS = (
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
)


class UnknownFamilyError(LookupError):
    """The template names a family no module in ``conveyor_core.families`` defines."""


class ModelFamily(ABC):
    name: ClassVar[str]
    # Framework versions the family's images exist for; the first is the default.
    versions: ClassVar[tuple[str, ...]]
    # The ECR repository of its training image: the offline cloud recognises the family by it.
    image_repository: ClassVar[str]
    # The request and response media type of its training channels and endpoints.
    content_type: ClassVar[str] = "text/csv"
    # The object that plays its containers in the offline cloud ("module:attribute", imported only there).
    offline_engine: ClassVar[str]
    # Whether its training container trains one model across instances (a sharded train channel).
    # Without it, a drop split by Processing still trains on one instance.
    distributed_training: ClassVar[bool] = False

    @property
    def default_version(self) -> str:
        return self.versions[0]

    def version(self, requested: str) -> str:
        """The framework version to use: the requested one if the family has it, else its default."""
        if not requested:
            return self.default_version
        if requested not in self.versions:
            raise ValueError(f"{self.name} has no framework version {requested!r}; choose one of {self.versions}")
        return requested

    @abstractmethod
    def training_image(self, region: str, version: str) -> str:
        """The image that trains this family's models in ``region``."""

    def serving_image(self, region: str, version: str, instance_type: str = "") -> str:
        """The image that serves an uncompiled model on ``instance_type`` (the training image, for built-ins)."""
        return self.training_image(region, version)

    def training_code(self) -> dict[str, bytes]:
        """Script-mode training code to stage as ``sourcedir.tar.gz`` (file name → content); none for built-ins."""
        return {}

    def code_hyperparameters(self, submit_directory: str) -> dict[str, str]:
        """The hyperparameters that point the training container at the staged code."""
        return {}

    def metric_definitions(self) -> list[dict[str, str]]:
        """Regexes SageMaker reads metrics with; built-in algorithms publish their own, so none."""
        return []

    @abstractmethod
    def label_task(self, hyperparameters: Mapping[str, str]) -> LabelTask:
        """What the hyperparameters ask the model to learn from the label."""

    def derived_hyperparameters(
        self, hyperparameters: Mapping[str, str], label_counts: Mapping[str, int]
    ) -> dict[str, str]:
        """Hyperparameters that follow from the data (none by default)."""
        return dict(hyperparameters)

    @abstractmethod
    def neo_refusal(self, version: str, target_device: str) -> str | None:
        """Why Neo would not compile (or not usefully compile) this family's model for a target; None if it would."""

    def neo_region_refusal(self, region: str) -> str | None:
        """Why a model compiled for a cloud target could not be served in ``region``; None if it could."""
        return None

    @abstractmethod
    def neo_input(self, version: str, feature_count: int) -> dict[str, Any]:
        """``CreateCompilationJob``'s ``InputConfig`` without ``S3Uri`` (the state machine adds it)."""

    @abstractmethod
    def parse_predictions(self, body: str, rows: int) -> list[float | list[float]] | None:
        """An endpoint's answer as one value (or one vector) per row; None if it is not in the family's format."""

    def spec(
        self,
        region: str,
        version: str,
        feature_count: int,
        compilation: CompilationPlan,
        training_image: str = "",
        instance_type: str = "",
    ) -> FamilySpec:
        """The run's view of the family: what the state machine passes to SageMaker.

        ``version`` is one ``version()`` chose; ``compilation`` is the run's Neo plan
        (``conveyor_core.release.compilation``), which depends on the endpoint as well as the family.
        """
        image = training_image or self.training_image(region, version)
        algorithm: dict[str, Any] = {"TrainingImage": image, "TrainingInputMode": "File"}
        if definitions := self.metric_definitions():
            algorithm["MetricDefinitions"] = definitions
        return FamilySpec(
            name=self.name,
            version=version,
            algorithm_specification=algorithm,
            serving_image=training_image or self.serving_image(region, version, instance_type),
            content_type=self.content_type,
            neo_input=self.neo_input(version, feature_count),
            compilation=compilation,
        )
