"""Intake: validate the drop, and for a scheduled run, skip data the production model already saw."""

from __future__ import annotations

from conveyor_core.release import history
from conveyor_core.release.polling import PROCESSING_MAX_POLLS, PROCESSING_POLL_SECONDS
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, history_items, outcomes
from statemachines.builder.retrain import adoption
from statemachines.builder.retrain.common import (
    FINALIZE,
    MODEL,
    RUN_ID,
    fail_run,
    run_details,
    run_tags,
)

PREPROCESSED = "$.preprocess"
PRODUCTION = "$.production"
PLAN = "$.preprocess.processing"
_RUN_INPUT = {"model": MODEL, "run_id": RUN_ID, "trigger": "$.trigger", "dataset": "$.dataset"}
PROCESSING_JOB = "$.processing_job"
ADOPTION = adoption.AdoptedJob(
    kind="Processing",
    name_param="ProcessingJobName",
    status_field="ProcessingJobStatus",
    result_selector={"ProcessingJobName": "$.ProcessingJobName", "status": "$.ProcessingJobStatus"},
    result_path=PROCESSING_JOB,
    poll_seconds=PROCESSING_POLL_SECONDS,
    max_polls=PROCESSING_MAX_POLLS,
    next_state="MergeShards",
    details={"processing_job": f"{PROCESSING_JOB}.ProcessingJobName"},
)


def _processing() -> dict[str, asl.State]:
    """A drop over ProcessingThresholdBytes: a Processing job reads it, then Preprocess merges its shards."""
    return {
        "ProcessLargeDrop": asl.service_task(
            "sagemaker:createProcessingJob.sync",
            comment="One worker per instance validates, splits and profiles its shard (ShardedByS3Key). A job "
            "that fails or times out is caught into the failure notification, whose reason is the job's "
            "FailureReason: the failing shard's host and what went wrong.",
            parameters={
                "ProcessingJobName": RUN_ID,
                "RoleArn": "${SageMakerRoleArn}",
                "AppSpecification": f"{PLAN}.app_specification",
                "ProcessingInputs": f"{PLAN}.processing_inputs",
                "ProcessingOutputConfig": f"{PLAN}.processing_output_config",
                "ProcessingResources": f"{PLAN}.processing_resources",
                "StoppingCondition": f"{PLAN}.stopping_condition",
                "Tags": run_tags(),
            },
            result_selector=ADOPTION.result_selector,
            result_path=PROCESSING_JOB,
            catch=adoption.catch(ADOPTION),
            next_state="MergeShards",
        ),
        **adoption.states(ADOPTION),
        "MergeShards": functions.PREPROCESS.task(
            comment="Merge the shards' reports exactly, then accept the drop or quarantine it as Preprocess does.",
            parameters={**_RUN_INPUT, "processing": PLAN},
            result_path=PREPROCESSED,
            catch=fail_run(),
            next_state="DatasetAccepted",
        ),
    }


def states() -> dict[str, asl.State]:
    return {
        "Preprocess": functions.PREPROCESS.task(
            comment="Stream-validate the drop, write the train/validation split and statistics, or quarantine it.",
            parameters=_RUN_INPUT,
            result_path=PREPROCESSED,
            catch=fail_run(),
            next_state="DatasetAccepted",
        ),
        **_processing(),
        "DatasetAccepted": asl.choice(
            [
                asl.rule(asl.equals("$.preprocess.status", "processing"), "ProcessLargeDrop"),
                asl.rule(
                    {"And": [asl.equals("$.preprocess.status", "ok"), asl.equals("$.trigger", "schedule")]},
                    "ReadProductionModel",
                ),
                asl.rule(asl.equals("$.preprocess.status", "ok"), "Train"),
            ],
            "QuarantinedOutcome",
            comment="Only scheduled runs check for unchanged data; a data drop always retrains.",
        ),
        "ReadProductionModel": asl.service_task(
            "dynamodb:getItem",
            parameters={
                "TableName": "${HistoryTableName}",
                "Key": {
                    "pk": {"S": f"States.Format('{history_items.key_format(history.partition, 1)}', $.model)"},
                    "sk": {"S": history.CURRENT_SORT_KEY},
                },
                "ConsistentRead": True,
            },
            result_path=PRODUCTION,
            catch=fail_run(),
            next_state="HasProductionModel",
        ),
        "HasProductionModel": asl.choice(
            [asl.rule({"Variable": "$.production.Item.dataset_sha256.S", "IsPresent": True}, "DatasetUnchanged")],
            "Train",
        ),
        "DatasetUnchanged": asl.choice(
            [
                asl.rule(
                    {
                        "Variable": "$.production.Item.dataset_sha256.S",
                        "StringEqualsPath": "$.preprocess.dataset_sha256",
                    },
                    "SkippedOutcome",
                )
            ],
            "Train",
        ),
        "SkippedOutcome": outcomes.outcome(
            EventType.RETRAIN_SKIPPED,
            model=MODEL,
            reason="States.Format('nothing changed: {} has the same content (sha256 {}) as the data the production "
            "model was trained on', $.dataset.uri, $.preprocess.dataset_sha256)",
            details=run_details(),
            next_state=FINALIZE,
        ),
        "QuarantinedOutcome": outcomes.outcome(
            EventType.DATA_QUARANTINED,
            model=MODEL,
            reason="States.Format('{}: {}', $.preprocess.reason, $.preprocess.detail)",
            details=run_details(quarantine="$.preprocess.quarantine_uri"),
            next_state=FINALIZE,
        ),
    }
