"""history.py: the deployment history's records, key scheme, DynamoDB form and queries (moto DynamoDB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from conveyor_core.release import history
from conveyor_core.release.history import (
    CURRENT_SORT_KEY,
    DEPLOYMENT_PREFIX,
    AlarmRollbackRecord,
    DeploymentRecord,
    DeploymentStatus,
    HistoryRecord,
    attribute_types,
    deployment_sort_key,
    partition,
)
from localcloud.template import load_template

REPO = Path(__file__).resolve().parents[2]
MODEL = "churn"
ENDPOINT = "churn-endpoint"
TABLE = "conveyor-test-history"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn"

# Step Functions' $$.State.EnteredTime, as the state machines write recorded_at and the sort key.
T1 = "2026-11-20T10:00:00.000Z"
T2 = "2026-11-21T10:00:00.000Z"
T3 = "2026-11-22T10:00:00.000Z"
T4 = "2026-11-23T10:00:00.000Z"
T5 = "2026-11-24T10:00:00.000Z"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def deployed(at: str, config: str, model: str = MODEL, **changes: Any) -> DeploymentRecord:
    """The record a retrain run writes once its endpoint config serves (RecordDeployment)."""
    run = f"run-{config}"
    fields: dict[str, Any] = {
        "pk": partition(model),
        "sk": deployment_sort_key(at, run),
        "status": DeploymentStatus.IN_SERVICE,
        "run_id": run,
        "trigger": "data-arrival",
        "endpoint": ENDPOINT,
        "endpoint_config": config,
        "previous_endpoint_config": "",
        "model_name": f"{config}-model",
        "model_package_arn": f"{PACKAGE}/{config}",
        "metric_name": "validation:auc",
        "metric_value": 0.9123456789,
        "dataset_uri": f"s3://data/incoming/{config}.csv",
        "dataset_sha256": "ab" * 32,
        "dataset_identity": f"data|incoming/{config}.csv|v1",
        "compiled": True,
        "strategy": "canary",
        "recorded_at": at,
    }
    return DeploymentRecord(**{**fields, **changes})


def alarm_rollback(at: str, bad: str, good: str) -> AlarmRollbackRecord:
    """The record the rollback state machine writes: rolled away from ``bad``, ``good`` restored."""
    return AlarmRollbackRecord(
        pk=partition(MODEL),
        sk=deployment_sort_key(at, f"rollback-{bad}"),
        endpoint=ENDPOINT,
        endpoint_config=bad,
        restored_config=good,
        model_package_arn=f"{PACKAGE}/{bad}",
        alarm="churn-5xx",
        recorded_at=at,
    )


# --- the key scheme ------------------------------------------------------------------------------


def test_the_partition_is_model_hash_name() -> None:
    assert partition("churn") == "model#churn"
    assert partition("fraud-v2") == "model#fraud-v2"


def test_a_deployment_sort_key_is_prefix_time_and_name() -> None:
    assert deployment_sort_key(T1, "run-1") == "deployment#2026-11-20T10:00:00.000Z#run-1"
    assert deployment_sort_key(T1, "run-1").startswith(DEPLOYMENT_PREFIX)
    assert CURRENT_SORT_KEY == "current"
    assert not CURRENT_SORT_KEY.startswith(DEPLOYMENT_PREFIX)


def test_key_builders_give_the_states_format_templates_the_state_machines_use() -> None:
    assert partition("{}") == "model#{}"
    assert deployment_sort_key("{}", "{}") == "deployment#{}#{}"


def test_sort_keys_of_later_entries_sort_later() -> None:
    keys = [deployment_sort_key(t, "run-z") for t in (T1, T2, T3)] + [deployment_sort_key(T3, "run-zz")]
    assert sorted(keys) == keys


# --- records and their DynamoDB form -------------------------------------------------------------


def test_a_deployment_record_is_the_eighteen_typed_attributes_recorddeployment_writes() -> None:
    record = deployed(T1, "cfg-a")
    assert record.to_item() == {
        "pk": s("model#churn"),
        "sk": s("deployment#2026-11-20T10:00:00.000Z#run-cfg-a"),
        "status": s("InService"),
        "run_id": s("run-cfg-a"),
        "trigger": s("data-arrival"),
        "endpoint": s(ENDPOINT),
        "endpoint_config": s("cfg-a"),
        "previous_endpoint_config": s(""),
        "model_name": s("cfg-a-model"),
        "model_package_arn": s(f"{PACKAGE}/cfg-a"),
        "metric_name": s("validation:auc"),
        "metric_value": {"N": "0.9123456789"},
        "dataset_uri": s("s3://data/incoming/cfg-a.csv"),
        "dataset_sha256": s("ab" * 32),
        "dataset_identity": s("data|incoming/cfg-a.csv|v1"),
        "compiled": {"BOOL": True},
        "strategy": s("canary"),
        "recorded_at": s(T1),
    }


def test_an_alarm_rollback_record_is_the_nine_typed_attributes_recordrollback_writes() -> None:
    assert alarm_rollback(T3, "cfg-b", "cfg-a").to_item() == {
        "pk": s("model#churn"),
        "sk": s("deployment#2026-11-22T10:00:00.000Z#rollback-cfg-b"),
        "status": s("AlarmRollback"),
        "endpoint": s(ENDPOINT),
        "endpoint_config": s("cfg-b"),
        "restored_config": s("cfg-a"),
        "model_package_arn": s(f"{PACKAGE}/cfg-b"),
        "alarm": s("churn-5xx"),
        "recorded_at": s(T3),
    }


@pytest.mark.parametrize(
    "record",
    [
        deployed(T1, "cfg-a"),
        deployed(T1, "cfg-a", status=DeploymentStatus.ROLLED_BACK, compiled=False, metric_value=0.5),
        deployed(T1, "cfg-a", sk=CURRENT_SORT_KEY),
        alarm_rollback(T3, "cfg-b", "cfg-a"),
    ],
    ids=["in-service", "rolled-back", "current", "alarm-rollback"],
)
def test_records_round_trip_through_their_item(record: DeploymentRecord | AlarmRollbackRecord) -> None:
    item = record.to_item()
    assert type(record).from_item(item) == record
    assert history.from_item(item) == record
    assert type(history.from_item(item)) is type(record)
    assert history.from_item(item).to_item() == item


def test_reading_an_item_gives_typed_values() -> None:
    record = history.from_item(deployed(T1, "cfg-a", compiled=False, metric_value=0.75).to_item())
    assert isinstance(record, DeploymentRecord)
    assert record.status is DeploymentStatus.IN_SERVICE
    assert record.metric_value == 0.75
    assert isinstance(record.metric_value, float)
    assert record.compiled is False


@pytest.mark.parametrize("text", ["0.9123456789", "1e-05", "0.5", "123.25", "-0.000123456789"])
def test_a_metric_written_with_ten_significant_digits_survives_a_round_trip_as_written(text: str) -> None:
    item = {**deployed(T1, "cfg-a").to_item(), "metric_value": {"N": text}}
    assert history.from_item(item).to_item()["metric_value"] == {"N": text}


def test_the_union_is_discriminated_by_status() -> None:
    adapter: TypeAdapter[HistoryRecord] = TypeAdapter(HistoryRecord)
    rollback = adapter.validate_python(alarm_rollback(T3, "cfg-b", "cfg-a").model_dump())
    guardrail = adapter.validate_python(deployed(T1, "cfg-a", status=DeploymentStatus.ROLLED_BACK).model_dump())
    assert isinstance(rollback, AlarmRollbackRecord)
    assert isinstance(guardrail, DeploymentRecord)
    assert guardrail.status is DeploymentStatus.ROLLED_BACK
    with pytest.raises(ValidationError):
        adapter.validate_python({**deployed(T1, "cfg-a").model_dump(), "status": "Failed"})


def test_statuses_are_the_strings_the_state_machines_write() -> None:
    assert [str(status) for status in DeploymentStatus] == ["InService", "RolledBack", "AlarmRollback"]


def test_the_current_pointer_is_the_deployment_re_keyed() -> None:
    record = deployed(T2, "cfg-b")
    pointer = record.as_current()
    assert pointer.sk == CURRENT_SORT_KEY
    assert pointer.is_current
    assert not record.is_current
    assert pointer.to_item() == {**record.to_item(), "sk": s("current")}
    assert record.sk == deployment_sort_key(T2, "run-cfg-b")


def test_records_are_frozen() -> None:
    record = deployed(T1, "cfg-a")
    with pytest.raises(ValidationError):
        record.endpoint_config = "cfg-x"  # type: ignore[misc]


# --- items written by older versions, and items that are not ours --------------------------------


def test_an_item_without_dataset_identity_reads_as_none_and_writes_back_unchanged() -> None:
    # Deployments recorded before scheduled retraining have no dataset_identity.
    item = deployed(T1, "cfg-a").to_item()
    del item["dataset_identity"]
    record = history.from_item(item)
    assert isinstance(record, DeploymentRecord)
    assert record.dataset_identity is None
    assert record.to_item() == item
    assert "dataset_identity" not in record.as_current().to_item()


def test_a_null_attribute_reads_as_absent() -> None:
    item = {**deployed(T1, "cfg-a").to_item(), "dataset_identity": {"NULL": True}}
    record = DeploymentRecord.from_item(item)
    assert record.dataset_identity is None


@pytest.mark.parametrize("name", ["endpoint_config", "recorded_at", "metric_value", "model_package_arn", "compiled"])
def test_an_item_without_an_attribute_every_version_wrote_is_refused(name: str) -> None:
    item = deployed(T1, "cfg-a").to_item()
    del item[name]
    with pytest.raises(ValidationError, match=name):
        history.from_item(item)


def test_an_alarm_rollback_without_its_restored_config_is_refused() -> None:
    item = alarm_rollback(T3, "cfg-b", "cfg-a").to_item()
    del item["restored_config"]
    with pytest.raises(ValidationError, match="restored_config"):
        history.from_item(item)


def test_an_attribute_of_the_wrong_dynamodb_type_is_refused() -> None:
    item = {**deployed(T1, "cfg-a").to_item(), "metric_value": s("0.9")}
    with pytest.raises(ValueError, match=r"metric_value must be DynamoDB type N"):
        history.from_item(item)


@pytest.mark.parametrize("status", [None, "Failed", "inservice"])
def test_an_item_with_an_unknown_status_is_refused(status: str | None) -> None:
    item = deployed(T1, "cfg-a").to_item()
    if status is None:
        del item["status"]
    else:
        item["status"] = s(status)
    with pytest.raises(ValueError, match="status"):
        history.from_item(item)


def test_a_status_the_record_type_does_not_carry_is_refused() -> None:
    with pytest.raises(ValidationError):
        DeploymentRecord.from_item(alarm_rollback(T3, "cfg-b", "cfg-a").to_item())
    with pytest.raises(ValidationError):
        AlarmRollbackRecord.from_item(deployed(T1, "cfg-a").to_item())


def test_attributes_the_records_do_not_declare_are_dropped_on_reading() -> None:
    item = {**alarm_rollback(T3, "cfg-b", "cfg-a").to_item(), "note": s("by hand")}
    assert history.from_item(item).to_item() == alarm_rollback(T3, "cfg-b", "cfg-a").to_item()


def test_keys_outside_the_scheme_are_refused() -> None:
    with pytest.raises(ValidationError, match="pk"):
        deployed(T1, "cfg-a", pk="churn")
    with pytest.raises(ValidationError, match="pk"):
        deployed(T1, "cfg-a", pk="model#")
    with pytest.raises(ValidationError, match="sk"):
        deployed(T1, "cfg-a", sk=f"note#{T1}")
    rollback = alarm_rollback(T3, "cfg-b", "cfg-a").model_dump()
    with pytest.raises(ValidationError, match="sk"):
        AlarmRollbackRecord(**{**rollback, "sk": CURRENT_SORT_KEY})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_metric_dynamodb_cannot_store_is_refused(value: float) -> None:
    with pytest.raises(ValidationError, match="metric_value"):
        deployed(T1, "cfg-a", metric_value=value)


# --- attribute_types ------------------------------------------------------------------------------


def test_attribute_types_of_a_deployment_record() -> None:
    assert attribute_types(DeploymentRecord) == {
        "pk": "S",
        "sk": "S",
        "status": "S",
        "run_id": "S",
        "trigger": "S",
        "endpoint": "S",
        "endpoint_config": "S",
        "previous_endpoint_config": "S",
        "model_name": "S",
        "model_package_arn": "S",
        "metric_name": "S",
        "metric_value": "N",
        "dataset_uri": "S",
        "dataset_sha256": "S",
        "dataset_identity": "S",
        "feature_count": "N",
        "compiled": "BOOL",
        "strategy": "S",
        "recorded_at": "S",
        "instance_type": "S",
        "target_advice": "S",
        "baseline_statistics_uri": "S",
        "baseline_constraints_uri": "S",
    }
    # In the order RecordDeployment writes them.
    assert next(iter(attribute_types(DeploymentRecord))) == "pk"
    assert list(attribute_types(DeploymentRecord))[-1] == "baseline_constraints_uri"


def test_attribute_types_of_an_alarm_rollback_record() -> None:
    assert attribute_types(AlarmRollbackRecord) == {
        "pk": "S",
        "sk": "S",
        "status": "S",
        "endpoint": "S",
        "endpoint_config": "S",
        "restored_config": "S",
        "model_package_arn": "S",
        "alarm": "S",
        "recorded_at": "S",
    }


def test_attribute_types_follow_the_annotations() -> None:
    class Sample(BaseModel):
        name: str
        count: int
        ratio: float
        flag: bool
        maybe: bool | None = None
        status: DeploymentStatus

    assert attribute_types(Sample) == {
        "name": "S",
        "count": "N",
        "ratio": "N",
        "flag": "BOOL",
        "maybe": "BOOL",
        "status": "S",
    }


def test_attribute_types_refuse_a_type_with_no_dynamodb_scalar() -> None:
    class Nested(BaseModel):
        tags: list[str]

    with pytest.raises(TypeError, match=r"Nested\.tags"):
        attribute_types(Nested)


def test_attribute_types_is_a_copy_a_caller_may_change() -> None:
    attribute_types(DeploymentRecord)["pk"] = "N"
    assert attribute_types(DeploymentRecord)["pk"] == "S"


# --- the state machines write what the records declare --------------------------------------------


def _states(document: Any) -> dict[str, dict[str, Any]]:
    """Every state of an ASL document, nested Parallel branches and Map processors included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in document.get("States", {}).items():
        found[name] = state
        for nested in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator") or {}]:
            found.update(_states(nested))
    return found


def _written_items(machine: str, state_name: str) -> list[dict[str, Any]]:
    state = _states(json.loads((REPO / "statemachines" / machine).read_text()))[state_name]
    parameters = state["Parameters"]
    puts = [t["Put"] for t in parameters["TransactItems"]] if "TransactItems" in parameters else [parameters]
    return [put["Item"] for put in puts if "Item" in put]


def _typed(item: dict[str, Any]) -> dict[str, str]:
    return {name: next(iter(value)).removesuffix(".$") for name, value in item.items()}


@pytest.mark.parametrize(
    ("machine", "state_name", "record_type", "status"),
    [
        ("retrain.asl.json", "RecordDeployment", DeploymentRecord, "InService"),
        ("retrain.asl.json", "RecordRolledBackDeployment", DeploymentRecord, "RolledBack"),
        ("rollback.asl.json", "RecordRollback", AlarmRollbackRecord, "AlarmRollback"),
    ],
)
def test_the_state_machines_write_exactly_the_records_attributes_and_keys(
    machine: str, state_name: str, record_type: type[BaseModel], status: str
) -> None:
    items = _written_items(machine, state_name)
    assert items
    for item in items:
        assert _typed(item) == attribute_types(record_type)
        assert item["status"] == s(status)
        pk = item["pk"].get("S.$") or item["pk"]["S"]
        assert f"'{partition('{}')}'" in pk or pk == partition("${ModelName}")
        sk = item["sk"].get("S.$") or item["sk"]["S"]
        assert f"'{deployment_sort_key('{}', '{}')}'" in sk or sk in (
            CURRENT_SORT_KEY,
            f"States.Format('{CURRENT_SORT_KEY}')",
        )


# --- queries against moto -------------------------------------------------------------------------


@pytest.fixture
def history_table(dynamodb: Any) -> str:
    """HistoryTable as template.yaml declares it, so the tests and the deployed table cannot drift apart."""
    template = load_template((REPO / "template.yaml").read_text())
    properties = template["Resources"]["HistoryTable"]["Properties"]
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
    )
    return TABLE


def put(dynamodb: Any, table: str, *items: dict[str, Any]) -> None:
    for item in items:
        dynamodb.put_item(TableName=table, Item=item)


class SpyClient:
    """Delegates to a DynamoDB client and records the arguments of reads and paginated queries."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **kwargs: Any) -> Any:
        self.calls.append(("get_item", kwargs))
        return self._client.get_item(**kwargs)

    def get_paginator(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        calls = self.calls

        class Recording:
            def paginate(self, **kwargs: Any) -> Any:
                calls.append((operation, kwargs))
                return paginator.paginate(**kwargs)

        return Recording()


def test_current_is_none_before_the_first_deployment(dynamodb: Any, history_table: str) -> None:
    put(dynamodb, history_table, deployed(T1, "cfg-a").to_item())  # a deployment, but no pointer
    assert history.current(dynamodb, history_table, MODEL) is None


def test_current_reads_the_models_pointer_with_a_consistent_read(dynamodb: Any, history_table: str) -> None:
    mine, theirs = deployed(T2, "cfg-b"), deployed(T3, "other-cfg", model="fraud")
    put(dynamodb, history_table, mine.to_item(), mine.as_current().to_item(), theirs.as_current().to_item())
    spy = SpyClient(dynamodb)

    found = history.current(spy, history_table, MODEL)

    assert found == mine.as_current()
    assert history.current(dynamodb, history_table, "fraud") == theirs.as_current()
    [(operation, request)] = spy.calls
    assert operation == "get_item"
    assert request["ConsistentRead"] is True
    assert request["Key"] == {"pk": s("model#churn"), "sk": s("current")}


def test_current_refuses_a_pointer_that_is_not_a_deployment(dynamodb: Any, history_table: str) -> None:
    broken = {**alarm_rollback(T3, "cfg-b", "cfg-a").to_item(), "sk": s(CURRENT_SORT_KEY)}
    put(dynamodb, history_table, broken)
    with pytest.raises(ValidationError):
        history.current(dynamodb, history_table, MODEL)


def test_deployments_are_newest_first_and_only_this_models_deployment_items(dynamodb: Any, history_table: str) -> None:
    a, b = deployed(T1, "cfg-a"), deployed(T2, "cfg-b")
    rollback, c = alarm_rollback(T3, "cfg-b", "cfg-a"), deployed(T4, "cfg-c")
    other_model = deployed(T5, "other-cfg", model="other")
    not_a_deployment = {**deployed(T5, "cfg-z").to_item(), "sk": s(f"note#{T5}")}
    # Written out of order: the order must come from the sort key, not from insertion.
    put(
        dynamodb,
        history_table,
        rollback.to_item(),
        c.to_item(),
        c.as_current().to_item(),
        a.to_item(),
        other_model.to_item(),
        not_a_deployment,
        b.to_item(),
    )

    found = history.deployments(dynamodb, history_table, MODEL)

    assert [record.sk for record in found] == [c.sk, rollback.sk, b.sk, a.sk]
    assert found == [c, rollback, b, a]
    assert [type(record) for record in found] == [
        DeploymentRecord,
        AlarmRollbackRecord,
        DeploymentRecord,
        DeploymentRecord,
    ]


def test_deployments_of_a_model_never_deployed_are_empty(dynamodb: Any, history_table: str) -> None:
    put(dynamodb, history_table, deployed(T1, "other-cfg", model="other").to_item())
    assert history.deployments(dynamodb, history_table, MODEL) == []


def test_deployments_without_deployments_ignore_the_current_pointer(dynamodb: Any, history_table: str) -> None:
    put(dynamodb, history_table, deployed(T1, "cfg-a").as_current().to_item())
    assert history.deployments(dynamodb, history_table, MODEL) == []


def test_deployments_read_with_a_consistent_query_newest_first(dynamodb: Any, history_table: str) -> None:
    spy = SpyClient(dynamodb)
    history.deployments(spy, history_table, MODEL)
    [(operation, request)] = spy.calls
    assert operation == "query"
    assert request["ConsistentRead"] is True
    assert request["ScanIndexForward"] is False
    assert request["ExpressionAttributeValues"] == {":pk": s("model#churn"), ":prefix": s("deployment#")}


def test_deployments_read_every_page(dynamodb: Any, history_table: str) -> None:
    # DynamoDB (and moto) return at most 1 MB a page: four ~300 KB items take two pages.
    records = [
        deployed(t, f"cfg-{i}", dataset_uri="s3://data/" + "x" * 300_000) for i, t in enumerate((T1, T2, T3, T4))
    ]
    put(dynamodb, history_table, *(r.to_item() for r in records))
    first_page = dynamodb.query(
        TableName=history_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": s(partition(MODEL))},
    )
    assert "LastEvaluatedKey" in first_page
    assert len(first_page["Items"]) < len(records)

    assert history.deployments(dynamodb, history_table, MODEL) == records[::-1]


def test_deployments_with_a_limit_are_the_newest_ones(dynamodb: Any, history_table: str) -> None:
    records = [deployed(t, f"cfg-{i}") for i, t in enumerate((T1, T2, T3, T4, T5))]
    put(dynamodb, history_table, *(r.to_item() for r in records))

    assert history.deployments(dynamodb, history_table, MODEL, limit=2) == [records[4], records[3]]
    assert history.deployments(dynamodb, history_table, MODEL, limit=1) == [records[4]]
    assert history.deployments(dynamodb, history_table, MODEL, limit=10) == records[::-1]


def test_a_limit_larger_than_a_page_reads_several_pages(dynamodb: Any, history_table: str) -> None:
    records = [deployed(T1, f"cfg-{i:03d}") for i in range(120)]
    put(dynamodb, history_table, *(r.to_item() for r in records))
    spy = SpyClient(dynamodb)

    found = history.deployments(spy, history_table, MODEL, limit=110)

    assert found == sorted(records, key=lambda r: r.sk, reverse=True)[:110]
    [(_, request)] = spy.calls
    assert request["PaginationConfig"] == {"MaxItems": 110, "PageSize": 100}


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(dynamodb: Any, history_table: str, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        history.deployments(dynamodb, history_table, MODEL, limit=limit)


def test_deployments_refuse_an_item_with_an_unknown_status(dynamodb: Any, history_table: str) -> None:
    put(dynamodb, history_table, {**deployed(T1, "cfg-a").to_item(), "status": s("Failed")})
    with pytest.raises(ValueError, match="Failed"):
        history.deployments(dynamodb, history_table, MODEL)
