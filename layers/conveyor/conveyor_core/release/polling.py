"""Every wait and poll the state machines make, in one place.

Step Functions has no ``.sync`` integration for Neo compilation, endpoint updates or weight
changes, so the state machines poll. Each poll is a state transition (billed, and counted in
docs/performance.md), so the schedules below wait for the least time a thing can take before
looking, then back off. The ASL generator (statemachines/builder) writes the fixed schedules into
the ASL; ``PlanDeployment`` computes the deployment schedule per run from the same constants.
"""

from __future__ import annotations

# ------------------------------------------------------------------ training
# Train is a .sync task, polled by Step Functions itself. Only a training job the run started but
# lost the answer for (a retried CreateTrainingJob refused as a duplicate) is polled here: every 5
# minutes, for as long as the longest job SageMaker runs (MaxRuntimeInSeconds up to 5 days).
TRAINING_POLL_SECONDS = 300
TRAINING_MAX_POLLS = 1500
# The same for a large drop's Processing job, up to its longest MaxRuntimeInSeconds (9 days).
PROCESSING_POLL_SECONDS = 300
PROCESSING_MAX_POLLS = 2600

# ------------------------------------------------------------------ Neo compilation
# A typical compilation ends within 7 minutes, so one poll usually sees it; the waits add up to
# just past the job's MaxRuntimeInSeconds, so the last poll always sees a final status.
COMPILE_MAX_RUNTIME_SECONDS = 900
COMPILE_WAITS = (420, 240, 300)

# ------------------------------------------------------------------ endpoint deployment
# Creating an endpoint provisions instances and pulls the image: typically 5-10 minutes, so the
# first look comes after 7 and an 8-minute creation is seen at the second. Looking earlier only
# costs transitions; seeing a quick creation two minutes late costs little in an hour-long run.
CREATE_BUDGET_SECONDS = 1800
CREATE_FIRST_POLL_SECONDS = 420
# Once the expected time has passed, the endpoint may be moments or minutes away.
FIRST_POLL_SECONDS = 30
FOLLOW_UP_POLL_SECONDS = 60
MAX_POLL_SECONDS = 300
# Instances come up after the update starts; the first poll lands a little after the bakes end.
ROLLOUT_POLL_SLACK_SECONDS = 30

# A Failed endpoint is deleted before it is created again; deletion takes a minute or a few.
DELETE_POLL_SECONDS = 30
DELETE_MAX_POLLS = 40

# ------------------------------------------------------------------ variant shift
# A weight change applies in seconds to a minute; 60 polls bound a step that never applies.
SHIFT_POLL_SECONDS = 30
SHIFT_MAX_POLLS = 60
# After an abort sends all traffic back, the candidate is removed once the weights have applied.
ABORT_SETTLE_SECONDS = 30

# ------------------------------------------------------------------ alarm rollback
RESTORE_POLL_SECONDS = 30
RESTORE_MAX_POLLS = 60


def poll_schedule(budget_seconds: int, first_wait_seconds: int = FIRST_POLL_SECONDS) -> list[int]:
    """Waits between DescribeEndpoint polls: the expected duration first, then doubling to 5 min.

    Nothing can finish before its known minimum, so waiting that long first turns a 20-minute
    rollout into one poll instead of seven; the doubling waits after it keep an overrun cheap
    and still noticed soon. One extra entry lets the ASL index ``attempt + 1`` safely.
    """
    waits = [first_wait_seconds]
    wait = FOLLOW_UP_POLL_SECONDS
    while sum(waits) < budget_seconds:
        waits.append(wait)
        wait = min(wait * 2, MAX_POLL_SECONDS)
    waits.append(wait)
    return waits
