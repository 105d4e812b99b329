"""Training and the quality gate: train on the split, compare with production, register a winner.

Everything that depends on the kind of model (image, metric regexes, content type) comes from
the run's ``FamilySpec`` at ``$.preprocess.family``, which ``conveyor_core.families`` builds.
"""

from __future__ import annotations

from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, RUN_ID, fail_run, run_tags

TRAINING = "$.training"
GATE = "$.gate"
REGISTRY = "$.registry"


FAMILY = "$.preprocess.family"


def _channel(name: str, uri: str) -> dict[str, object]:
    return {
        "ChannelName": name,
        "ContentType": f"{FAMILY}.content_type",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}
        },
    }


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
                    _channel("train", "$.preprocess.train_uri"),
                    _channel("validation", "$.preprocess.validation_uri"),
                ],
                "OutputDataConfig": {
                    "S3OutputPath": "States.Format('s3://${ArtifactBucket}/runs/{}/model/', $.run_id)"
                },
                "ResourceConfig": {"InstanceType": "${TrainingInstanceType}", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "EnableManagedSpotTraining": "$.preprocess.managed_spot",
                "StoppingCondition": "$.preprocess.stopping_condition",
                "Tags": run_tags(),
            },
            comment="The result selector reads only members DescribeTrainingJob always returns: a missing path "
            "would raise States.Runtime, which no Catch can handle.",
            result_selector={
                "TrainingJobName": "$.TrainingJobName",
                "ModelArtifacts": "$.ModelArtifacts.S3ModelArtifacts",
                "TrainingImage": "$.AlgorithmSpecification.TrainingImage",
                # CreateCompilationJob's InputConfig starts from this; the family adds the rest.
                "ModelSource": {"S3Uri": "$.ModelArtifacts.S3ModelArtifacts"},
            },
            result_path=TRAINING,
            catch=fail_run(),
            next_state="QualityGate",
        ),
        "QualityGate": functions.QUALITY_GATE.task(
            comment="Compare the candidate's validation metric with the production model's.",
            parameters={"run_id": RUN_ID, "training_job_name": "$.training.TrainingJobName"},
            result_path=GATE,
            catch=fail_run(),
            next_state="Promote",
        ),
        "Promote": asl.choice(
            [asl.rule({"Variable": "$.gate.promote", "BooleanEquals": True}, "RegisterModel")], "RejectedOutcome"
        ),
        "RejectedOutcome": outcomes.outcome(
            EventType.MODEL_REJECTED,
            model=MODEL,
            reason="$.gate.reason",
            metrics={"candidate": "$.gate.candidate", "production": "$.gate.production"},
            details={"training_job": "$.training.TrainingJobName"},
            next_state=FINALIZE,
        ),
        "RegisterModel": asl.service_task(
            "aws-sdk:sagemaker:createModelPackage",
            parameters={
                "ModelPackageGroupName": "${ModelPackageGroupName}",
                "ModelPackageDescription": "States.Format('Conveyor run {} ({} trigger)', $.run_id, $.trigger)",
                "ModelApprovalStatus": "Approved",
                "InferenceSpecification": {
                    "Containers": [{"Image": "$.training.TrainingImage", "ModelDataUrl": "$.training.ModelArtifacts"}],
                    "SupportedContentTypes": f"States.Array({FAMILY}.content_type)",
                    "SupportedResponseMIMETypes": f"States.Array({FAMILY}.content_type)",
                },
                "ModelMetrics": {
                    "ModelDataQuality": {
                        "Statistics": {"ContentType": "application/json", "S3Uri": "$.preprocess.statistics_uri"}
                    }
                },
                "CustomerMetadataProperties": {
                    "metric_name": "$.gate.metric_name",
                    "metric_value": "$.gate.candidate_text",
                    "dataset_uri": "$.dataset.uri",
                    "dataset_sha256": "$.preprocess.dataset_sha256",
                    "statistics_uri": "$.preprocess.statistics_uri",
                    "training_job": "$.training.TrainingJobName",
                    "code_version": "${CodeVersion}",
                    "run_id": RUN_ID,
                },
            },
            result_selector={"ModelPackageArn": "$.ModelPackageArn"},
            result_path=REGISTRY,
            catch=fail_run(),
            next_state="CompileModel",
        ),
    }
