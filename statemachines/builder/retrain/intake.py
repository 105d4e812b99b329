"""Intake: validate the drop, and for a scheduled run, skip data the production model already saw."""

from __future__ import annotations

from conveyor_core.release import history
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, history_items, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run, run_details

PREPROCESSED = "$.preprocess"
PRODUCTION = "$.production"


def states() -> dict[str, asl.State]:
    return {
        "Preprocess": functions.PREPROCESS.task(
            comment="Stream-validate the drop, write the train/validation split and statistics, or quarantine it.",
            parameters={"model": MODEL, "run_id": "$.run_id", "trigger": "$.trigger", "dataset": "$.dataset"},
            result_path=PREPROCESSED,
            catch=fail_run(),
            next_state="DatasetAccepted",
        ),
        "DatasetAccepted": asl.choice(
            [
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
