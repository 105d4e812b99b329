"""Step Functions' "Execution Status Change" events, which moto does not emit.

Step Functions puts one on the default bus whenever a Standard execution starts or ends.
Conveyor's WatchRunsFunction listens for the ends that no ``Catch`` reported, so the offline
cloud has to produce them too: when an execution's worker terminates, its final status is put on
the local default bus and routed by the template's rules like any other AWS event
(``moto_patches/stepfunctions.py`` calls ``announce`` when moto's worker reports the end). The
same moment puts the ``AWS/States`` metrics of the ended execution and of its tasks
(``service_metrics.execution_ended``).
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from localcloud import service_metrics

LOG = logging.getLogger(__name__)
DETAIL_TYPE = "Step Functions Execution Status Change"


def _epoch_millis(value: Any) -> int | None:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return None


def status_change_entry(execution: Any) -> dict[str, Any]:
    """The event as Step Functions shapes it (no error or cause: readers call DescribeExecution)."""
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": execution.exec_status.value,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": _epoch_millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(execution.output) if execution.output is not None else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True},
    }
    return {
        "Source": "aws.states",
        "DetailType": DETAIL_TYPE,
        "Resources": [execution.exec_arn],
        "Detail": json.dumps(detail),
        "EventBusName": "default",
    }


def announce(execution: Any) -> None:
    """Put the ended execution's status change on its account's default bus (best effort, as on AWS),
    and the metrics Step Functions publishes when an execution ends (``localcloud/service_metrics.py``)."""
    from moto.events.models import events_backends

    service_metrics.execution_ended(execution)

    try:
        events_backends[execution.account_id][execution.region_name].put_events([status_change_entry(execution)])
    except Exception:
        # Like the real service, delivery is best effort; a lost event must not fail the execution.
        LOG.exception("could not put the status change of %s", execution.exec_arn)
