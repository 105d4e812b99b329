"""CloudWatch fidelity fixes for the offline cloud.

moto's DescribeAlarms applies only the first of its filters; CloudWatch applies them all. A
variant shift asks for "these alarm names, in state ALARM", and must not see alarms that are OK.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse

    original = CloudWatchResponse.describe_alarms

    def describe_alarms(self: CloudWatchResponse) -> Any:
        result = original(self)
        state_value = self._get_param("StateValue")
        if state_value and (self._get_param("AlarmNames") or self._get_param("AlarmNamePrefix")):
            for kind in ("MetricAlarms", "CompositeAlarms"):
                result.result[kind] = [a for a in result.result[kind] if a.state_value == state_value]
        return result

    if not getattr(CloudWatchResponse.describe_alarms, "_localcloud", False):
        describe_alarms._localcloud = True  # type: ignore[attr-defined]
        CloudWatchResponse.describe_alarms = describe_alarms  # type: ignore[method-assign]
