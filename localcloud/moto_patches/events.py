"""EventBridge: rules deliver to Lambda functions and state machines, which moto cannot.

``Rule.send_to_targets`` hands those targets to the running cloud's deliveries
(``localcloud.eventbridge.Deliveries``: asynchronous, with ``Input``/``InputPath``/
``InputTransformer``, retry policies and dead-letter queues) and leaves every other target to moto.
Disabled rules deliver nothing (moto's S3 path offers every event to every rule).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.events.models import Rule

from localcloud import eventbridge, runtime
from localcloud.moto_patches import Patch, PatchSet, original, require_pinned_moto

require_pinned_moto()

_send_to_targets = original(Rule, "send_to_targets")


def send_to_targets(self: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
    if self.state != "ENABLED" or not self.event_pattern.matches_event(original_event):
        return
    ours = [target for target in self.targets if eventbridge.is_runtime_target(target)]
    others = [target for target in self.targets if not eventbridge.is_runtime_target(target)]
    if ours:
        cloud = runtime.current(f"rule {self.name}'s Lambda or Step Functions target")
        cloud.deliveries.route(self.arn, ours, original_event)
    if others:
        clone = copy.copy(self)
        clone.targets = others
        _send_to_targets(clone, original_event, transform_input)


PATCHES = PatchSet("events", (Patch(Rule, "send_to_targets", send_to_targets),))
