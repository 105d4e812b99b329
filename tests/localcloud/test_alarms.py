"""The offline cloud's CloudWatch alarm evaluator: statistics, M-of-N evaluation and state-change events.

The pure tests drive ``statistic`` and ``evaluate`` with hand-made periods; the integration tests run
the evaluator against moto's datapoints and catch the "CloudWatch Alarm State Change" events it
publishes with an EventBridge rule that targets an SQS queue.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from localcloud.alarms import AlarmEvaluator, evaluate, statistic
from localcloud.cloud import ACCOUNT_ID
from tests.localcloud import support

REGION = "us-east-1"
TIME_SCALE = 0.01
NAMESPACE = "Conveyor/AlarmTests"
METRIC = "Errors"
DIMENSIONS = [{"Name": "Service", "Value": "scoring"}]
# 6 s of wall time at the test scale: datapoints stay in the current period however busy the machine is;
# the tests pass an explicit later ``now`` to age them out instead of sleeping.
PERIOD_SECONDS = 600


# --- statistic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sum", 16.0), ("Average", 4.0), ("Minimum", 1.0), ("Maximum", 10.0), ("SampleCount", 4.0)],
)
def test_statistic_of_one_period(name: str, expected: float) -> None:
    assert statistic([3.0, 1.0, 2.0, 10.0], name) == expected


def test_sum_is_exact_over_many_small_values() -> None:
    assert statistic([0.1] * 10, "Sum") == 1.0


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("p99", [float(v) for v in range(1, 101)], 99.0),
        ("p50", [10.0, 2.0, 7.0, 4.0], 4.0),  # rank ceil(0.5 * 4) = 2 of [2, 4, 7, 10]
        ("p90", [float(v) for v in range(1, 11)], 9.0),
        ("p99", [5.0], 5.0),
        ("p0", [3.0, 1.0, 2.0], 1.0),
        ("p100", [3.0, 1.0, 2.0], 3.0),
        ("p95", [1.0] * 19 + [1000.0], 1.0),  # rank 19 of 20: the one outlier is not the p95
        ("p99", [float(v) for v in range(1, 201)], 198.0),
    ],
)
def test_percentiles_use_the_nearest_rank(name: str, values: list[float], expected: float) -> None:
    assert statistic(values, name) == expected


def test_fractional_percentile_rank_is_not_pushed_up_by_float_error() -> None:
    assert statistic([float(v) for v in range(1, 1001)], "p99.9") == 999.0


def test_unsupported_statistic_is_refused() -> None:
    with pytest.raises(ValueError, match="statistic tm99 is not supported offline"):
        statistic([1.0], "tm99")


# --- evaluate ------------------------------------------------------------------------------------


def alarm(**settings: Any) -> SimpleNamespace:
    """An alarm as moto stores it: Sum >= 1 over 3 periods, every period must breach, missing is missing."""
    defaults: dict[str, Any] = {
        "statistic": "Sum",
        "extended_statistic": None,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "threshold": 1.0,
        "evaluation_periods": 3,
        "datapoints_to_alarm": None,
        "treat_missing_data": None,
        "state_value": "OK",
    }
    return SimpleNamespace(**{**defaults, **settings})


BREACH, CALM, MISSING = [5.0], [0.0], []


@pytest.mark.parametrize(
    ("periods", "datapoints_to_alarm", "expected"),
    [
        ([BREACH, BREACH, BREACH], None, "ALARM"),
        ([BREACH, BREACH, CALM], None, "OK"),  # without DatapointsToAlarm all N periods must breach
        ([BREACH, CALM, BREACH], 2, "ALARM"),  # 2 of 3, not necessarily consecutive
        ([CALM, CALM, BREACH], 2, "OK"),
        ([CALM, BREACH, CALM], 1, "ALARM"),
    ],
)
def test_datapoints_to_alarm_is_m_out_of_n(
    periods: list[list[float]], datapoints_to_alarm: int | None, expected: str
) -> None:
    state, _, stats = evaluate(alarm(datapoints_to_alarm=datapoints_to_alarm), periods)

    assert state == expected
    assert stats == [values[0] for values in periods]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GreaterThanOrEqualToThreshold", 10.0, "ALARM"),
        ("GreaterThanOrEqualToThreshold", 9.5, "OK"),
        ("GreaterThanThreshold", 10.0, "OK"),
        ("GreaterThanThreshold", 10.5, "ALARM"),
        ("LessThanThreshold", 10.0, "OK"),
        ("LessThanThreshold", 9.5, "ALARM"),
        ("LessThanOrEqualToThreshold", 10.0, "ALARM"),
        ("LessThanOrEqualToThreshold", 10.5, "OK"),
    ],
)
def test_each_comparison_operator_including_its_boundary(operator: str, value: float, expected: str) -> None:
    watched = alarm(comparison_operator=operator, threshold=10.0, evaluation_periods=1)

    state, reason, _ = evaluate(watched, [[value]])

    assert state == expected
    assert "Threshold Crossed: " in reason


def test_the_statistic_is_applied_to_each_period_before_comparing() -> None:
    # The average, 2, does not breach 3 though one value does; a p99 alarm on the same values does.
    periods = [[1.0, 1.0, 4.0]]
    average = alarm(statistic="Average", threshold=3.0, evaluation_periods=1)
    p99 = alarm(statistic=None, extended_statistic="p99", threshold=3.0, evaluation_periods=1)

    assert evaluate(average, periods)[0] == "OK"
    assert evaluate(p99, periods)[0] == "ALARM"


@pytest.mark.parametrize(
    ("treat", "current", "expected"),
    [
        ("breaching", "OK", "ALARM"),
        ("notBreaching", "ALARM", "OK"),
        ("ignore", "ALARM", "ALARM"),
        ("ignore", "OK", "OK"),
        ("missing", "OK", "INSUFFICIENT_DATA"),
        (None, "ALARM", "INSUFFICIENT_DATA"),  # missing is the default
    ],
)
def test_treat_missing_data_when_every_period_is_missing(treat: str | None, current: str, expected: str) -> None:
    state, reason, stats = evaluate(alarm(treat_missing_data=treat, state_value=current), [MISSING] * 3)

    assert state == expected
    assert stats == []
    assert "no datapoints" in reason or "no datapoints were received" in reason


@pytest.mark.parametrize(
    ("treat", "periods", "expected"),
    [
        ("breaching", [CALM, MISSING, MISSING], "ALARM"),  # the two missing periods count as breaching
        ("breaching", [CALM, CALM, MISSING], "OK"),
        ("notBreaching", [BREACH, MISSING, BREACH], "ALARM"),
        ("notBreaching", [BREACH, MISSING, MISSING], "OK"),
        ("missing", [BREACH, BREACH, MISSING], "ALARM"),
        ("missing", [CALM, CALM, MISSING], "OK"),
        ("ignore", [BREACH, MISSING, BREACH], "ALARM"),
        ("ignore", [CALM, MISSING, CALM], "OK"),
    ],
)
def test_treat_missing_data_when_some_periods_are_missing(
    treat: str, periods: list[list[float]], expected: str
) -> None:
    state, _, _ = evaluate(alarm(treat_missing_data=treat, datapoints_to_alarm=2), periods)

    assert state == expected


def test_alarm_reason_names_the_datapoints_and_threshold() -> None:
    _, reason, _ = evaluate(alarm(datapoints_to_alarm=2), [[3.0], [1.5], [0.0]])

    assert reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints [3, 1.5, 0] were greater than or equal to the "
        "threshold (1) (minimum 2 datapoint(s) for OK -> ALARM transition)."
    )


# --- the evaluator against moto ------------------------------------------------------------------


@dataclass
class AlarmWorld:
    cloudwatch: Any
    sqs: Any
    queue_url: str
    evaluator: AlarmEvaluator

    def events(self) -> list[dict[str, Any]]:
        """Every "Alarm State Change" event the rule delivered since the last call, oldest first."""
        received: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return received

    def create_alarm(self, name: str, treat_missing_data: str = "notBreaching") -> None:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=NAMESPACE,
            MetricName=METRIC,
            Dimensions=DIMENSIONS,
            Statistic="Sum",
            Period=PERIOD_SECONDS,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData=treat_missing_data,
        )

    def put(self, value: float, dimensions: list[dict[str, str]] | None = None) -> None:
        self.cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[{"MetricName": METRIC, "Dimensions": dimensions or DIMENSIONS, "Value": value}],
        )

    def state(self, name: str) -> dict[str, Any]:
        [described] = self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return described


def after_the_data_ages_out() -> dt.datetime:
    """A moment more than one evaluation period after now, on the test's time scale."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PERIOD_SECONDS * TIME_SCALE * 2)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlarmWorld]:
    # A runtime of its own, with the evaluator idle: the tests call evaluate_all() themselves. Built
    # first: activating it swaps os.environ for the runtime's overlay, which monkeypatch then edits.
    with support.offline_cloud(monkeypatch, REGION, time_scale=TIME_SCALE) as runtime:
        sqs = support.client("sqs", REGION)
        events = support.client("events", REGION)
        queue_url = sqs.create_queue(QueueName="alarm-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="alarm-state-changes",
            EventPattern=json.dumps({"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}),
        )
        events.put_targets(Rule="alarm-state-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])
        yield AlarmWorld(support.client("cloudwatch", REGION), sqs, queue_url, runtime.alarms)


def test_breaching_data_raises_the_alarm_and_publishes_the_state_change(world: AlarmWorld) -> None:
    world.create_alarm("errors-high")
    world.put(5.0)

    transitions = world.evaluator.evaluate_all()

    assert transitions == [("errors-high", "OK", "ALARM")]
    described = world.state("errors-high")
    assert described["StateValue"] == "ALARM"
    assert described["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [5]")
    [event] = world.events()
    assert event["source"] == "aws.cloudwatch"
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    assert event["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:errors-high"]
    assert event["detail"]["alarmName"] == "errors-high"
    assert event["detail"]["state"]["value"] == "ALARM"
    assert event["detail"]["previousState"]["value"] == "OK"
    metric = event["detail"]["configuration"]["metrics"][0]["metricStat"]
    assert metric["metric"] == {"namespace": NAMESPACE, "name": METRIC, "dimensions": {"Service": "scoring"}}
    assert (metric["period"], metric["stat"]) == (PERIOD_SECONDS, "Sum")


def test_an_unchanged_evaluation_publishes_nothing_more(world: AlarmWorld) -> None:
    world.create_alarm("errors-high")
    world.put(5.0)
    world.evaluator.evaluate_all()
    world.events()

    assert world.evaluator.evaluate_all() == []
    assert world.events() == []


def test_when_the_data_stops_a_not_breaching_alarm_returns_to_ok(world: AlarmWorld) -> None:
    world.create_alarm("errors-high", treat_missing_data="notBreaching")
    world.put(5.0)
    world.evaluator.evaluate_all()

    transitions = world.evaluator.evaluate_all(now=after_the_data_ages_out())

    assert transitions == [("errors-high", "ALARM", "OK")]
    assert world.state("errors-high")["StateValue"] == "OK"
    raised, cleared = world.events()
    assert (raised["detail"]["state"]["value"], raised["detail"]["previousState"]["value"]) == ("ALARM", "OK")
    assert (cleared["detail"]["state"]["value"], cleared["detail"]["previousState"]["value"]) == ("OK", "ALARM")
    assert cleared["detail"]["alarmName"] == "errors-high"
    assert "missing data is treated as not breaching" in cleared["detail"]["state"]["reason"]


def test_when_the_data_stops_an_ignoring_alarm_keeps_its_state(world: AlarmWorld) -> None:
    world.create_alarm("errors-high", treat_missing_data="ignore")
    world.put(5.0)
    world.evaluator.evaluate_all()

    assert world.evaluator.evaluate_all(now=after_the_data_ages_out()) == []
    assert world.state("errors-high")["StateValue"] == "ALARM"


def test_data_below_the_threshold_or_on_other_dimensions_does_not_raise_the_alarm(world: AlarmWorld) -> None:
    world.create_alarm("errors-high")
    world.put(0.0)
    world.put(50.0, dimensions=[{"Name": "Service", "Value": "another-service"}])

    assert world.evaluator.evaluate_all() == []
    assert world.state("errors-high")["StateValue"] == "OK"
    assert world.events() == []


def test_a_hand_set_alarm_holds_while_the_evaluation_is_unchanged(world: AlarmWorld) -> None:
    world.create_alarm("errors-high", treat_missing_data="notBreaching")
    assert world.evaluator.evaluate_all() == []  # no data: evaluates OK, as the alarm already is

    world.cloudwatch.set_alarm_state(AlarmName="errors-high", StateValue="ALARM", StateReason="forced by a test")
    held = [world.evaluator.evaluate_all(now=after_the_data_ages_out()) for _ in range(3)]

    # CloudWatch would put it back to OK at the next period; offline it holds (a documented difference).
    assert held == [[], [], []]
    assert world.state("errors-high")["StateValue"] == "ALARM"
    assert world.state("errors-high")["StateReason"] == "forced by a test"
    assert world.events() == []

    # Once the metrics change the evaluation (breach, then clear), the evaluator takes over again.
    world.put(5.0)
    assert world.evaluator.evaluate_all() == []  # evaluates ALARM, which it already is
    assert world.evaluator.evaluate_all(now=after_the_data_ages_out()) == [("errors-high", "ALARM", "OK")]
    assert [event["detail"]["state"]["value"] for event in world.events()] == ["OK"]


def test_a_hand_set_alarm_survives_its_first_evaluation(world: AlarmWorld) -> None:
    world.create_alarm("errors-high", treat_missing_data="notBreaching")
    world.cloudwatch.set_alarm_state(AlarmName="errors-high", StateValue="ALARM", StateReason="forced by a test")

    assert world.evaluator.evaluate_all() == []
    assert world.state("errors-high")["StateValue"] == "ALARM"
