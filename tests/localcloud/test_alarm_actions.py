"""The dead-letter alarms reach a person through CloudWatch's own publish, with no Lambda in between.

The stack's alarm evaluator runs with explicit times here: the datapoints are put as SQS would put
them (into moto's backend: PutMetricData refuses the ``AWS/`` namespaces to callers), the alarm is
evaluated at a chosen ``now``, and the message CloudWatch publishes is read from the topic.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.alarm_actions import AlarmActions, alarm_subject
from localcloud.alarms import AlarmEvaluator
from localcloud.cloud import ACCOUNT_ID, OfflineCloud

REGION = "us-east-1"


@pytest.fixture(scope="module")
def cloud() -> Iterator[OfflineCloud]:
    started = OfflineCloud(time_scale=0.01, use_sam_build=False, evaluate_alarms=False).start()
    yield started
    started.stop()


def queue_name(cloud: OfflineCloud, output: str) -> str:
    return cloud.output(output).rsplit("/", 1)[-1]


def archive_name(cloud: OfflineCloud) -> str:
    alarm = alarm_named(cloud, "-dead-letter-archive-not-empty")
    return str(alarm["Dimensions"][0]["Value"])


def alarm_named(cloud: OfflineCloud, suffix: str) -> dict[str, Any]:
    alarms = cloud.client("cloudwatch").describe_alarms()["MetricAlarms"]
    [alarm] = [a for a in alarms if a["AlarmName"].endswith(suffix)]
    return dict(alarm)


def put_depth(queue: str, value: float, when: dt.datetime, metric: str = "ApproximateNumberOfMessagesVisible") -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    datum = {
        "MetricName": metric,
        "Dimensions": [{"Name": "QueueName", "Value": queue}],
        "Value": value,
        "Timestamp": when,
        "Unit": "Count",
    }
    cloudwatch_backends[ACCOUNT_ID][REGION].put_metric_data("AWS/SQS", [datum])


def evaluate_at(cloud: OfflineCloud, evaluator: AlarmEvaluator, now: dt.datetime) -> list[tuple[str, str, str]]:
    made = evaluator.evaluate_all(now=now)
    cloud.deliveries.wait_idle(timeout=30)
    return made


def alarm_notes(cloud: OfflineCloud, name: str) -> list[Any]:
    return [n for n in cloud.notifications() if n.body.get("AlarmName") == name]


def test_a_dead_letter_unconsumed_for_ten_minutes_publishes_the_alarm_to_the_topic(cloud: OfflineCloud) -> None:
    alarm = alarm_named(cloud, "-dead-letters-unconsumed")
    evaluator = AlarmEvaluator(cloud.clock, AlarmActions(cloud.deliveries))
    period = alarm["Period"] * cloud.clock.scale
    start = dt.datetime.now(dt.UTC)
    queue = queue_name(cloud, "DeadLetterQueueUrl")
    age = "ApproximateAgeOfOldestMessage"

    put_depth(queue, 540, start, age)
    evaluate_at(cloud, evaluator, start + dt.timedelta(seconds=0.1))
    assert alarm_notes(cloud, alarm["AlarmName"]) == [], "nine minutes old is not yet an alarm"

    put_depth(queue, 600, start + dt.timedelta(seconds=period), age)
    later = start + dt.timedelta(seconds=period * 1.5)
    evaluate_at(cloud, evaluator, later)
    assert alarm_state(cloud, alarm["AlarmName"]) == "ALARM"

    [note] = alarm_notes(cloud, alarm["AlarmName"])
    assert note.event == "alarm.alarm"
    assert note.subject == alarm_subject(_moto_alarm(alarm["AlarmName"]), REGION)
    assert note.subject.startswith(f'ALARM: "{alarm["AlarmName"]}" in US East (N. Virginia)')
    assert note.body["NewStateValue"] == "ALARM"
    assert (note.body["Trigger"]["Namespace"], note.body["Trigger"]["MetricName"]) == ("AWS/SQS", age)
    assert note.body["Trigger"]["Dimensions"] == [{"value": queue, "name": "QueueName"}]
    assert "NotifyDeadLettersFunction is failing" in note.body["AlarmDescription"]

    # The queue drained: the OK action tells the same people it is over.
    evaluate_at(cloud, evaluator, start + dt.timedelta(seconds=period * 5))
    assert [n.event for n in alarm_notes(cloud, alarm["AlarmName"])] == ["alarm.alarm", "alarm.ok"]


def test_the_archive_alarm_fires_on_one_message(cloud: OfflineCloud) -> None:
    alarm = alarm_named(cloud, "-dead-letter-archive-not-empty")
    evaluator = AlarmEvaluator(cloud.clock, AlarmActions(cloud.deliveries))
    now = dt.datetime.now(dt.UTC)
    put_depth(archive_name(cloud), 1, now)
    evaluate_at(cloud, evaluator, now + dt.timedelta(seconds=0.1))
    assert [n.event for n in alarm_notes(cloud, alarm["AlarmName"])] == ["alarm.alarm"]
    evaluate_at(cloud, evaluator, now + dt.timedelta(seconds=alarm["Period"] * cloud.clock.scale * 3))


def test_without_the_topic_policys_grant_cloudwatch_cannot_publish(cloud: OfflineCloud) -> None:
    """As on AWS: a topic policy that does not name cloudwatch.amazonaws.com drops the alarm's message."""
    sns = cloud.client("sns")
    topic = cloud.output("NotificationTopicArn")
    original = sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
    policy = json.loads(original)
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "CloudWatchAlarmsOfThisStack"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy))
    try:
        alarm = alarm_named(cloud, "-dead-letter-archive-not-empty")
        actions = AlarmActions(cloud.deliveries)
        evaluator = AlarmEvaluator(cloud.clock, actions)
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        put_depth(archive_name(cloud), 4, now)
        before = len(alarm_notes(cloud, alarm["AlarmName"]))
        evaluate_at(cloud, evaluator, now + dt.timedelta(seconds=0.1))
        assert alarm_state(cloud, alarm["AlarmName"]) == "ALARM"
        assert len(alarm_notes(cloud, alarm["AlarmName"])) == before, "nothing reached the topic"
        [(name, action, why)] = actions.failures
        assert (name, action) == (alarm["AlarmName"], topic)
        assert "cloudwatch.amazonaws.com is not authorized to perform: sns:Publish" in why
    finally:
        sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=original)


def alarm_state(cloud: OfflineCloud, name: str) -> str:
    return str(cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])


def _moto_alarm(name: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT_ID][REGION].alarms[name]
