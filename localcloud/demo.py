"""`make demo`: Conveyor's data-arrival flow on the offline cloud, shown step by step.

A real dataset lands in S3; the template's rule starts the real state machine; the model is
trained, gated, registered, compiled and deployed; then a noisier dataset is rejected by the gate.
Every SNS notification is printed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from localcloud.cloud import OfflineCloud
from localcloud.datasets import breast_cancer_csv

console = Console()
# The ASL interpreter logs every IsPresent probe of an absent field at ERROR; it is not an error.
logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)


def _show_run(cloud: OfflineCloud, run: dict[str, Any], started: float) -> list[str]:
    states = cloud.states_entered(run["executionArn"])
    console.print(
        f"  execution [bold]{run['name']}[/] {run['status']} in {time.monotonic() - started:.1f}s, {len(states)} states"
    )
    console.print("  path: " + " → ".join(dict.fromkeys(states)), style="dim")
    return states


def _show_notifications(cloud: OfflineCloud, already: int) -> int:
    notes = cloud.notifications()
    for note in notes[already:]:
        colour = {"info": "green", "warning": "yellow", "error": "red"}.get(
            note.attributes.get("severity", ""), "white"
        )
        console.print(f"  [{colour}]SNS[/] {note.subject}")
        console.print(f"      event={note.event} reason={note.body.get('reason', '')[:160]}", style="dim")
    return len(notes)


def main() -> None:
    overall = time.monotonic()
    console.rule("[bold]Conveyor offline demo")
    with console.status("starting the offline cloud and deploying template.yaml ..."):
        cloud = OfflineCloud(time_scale=0.01).start()
    console.print(f"deployed stack [bold]{cloud.stack_name}[/]: data bucket {cloud.output('DataBucketName')}")
    rows: list[tuple[str, str, str, int, float]] = []
    seen = 0
    try:
        steps = [
            ("1. a dataset lands", "incoming/breast-cancer.csv", breast_cancer_csv()),
            (
                "2. a noisier dataset lands",
                "incoming/breast-cancer-noisy.csv",
                breast_cancer_csv(label_noise=0.3, seed=3),
            ),
        ]
        for index, (title, key, body) in enumerate(steps, start=1):
            console.rule(title)
            started = time.monotonic()
            console.print(f"  upload s3://{cloud.output('DataBucketName')}/{key} ({len(body) / 1024:.0f} KiB)")
            cloud.upload(key, body)
            with console.status("  running the retrain state machine ..."):
                run = cloud.wait_for_executions(index, timeout=300)[-1]
            states = _show_run(cloud, run, started)
            seen = _show_notifications(cloud, seen)
            rows.append(
                (title, run["status"], cloud.notifications()[-1].event, len(states), time.monotonic() - started)
            )
        endpoint = cloud.client("sagemaker").describe_endpoint(EndpointName=cloud.output("EndpointName"))
        console.print(
            f"\nendpoint {endpoint['EndpointName']} is {endpoint['EndpointStatus']} on {endpoint['EndpointConfigName']}"
        )
    finally:
        cloud.stop()
    table = Table(title="Summary")
    for column in ("step", "execution", "outcome", "state transitions", "seconds"):
        table.add_column(column)
    for title, status, outcome, transitions, seconds in rows:
        table.add_row(title, status, outcome, str(transitions), f"{seconds:.1f}")
    console.print(table)
    console.print(f"total {time.monotonic() - overall:.1f}s")


if __name__ == "__main__":
    main()
