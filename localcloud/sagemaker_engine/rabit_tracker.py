"""A distributed training job's Rabit tracker, in a process of its own: ``python -m ... <workers> <address file>``.

SageMaker's XGBoost containers start the tracker on their first host; offline the cloud starts it
beside the containers. It runs as a process, not a thread, because XGBoost's tracker prints the
workers' evaluation lines through the C library's stdout: in a thread they would land in the
output of whatever runs the cloud (the demo's console). Here they go to the job's log file.
The tracker's address (``dmlc_tracker_uri``, ``dmlc_tracker_port``) is written as JSON to the
address file, atomically, once it listens.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from xgboost.tracker import RabitTracker

    workers, address_file = int(argv[0]), Path(argv[1])
    tracker = RabitTracker(n_workers=workers, host_ip="127.0.0.1", port=0)
    tracker.start()
    pending = address_file.with_suffix(".tmp")
    pending.write_text(json.dumps(tracker.worker_args()), encoding="utf-8")
    os.replace(pending, address_file)
    tracker.wait_for()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
