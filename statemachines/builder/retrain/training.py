"""Training and the quality gate: train on the split, compare with production, register a winner.

Everything that depends on the kind of model (image, metric regexes, content type) comes from
the run's ``FamilySpec`` at ``$.preprocess.family``, which ``conveyor_core.families`` builds.
"""

from __future__ import annotations

from conveyor_core.release.polling import TRAINING_MAX_POLLS, TRAINING_POLL_SECONDS
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, outcomes
from statemachines.builder.retrain import adoption
from statemachines.builder.retrain.common import FINALIZE, MODEL, RUN_ID, fail_run, run_details, run_tags

TRAINING = "$.training"
GATE = "$.gate"


FAMILY = "$.preprocess.family"


def _channel(name: str, uri: str, distribution: str = "FullyReplicated") -> dict[str, object]:
    return {
        "ChannelName": name,
        "ContentType": f"{FAMILY}.content_type",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": distribution}
        },
    }


def _trained(selector_root: str = "$") -> dict[str, str | dict[str, str]]:
    """What the rest of the run reads about the trained model, from DescribeTrainingJob's answer."""
    return {
        "TrainingJobName": f"{selector_root}.TrainingJobName",
        "ModelArtifacts": f"{selector_root}.ModelArtifacts.S3ModelArtifacts",
        # CreateCompilationJob's InputConfig starts from this; the family adds the rest.
        "ModelSource": {"S3Uri": f"{selector_root}.ModelArtifacts.S3ModelArtifacts"},
    }


ADOPTION = adoption.AdoptedJob(
    kind="Training",
    name_param="TrainingJobName",
    status_field="TrainingJobStatus",
    result_selector={**_trained(), "status": "$.TrainingJobStatus"},
    result_path=TRAINING,
    poll_seconds=TRAINING_POLL_SECONDS,
    max_polls=TRAINING_MAX_POLLS,
    next_state="QualityGate",
    details={"training_job": "$.training.TrainingJobName"},
)


def states() -> dict[str, asl.State]:
    return {
        "Train": asl.service_task(
            "sagemaker:createTrainingJob.sync",
            parameters={
                "TrainingJobName": RUN_ID,
                "AlgorithmSpecification": f"{FAMILY}.algorithm_specification",
                "RoleArn": "${SageMakerRoleArn}",
                "HyperParameters": "$.preprocess.hyperparameters",
                "InputDataConfig": [
                    # Sharded after a Processing job: each instance trains on its parts (distributed
                    # XGBoost); every instance evaluates on the whole validation set.
                    _channel("train", "$.preprocess.train_uri", "$.preprocess.training_distribution"),
                    _channel("validation", "$.preprocess.validation_uri"),
                ],
                "OutputDataConfig": {
                    "S3OutputPath": "States.Format('s3://${ArtifactBucket}/runs/{}/model/', $.run_id)"
                },
                "ResourceConfig": {
                    "InstanceType": "${TrainingInstanceType}",
                    "InstanceCount": "$.preprocess.training_instance_count",
                    "VolumeSizeInGB": "$.preprocess.training_volume_gb",
                },
                "EnableManagedSpotTraining": "$.preprocess.managed_spot",
                "StoppingCondition": "$.preprocess.stopping_condition",
                "Tags": run_tags(),
            },
            comment="The result selector reads only members DescribeTrainingJob always returns: a missing path "
            "would raise States.Runtime, which no Catch can handle.",
            result_selector=_trained(),
            result_path=TRAINING,
            catch=adoption.catch(ADOPTION),
            next_state="QualityGate",
        ),
        **adoption.states(ADOPTION),
        "QualityGate": functions.QUALITY_GATE.task(
            comment="Compare the candidate's validation metric with the production model's.",
            parameters={
                "run_id": RUN_ID,
                "training_job_name": "$.training.TrainingJobName",
                "dataset_uri": "$.dataset.uri",
                "dataset_sha256": "$.preprocess.dataset_sha256",
                "statistics_uri": "$.preprocess.statistics_uri",
            },
            result_path=GATE,
            catch=fail_run(),
            next_state="Promote",
        ),
        "Promote": asl.choice(
            [asl.rule({"Variable": "$.gate.promote", "BooleanEquals": True}, "NonRegressionNeeded")], "RejectedOutcome"
        ),
        "RejectedOutcome": outcomes.outcome(
            EventType.MODEL_REJECTED,
            model=MODEL,
            reason="$.gate.reason",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details=run_details(training_job="$.training.TrainingJobName"),
            next_state=FINALIZE,
        ),
    }
