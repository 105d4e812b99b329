"""Reading HistoryTable: pk ``model#<model>``, sk ``current`` or ``deployment#<time>#<run>``."""

from __future__ import annotations

from typing import Any

from conveyor_cli.target import Target
from conveyor_cli.views import HistoryRecord
from conveyor_core.release.history import CURRENT_SORT_KEY, history_partition

DEPLOYMENT_PREFIX = "deployment#"


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    # Only the scalar types the state machines write; anything else is not part of the layout.
    plain: dict[str, Any] = {}
    for name, typed in item.items():
        if "S" in typed:
            plain[name] = typed["S"]
        elif "N" in typed:
            plain[name] = float(typed["N"])
        elif "BOOL" in typed:
            plain[name] = bool(typed["BOOL"])
    return plain


def current(target: Target) -> HistoryRecord | None:
    item = (
        target.client("dynamodb")
        .get_item(
            TableName=target.outputs.history_table_name,
            Key={"pk": {"S": history_partition(target.model_name)}, "sk": {"S": CURRENT_SORT_KEY}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return HistoryRecord.model_validate(_plain(item)) if item else None


def deployments(target: Target, limit: int) -> list[HistoryRecord]:
    """The newest ``limit`` deployment and rollback records, newest first."""
    records: list[HistoryRecord] = []
    paginator = target.client("dynamodb").get_paginator("query")
    for page in paginator.paginate(
        TableName=target.outputs.history_table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": history_partition(target.model_name)},
            ":prefix": {"S": DEPLOYMENT_PREFIX},
        },
        # The sort key starts with the ISO time, so descending key order is newest first.
        ScanIndexForward=False,
        PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 100)},
    ):
        records.extend(HistoryRecord.model_validate(_plain(item)) for item in page.get("Items", []))
    return records[:limit]
