"""The plumbing around an A/B test or bandit: its deployment plan, its outcome join and its history records.

``plan_deployment`` turns an experiment into a one-step variant shift; ``outcomes.join`` joins the
captured requests of both variants (read from SageMaker data-capture lines) to Model Monitor
ground-truth lines; ``ExperimentRecord`` is the run's item in the history table (moto DynamoDB).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from pydantic import ValidationError

from conveyor_core.experiments import outcomes
from conveyor_core.experiments.arms import Arm
from conveyor_core.monitoring import capture, quality
from conveyor_core.release import history
from conveyor_core.release.deployment import (
    CANDIDATE_VARIANT,
    MAX_EXPERIMENT_EVALUATIONS,
    InfeasibleRolloutError,
    ServingEndpoint,
    plan_deployment,
)
from conveyor_core.release.history import (
    EXPERIMENT_PREFIX,
    DeploymentStatus,
    ExperimentRecord,
    deployment_sort_key,
    experiment_sort_key,
    partition,
)
from conveyor_core.shared.settings import DeploymentSettings
from localcloud.template import load_template
from tests.unit.monitor_records import capture_line, truth_line

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "churn-0123456789abcdef01234567"
PRODUCTION_MODEL = "churn-fedcba9876543210fedcba98"
SERVING = ServingEndpoint("InService", "old-cfg", production_model=PRODUCTION_MODEL, instance_type="ml.m5.large")
MODEL = "churn"
TABLE = "conveyor-test-history"
PRODUCTION = "primary"


def make_settings(**overrides: Any) -> DeploymentSettings:
    values: dict[str, Any] = {
        "MODEL_NAME": MODEL,
        "ENDPOINT_NAME": "churn-endpoint",
        "DATA_CAPTURE_URI": "s3://churn-artifacts/capture",
        "ENDPOINT_INSTANCE_TYPE": "ml.m5.large",
        "ENDPOINT_INSTANCE_COUNT": 2,
        "VARIANT_NAME": PRODUCTION,
        "DEPLOYMENT_STRATEGY": "ab-test",
        "AB_TRAFFIC_PERCENT": 30,
        "EXPERIMENT_INTERVAL_SECONDS": 900,
        "AB_MAX_DURATION_SECONDS": 3 * 86_400,  # 288 evaluations
        "BAKE_SECONDS": 300,
        "ROLLBACK_ALARMS": "churn-5xx,churn-latency",
        "CANDIDATE_ALARMS": "churn-candidate-5xx",
    }
    values.update(overrides)
    return DeploymentSettings(**values)


def weights(production: float, candidate: float) -> list[dict[str, Any]]:
    return [
        {"VariantName": PRODUCTION, "DesiredWeight": production},
        {"VariantName": CANDIDATE_VARIANT, "DesiredWeight": candidate},
    ]


# --- the plan of an experiment --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "production_weight", "candidate_weight"), [("ab-test", 70.0, 30.0), ("bandit", 50.0, 50.0)]
)
def test_an_experiment_is_a_one_step_shift_at_its_first_share_baked_for_one_interval(
    strategy: str, production_weight: float, candidate_weight: float
) -> None:
    plan = plan_deployment(make_settings(DEPLOYMENT_STRATEGY=strategy), RUN_ID, SERVING)
    output = plan.as_output()

    assert plan.endpoint_exists
    assert not plan.recreate
    assert plan.strategy == output["strategy"] == strategy
    production, candidate = output["shift_variants"]
    assert (production["VariantName"], production["ModelName"]) == (PRODUCTION, PRODUCTION_MODEL)
    assert (candidate["VariantName"], candidate["ModelName"]) == (CANDIDATE_VARIANT, plan.model_name)
    assert plan.model_name != PRODUCTION_MODEL
    assert (production["InitialVariantWeight"], candidate["InitialVariantWeight"]) == (
        production_weight,
        candidate_weight,
    )
    # Both variants serve on the stack's fleet.
    for variant in (production, candidate):
        assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 2)
    assert output["shift_steps"] == [weights(production_weight, candidate_weight)]
    assert output["shift_last_step"] == 0
    assert output["shift_bake_seconds"] == 900  # the evaluation interval, not BakeTimeSeconds
    assert output["shift_abort_weights"] == weights(100.0, 0.0)
    assert output["shift_alarms"] == ["churn-5xx", "churn-latency", "churn-candidate-5xx"]
    assert output["shift_config_name"] == f"{RUN_ID}-shift"
    routing = plan.deployment_config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["Type"] == "ALL_AT_ONCE"


def test_the_ab_test_share_is_the_stacks_and_the_bandit_ignores_it() -> None:
    for share in (1, 30, 99):
        ab = plan_deployment(make_settings(AB_TRAFFIC_PERCENT=share), RUN_ID, SERVING).as_output()
        bandit = plan_deployment(
            make_settings(DEPLOYMENT_STRATEGY="bandit", AB_TRAFFIC_PERCENT=share), RUN_ID, SERVING
        ).as_output()
        assert ab["shift_steps"] == [weights(float(100 - share), float(share))]
        assert bandit["shift_steps"] == [weights(50.0, 50.0)]


def test_the_experiments_weights_are_a_valid_update_endpoint_weights_request() -> None:
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("UpdateEndpointWeightsAndCapacities")
        .input_shape
    )
    output = plan_deployment(make_settings(), RUN_ID, SERVING).as_output()
    for step in [*output["shift_steps"], output["shift_abort_weights"]]:
        report = ParamValidator().validate(
            {"EndpointName": "churn-endpoint", "DesiredWeightsAndCapacities": step}, shape
        )
        assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("strategy", ["ab-test", "bandit"])
@pytest.mark.parametrize("interval", [60, 900, 3600])
def test_more_evaluations_than_one_execution_holds_are_refused_naming_both_settings(
    strategy: str, interval: int
) -> None:
    too_long = make_settings(
        DEPLOYMENT_STRATEGY=strategy,
        EXPERIMENT_INTERVAL_SECONDS=interval,
        AB_MAX_DURATION_SECONDS=(MAX_EXPERIMENT_EVALUATIONS + 1) * interval,
    )
    with pytest.raises(InfeasibleRolloutError) as refused:
        plan_deployment(too_long, RUN_ID, SERVING)
    message = str(refused.value)
    assert "AbMaxDurationSeconds" in message
    assert "ExperimentIntervalSeconds" in message
    assert str(MAX_EXPERIMENT_EVALUATIONS + 1) in message


@pytest.mark.parametrize("strategy", ["ab-test", "bandit"])
def test_exactly_the_most_evaluations_one_execution_holds_is_accepted(strategy: str) -> None:
    assert MAX_EXPERIMENT_EVALUATIONS == 400
    settings = make_settings(
        DEPLOYMENT_STRATEGY=strategy, EXPERIMENT_INTERVAL_SECONDS=60, AB_MAX_DURATION_SECONDS=400 * 60
    )
    plan = plan_deployment(settings, RUN_ID, SERVING)
    assert plan.shift is not None
    assert plan.shift.bake_seconds == 60


@pytest.mark.parametrize("strategy", ["ab-test", "bandit"])
def test_the_first_deployment_creates_the_endpoint_instead_of_running_an_experiment(strategy: str) -> None:
    plan = plan_deployment(make_settings(DEPLOYMENT_STRATEGY=strategy), RUN_ID, None)
    output = plan.as_output()
    assert not plan.endpoint_exists
    assert plan.strategy == "create"
    assert plan.shift is None
    assert plan.deployment_config == {}
    assert not any(key.startswith("shift_") for key in output)
    [variant] = output["production_variants"]
    assert (variant["VariantName"], variant["ModelName"], variant["InitialVariantWeight"]) == (
        PRODUCTION,
        plan.model_name,
        1.0,
    )


def test_an_experiment_needs_the_production_model_to_serve_beside_the_candidate() -> None:
    with pytest.raises(ValueError, match="needs the production variant's model"):
        plan_deployment(make_settings(), RUN_ID, ServingEndpoint("InService", "old-cfg"))


def test_an_experiment_without_alarms_to_watch_is_refused() -> None:
    with pytest.raises(ValueError, match="rollback alarms"):
        plan_deployment(make_settings(ROLLBACK_ALARMS="", CANDIDATE_ALARMS=""), RUN_ID, SERVING)


# --- captured requests joined to their outcomes ---------------------------------------------------


def captured(*lines: bytes, since: datetime | None = None) -> capture.CapturedRows:
    found = capture.CapturedRows(features=3)
    capture.read_records(found, b"".join(lines), since=since)
    return found


def ground_truth(*lines: bytes) -> quality.GroundTruth:
    truth = quality.GroundTruth()
    quality.read_ground_truth(truth, b"".join(lines))
    return truth


def test_a_reward_is_the_outcome_of_the_request_of_the_variant_that_answered_it() -> None:
    production = captured(
        capture_line("p1", [0.9], "2026-12-05T10:00:01Z"),
        capture_line("p2", [0.1], "2026-12-05T10:00:02Z"),
        capture_line("p3", [0.8], "2026-12-05T10:00:03Z"),
    )
    candidate = captured(
        capture_line("c1", [0.2], "2026-12-05T10:00:04Z"),
        capture_line("c2", [0.7], "2026-12-05T10:00:05Z"),
    )
    truth = ground_truth(
        truth_line("p1", [1]),
        truth_line("p2", [0]),
        truth_line("p3", [12.5]),  # a revenue: rewards are not only 0/1
        truth_line("c1", [1]),
        truth_line("c2", [1]),
        truth_line("nobody", [1]),
    )

    joined = outcomes.join("reward", {PRODUCTION: production, CANDIDATE_VARIANT: candidate}, truth)

    # The reward is the outcome itself, whatever the request's answer was.
    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0, 0.0, 12.5])
    assert joined.arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [1.0, 1.0])
    assert (joined.unmatched_outcomes, joined.unscored, joined.unparsed_lines) == (1, 0, 0)


def test_accuracy_scores_each_rows_decision_against_its_label() -> None:
    production = captured(
        capture_line("p1", [0.9, 0.2], "2026-12-05T10:00:01Z"),  # batch of two: both right
        capture_line("p2", [0.5], "2026-12-05T10:00:02Z"),  # 0.5 is not above the threshold: a 0
        capture_line("p3", [0.51], "2026-12-05T10:00:03Z"),
    )
    candidate = captured(
        capture_line("c1", [0.6, 0.7, 0.1], "2026-12-05T10:00:04Z"),
        capture_line("c2", [0.3, 0.4], "2026-12-05T10:00:05Z"),  # two answers, one label: not scored
    )
    truth = ground_truth(
        truth_line("p1", [1, 0]),
        truth_line("p2", [1]),
        truth_line("p3", [1]),
        truth_line("c1", [1, 0, 0]),
        truth_line("c2", [0]),
        truth_line("stray-1", [1]),
        truth_line("stray-2", [0]),
    )

    joined = outcomes.join("accuracy", {PRODUCTION: production, CANDIDATE_VARIANT: candidate}, truth)

    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0, 1.0, 0.0, 1.0])
    assert joined.arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [1.0, 0.0, 1.0])
    assert joined.arms[PRODUCTION].mean == pytest.approx(0.75)
    assert joined.arms[CANDIDATE_VARIANT].mean == pytest.approx(2 / 3)
    assert (joined.unmatched_outcomes, joined.unscored) == (2, 1)


def test_labels_are_decided_at_the_threshold_too() -> None:
    # A label of 0.7 is a positive: an answer of 0.9 matches it, 0.2 does not.
    production = captured(capture_line("p1", [0.9], "2026-12-05T10:00:01Z"))
    candidate = captured(capture_line("c1", [0.2], "2026-12-05T10:00:01Z"))
    truth = ground_truth(truth_line("p1", [0.7]), truth_line("c1", [0.7]))
    joined = outcomes.join("accuracy", {PRODUCTION: production, CANDIDATE_VARIANT: candidate}, truth)
    assert (joined.arms[PRODUCTION].total, joined.arms[CANDIDATE_VARIANT].total) == (1.0, 0.0)
    assert (joined.arms[PRODUCTION].n, joined.arms[CANDIDATE_VARIANT].n) == (1, 1)


@pytest.mark.parametrize("metric", ["reward", "accuracy"])
def test_both_arms_are_there_even_without_a_single_outcome(metric: outcomes.AbMetric) -> None:
    production = captured(capture_line("p1", [0.9], "2026-12-05T10:00:01Z"))
    empty = captured()
    truth = ground_truth(truth_line("elsewhere", [1]))

    joined = outcomes.join(metric, {PRODUCTION: production, CANDIDATE_VARIANT: empty}, truth)

    assert set(joined.arms) == {PRODUCTION, CANDIDATE_VARIANT}
    assert joined.arms[PRODUCTION] == Arm(PRODUCTION)
    assert joined.arms[CANDIDATE_VARIANT] == Arm(CANDIDATE_VARIANT)
    assert joined.arms[CANDIDATE_VARIANT].as_dict() == {"variant": CANDIDATE_VARIANT, "n": 0, "mean": None}
    assert joined.unmatched_outcomes == 1


def test_without_an_inference_id_the_event_id_joins_and_broken_outcome_lines_are_counted() -> None:
    production = captured(capture_line(None, [0.9], "2026-12-05T10:00:01Z", event="evt-7"))
    candidate = captured(capture_line("c1", [0.9], "2026-12-05T10:00:01Z"))
    truth = ground_truth(
        truth_line("evt-7", [1]),
        truth_line("c1", [0]),
        b"{not json\n",
        json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {}}).encode() + b"\n",
    )

    joined = outcomes.join("accuracy", {PRODUCTION: production, CANDIDATE_VARIANT: candidate}, truth)

    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0])
    assert joined.arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [0.0])
    assert joined.unparsed_lines == 2


def test_the_first_time_is_the_earliest_kept_inference_and_since_leaves_earlier_requests_out() -> None:
    lines = (
        capture_line("late", [0.9], "2026-12-05T10:30:00Z"),
        capture_line("early", [0.1], "2026-12-05T09:15:00Z"),
        capture_line("middle", [0.8], "2026-12-05T10:00:00Z"),
    )
    everything = captured(*lines)
    assert everything.first_time == datetime(2026, 12, 5, 9, 15, tzinfo=UTC)
    assert set(everything.predictions) == {"late", "early", "middle"}
    assert (everything.records, everything.rows) == (3, 3)
    assert everything.predictions["early"] == [0.1]

    since = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    recent = captured(*lines, since=since)
    # A record at exactly ``since`` is kept; one before it is left out, answers and rows alike.
    assert recent.first_time == since
    assert set(recent.predictions) == {"late", "middle"}
    assert (recent.records, recent.rows) == (2, 2)

    truth = ground_truth(truth_line("early", [1]), truth_line("middle", [1]))
    joined = outcomes.join("reward", {PRODUCTION: recent, CANDIDATE_VARIANT: captured()}, truth)
    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0])
    assert joined.unmatched_outcomes == 1


# --- the experiment's history record ---------------------------------------------------------------


def experiment(run_id: str, started_at: str, **changes: Any) -> ExperimentRecord:
    fields: dict[str, Any] = {
        "pk": partition(MODEL),
        "sk": experiment_sort_key(run_id),
        "run_id": run_id,
        "strategy": "ab-test",
        "endpoint": "churn-endpoint",
        "state": "running",
        "reason": "ab-test: fewer than 100 outcomes per variant",
        "started_at": started_at,
        "evaluated_at": started_at.replace("T10", "T11"),
        "evaluations": 3,
        "candidate_share": 0.3,
        "production_n": 140,
        "candidate_n": 61,
        "production_mean": 0.125,
        "candidate_mean": 0.1875,
        "effect": 0.0625,
        "ci_low": -0.25,
        "ci_high": 0.375,
        "p_value": 0.5,
        "probability_candidate_best": None,
    }
    return ExperimentRecord(**{**fields, **changes})


def test_an_experiment_record_round_trips_through_its_typed_item() -> None:
    record = experiment("run-a", "2026-12-01T10:00:00.000Z")
    item = record.to_item()

    assert item["sk"] == {"S": "experiment#run-a"}
    assert item["state"] == {"S": "running"}
    assert item["evaluations"] == {"N": "3"}
    assert item["candidate_share"] == {"N": "0.3"}
    assert item["effect"] == {"N": "0.0625"}
    assert ExperimentRecord.from_item(item) == record
    assert ExperimentRecord.from_item(item).to_item() == item


def test_figures_that_do_not_exist_yet_are_left_out_of_the_item_and_read_back_as_none() -> None:
    figures = ("production_mean", "candidate_mean", "effect", "ci_low", "ci_high", "p_value")
    record = experiment("run-a", "2026-12-01T10:00:00.000Z", production_n=1, candidate_n=0, **dict.fromkeys(figures))
    item = record.to_item()

    for name in (*figures, "probability_candidate_best"):
        assert name not in item
    assert item["production_n"] == {"N": "1"}
    assert item["candidate_n"] == {"N": "0"}
    back = ExperimentRecord.from_item(item)
    assert back == record
    assert all(getattr(back, name) is None for name in figures)


def test_an_experiment_sort_key_starts_with_the_experiment_prefix() -> None:
    assert experiment_sort_key("run-a") == "experiment#run-a"
    assert EXPERIMENT_PREFIX == "experiment#"
    for key in (deployment_sort_key("2026-12-01T10:00:00.000Z", "run-a"), "current", "run-a", "experiment"):
        with pytest.raises(ValidationError, match="is not a ExperimentRecord sort key"):
            experiment("run-a", "2026-12-01T10:00:00.000Z", sk=key)
    with pytest.raises(ValidationError):
        experiment("run-a", "2026-12-01T10:00:00.000Z", pk="churn")
    with pytest.raises(ValidationError):
        experiment("run-a", "2026-12-01T10:00:00.000Z", state="running-late")


def test_an_experiment_item_is_not_a_deployment_record_nor_the_other_way_round() -> None:
    item = experiment("run-a", "2026-12-01T10:00:00.000Z").to_item()
    with pytest.raises(ValueError, match="status"):
        history.from_item(item)
    deployment_item = {
        **item,
        "sk": {"S": deployment_sort_key("2026-12-01T10:00:00.000Z", "run-a")},
        "status": {"S": DeploymentStatus.IN_SERVICE.value},
    }
    with pytest.raises(ValidationError):
        ExperimentRecord.from_item(deployment_item)


@pytest.fixture
def history_table(dynamodb: Any) -> str:
    """HistoryTable as template.yaml declares it."""
    template = load_template((REPO / "template.yaml").read_text())
    properties = template["Resources"]["HistoryTable"]["Properties"]
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties["BillingMode"],
    )
    return TABLE


def deployment_item(at: str, run: str) -> dict[str, Any]:
    return history.DeploymentRecord(
        pk=partition(MODEL),
        sk=deployment_sort_key(at, run),
        status=DeploymentStatus.IN_SERVICE,
        run_id=run,
        trigger="data-arrival",
        endpoint="churn-endpoint",
        endpoint_config=f"{run}-cfg",
        previous_endpoint_config="",
        model_name=run,
        model_package_arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{run}",
        metric_name="validation:auc",
        metric_value=0.91,
        dataset_uri="s3://data/incoming/a.csv",
        dataset_sha256="ab" * 32,
        compiled=False,
        strategy="ab-test",
        recorded_at=at,
    ).to_item()


def test_experiments_are_read_newest_started_first_and_kept_apart_from_deployments(
    dynamodb: Any, history_table: str
) -> None:
    # Run ids sort the other way round from their start times: the order must come from started_at.
    oldest = experiment("run-c", "2026-12-01T10:00:00.000Z", state="kept", reason="expired")
    newest = experiment("run-a", "2026-12-03T10:00:00.000Z", strategy="bandit", probability_candidate_best=0.97)
    middle = experiment("run-b", "2026-12-02T10:00:00.000Z", state="promoted", effect=None, ci_low=None)
    for record in (oldest, newest, middle):
        history.put_experiment(dynamodb, history_table, record)
    other_model = experiment("run-z", "2026-12-04T10:00:00.000Z", pk=partition("fraud"))
    history.put_experiment(dynamodb, history_table, other_model)
    dynamodb.put_item(TableName=history_table, Item=deployment_item("2026-12-02T09:00:00.000Z", "run-b"))

    assert history.experiments(dynamodb, history_table, MODEL) == [newest, middle, oldest]
    assert history.experiments(dynamodb, history_table, "fraud") == [other_model]
    assert history.experiments(dynamodb, history_table, "never-ran") == []
    [deployment] = history.deployments(dynamodb, history_table, MODEL)
    assert deployment.sk.startswith("deployment#")
    assert history.deployments(dynamodb, history_table, "fraud") == []


def test_each_evaluation_replaces_the_runs_one_experiment_item(dynamodb: Any, history_table: str) -> None:
    started = "2026-12-01T10:00:00.000Z"
    history.put_experiment(dynamodb, history_table, experiment("run-a", started, evaluations=1))
    final = experiment("run-a", started, evaluations=2, state="promoted", reason="candidate better")
    history.put_experiment(dynamodb, history_table, final)

    assert history.experiments(dynamodb, history_table, MODEL) == [final]
    item = dynamodb.get_item(
        TableName=history_table, Key={"pk": {"S": partition(MODEL)}, "sk": {"S": experiment_sort_key("run-a")}}
    )["Item"]
    assert ExperimentRecord.from_item(item) == final


def test_a_capture_time_without_a_zone_is_read_as_utc_instead_of_stopping_the_read() -> None:
    found = captured(
        capture_line("a", [0.9], "2026-12-05T10:00:00Z"),
        capture_line("b", [0.8], "2026-12-05T09:00:01"),
        since=datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
    )
    assert sorted(found.predictions) == ["a"], "09:00:01 without a zone is UTC, before since"
    assert found.first_time == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_figure_dynamodb_cannot_hold_is_refused_when_the_record_is_built(value: float) -> None:
    with pytest.raises(ValidationError):
        experiment("run-nan", "2026-12-05T10:00:00.000Z", effect=value)
