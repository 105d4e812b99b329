"""What CloudWatch does with an alarm's actions when its state changes: publish to SNS, as itself.

moto stores ``AlarmActions``, ``OKActions`` and ``InsufficientDataActions`` but never runs them.
CloudWatch publishes to a topic as ``cloudwatch.amazonaws.com``, so the topic's policy must allow
that principal ``sns:Publish`` and, for a topic encrypted with a customer managed key, the key's
policy must allow it ``kms:Decrypt`` and ``kms:GenerateDataKey*``
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
When either is missing, CloudWatch drops the notification and records the failed action; offline
the publish is refused the same way, logged and kept in ``AlarmActions.failures``.

Actions other than SNS topics (Auto Scaling, EC2, Systems Manager, Lambda) are not run offline, and
say so in the log instead of passing silently.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from moto.utilities.arns import parse_arn

from localcloud.iam.actions import Authorization
from localcloud.iam.lookups import MotoResources

LOG = logging.getLogger("localcloud.alarms")

_ACTIONS_BY_STATE = {"ALARM": "alarm_actions", "OK": "ok_actions", "INSUFFICIENT_DATA": "insufficient_data_actions"}
# SNS refuses a subject longer than 100 characters; CloudWatch's own subjects are cut to fit.
_SUBJECT_LIMIT = 100


@functools.cache
def region_description(region: str) -> str:
    """The region's long name ("US East (N. Virginia)"), as CloudWatch writes it in a subject."""
    import botocore.loaders

    for partition in botocore.loaders.Loader().load_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return str(partition["regions"][region].get("description", region))
    return region


def _timestamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


def alarm_message(alarm: Any, account_id: str, region: str, old_state: str, now: dt.datetime) -> dict[str, Any]:
    """The JSON document CloudWatch publishes for a metric alarm's state change."""
    trigger: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
        "Statistic": alarm.extended_statistic or str(alarm.statistic or "").upper(),
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": int(alarm.period),
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": _timestamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _timestamp(now),
        "Region": region_description(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions or []),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger,
    }


def alarm_subject(alarm: Any, region: str) -> str:
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_description(region)}'
    return subject if len(subject) <= _SUBJECT_LIMIT else subject[: _SUBJECT_LIMIT - 3] + "..."


@dataclass
class AlarmActions:
    """Runs a changed alarm's actions; ``deliveries`` (localcloud.eventbridge) decides permissions."""

    deliveries: Any = None
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (alarm, action, why)
    published: int = 0

    def run(self, alarm: Any, account_id: str, region: str, old_state: str, now: dt.datetime) -> None:
        if not alarm.actions_enabled:
            return
        for action in getattr(alarm, _ACTIONS_BY_STATE.get(alarm.state_value, ""), None) or []:
            if parse_arn(action).service != "sns":
                LOG.warning("alarm %s: action %s is not run offline (only SNS topics are)", alarm.name, action)
                continue
            self._publish(alarm, action, account_id, region, old_state, now)

    def _publish(self, alarm: Any, topic_arn: str, account_id: str, region: str, old: str, now: dt.datetime) -> None:
        from moto.sns.models import sns_backends

        topic = parse_arn(topic_arn)
        grants = [Authorization("sns:Publish", topic_arn)]
        key = MotoResources(topic.account, topic.region).topic_kms_key(topic_arn)
        if key:
            grants += [Authorization(action, key) for action in ("kms:GenerateDataKey", "kms:Decrypt")]
        refused = self.deliveries.service_refusal("cloudwatch", alarm.alarm_arn, grants) if self.deliveries else None
        if refused is not None:
            # CloudWatch records a failed action in the alarm's history; nobody receives anything.
            LOG.warning("alarm %s: failed to execute action %s: %s", alarm.name, topic_arn, refused.message)
            self.failures.append((alarm.name, topic_arn, refused.message))
            return
        message = json.dumps(alarm_message(alarm, account_id, region, old, now))
        sns_backends[topic.account][topic.region].publish(message, arn=topic_arn, subject=alarm_subject(alarm, region))
        self.published += 1
