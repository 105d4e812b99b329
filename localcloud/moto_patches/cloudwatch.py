"""CloudWatch: ``DescribeAlarms`` applies ``StateValue`` together with ``AlarmNames``.

moto applies only the first of its filters; CloudWatch applies them all. A variant shift asks for
"these alarm names, in state ALARM", and must not see alarms that are OK. Stateless: it needs no
running cloud. (Alarm evaluation is the runtime's ``localcloud.alarms``, which patches nothing.)
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.responses import CloudWatchResponse

from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_describe_alarms = original(CloudWatchResponse, "describe_alarms")


def describe_alarms(self: CloudWatchResponse) -> Any:
    result = _describe_alarms(self)
    state_value = self._get_param("StateValue")
    if state_value and (self._get_param("AlarmNames") or self._get_param("AlarmNamePrefix")):
        for kind in ("MetricAlarms", "CompositeAlarms"):
            result.result[kind] = [a for a in result.result[kind] if a.state_value == state_value]
    return result


PATCHES = PatchSet("cloudwatch", (Patch(CloudWatchResponse, "describe_alarms", describe_alarms),))
