"""A burst: 4,000 part files and a ``_SUCCESS`` marker in one folder drop (``--parts 10000`` for the old size).

Every put emits an S3 "Object Created" event, so the ingest Lambda runs once per object; part files
return at once ("part-of-folder") and only the marker starts a run. Measured on the offline cloud:
executions started, Lambda invocations, the ingest handler's warm time on the part-file path, the
wall time from the first put to the run's CreateTrainingJob call, and the size of the execution
input that carries the drop's keys (Step Functions refuses inputs above 256 KiB).

4,000 parts (5,000 until the Processing benchmark joined, 10,000 before issue 19) keep `make bench`
within 10 minutes: the offline cloud's cost per part grows with the folder (2,000 parts drain in
24 s here, 10,000 in 250 s: about 12 ms a part, then 25).

By default the run is stopped as soon as it starts: its Preprocess would read the parts back
through the offline S3 (moto, about 26 ms a part here, 4-5 minutes), a cost of the offline cloud, not
of Conveyor (``bench.preprocessing`` times the reading itself). ``--to-training`` lets it run to its
training call, made to fail fast (``cloud.faults``) as in ``arrival_latency``, and adds the wall time
to CreateTrainingJob; training and deployment are measured by ``orchestration``.

The naive approach starts one execution per object: 10,001 executions, each with its own Lambdas.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import Figure, bench_main, log, percentile, quiet_offline_cloud

NAME = "burst"
TIME_SCALE = 0.001
STEP_FUNCTIONS_INPUT_LIMIT = 256 * 1024
TARGET_INGEST_P95_MS = 50.0
UPLOAD_THREADS = 8  # `aws s3 cp --recursive` uploads with 10 threads by default
_DURATION = re.compile(r"REPORT RequestId: \S+ Duration: ([\d.]+) ms")


def _part(index: int) -> bytes:
    # Two rows per part, both classes, so the folder is a valid binary dataset of 2 x parts rows.
    return f"1,{index % 97 / 10:.1f},{index % 13}\n0,{index % 89 / 10:.1f},{index % 7}\n".encode()


def measure(parts: int, to_training: bool) -> dict[str, Any]:
    from localcloud.cloud import OfflineCloud

    quiet_offline_cloud()
    cloud = OfflineCloud(time_scale=TIME_SCALE, use_sam_build=False, run_schedules=False).start()
    results: dict[str, Any] = {"parts": parts}
    try:
        cloud.faults.fail_api("sagemaker", "CreateTrainingJob", kind="throttle")
        functions = {fn.name: fn for fn in cloud.lambdas.functions()}
        before = {name: fn.invocations for name, fn in functions.items()}
        ingest = next(fn for fn in functions.values() if "IngestFunction" in fn.name)
        s3 = cloud.client("s3")
        bucket = cloud.output("DataBucketName")
        folder = "incoming/burst-2026-11-23/"

        def put(index: int) -> None:
            s3.put_object(Bucket=bucket, Key=f"{folder}part-{index:05d}.csv", Body=_part(index))

        log(f"{NAME}: putting {parts} part files with {UPLOAD_THREADS} threads")
        first_put = time.time()
        started = time.monotonic()
        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            list(pool.map(put, range(parts)))
        results["upload_seconds"] = time.monotonic() - started
        cloud.deliveries.wait_idle(timeout=1800)
        results["ingest_drained_seconds"] = time.monotonic() - started
        part_durations = [
            float(match.group(1))
            for entry in ingest.log
            if "Init Duration" not in entry and (match := _DURATION.search(entry))
        ]
        log(f"{NAME}: parts ingested after {results['ingest_drained_seconds']:.1f} s; putting _SUCCESS")
        marker_at = time.time()
        s3.put_object(Bucket=bucket, Key=f"{folder}_SUCCESS", Body=b"")
        if not to_training:
            results.update(_started_run(cloud, marker_at))
            results["invocations"] = {name: fn.invocations - before[name] for name, fn in functions.items()}
            results["ingest_part_ms"] = part_durations
            return results
        runs = cloud.wait_for_executions(1, timeout=600)
        results["executions"] = len(cloud.executions())
        run = runs[0]
        history = cloud.history(run["executionArn"])
        state = None
        train_at = None
        for event in history:
            if "stateEnteredEventDetails" in event:
                state = event["stateEnteredEventDetails"]["name"]
            if event["type"] == "TaskScheduled" and state == "Train" and train_at is None:
                train_at = event["timestamp"].timestamp()
        started_event = history[0]["executionStartedEventDetails"]["input"]
        failure = next(
            (
                {"event": event["type"], **details}
                for event in reversed(history)
                for name, details in event.items()
                if name.endswith("EventDetails") and ("error" in details or "cause" in details)
            ),
            None,
        )
        results.update(
            run_status=run["status"],
            failure={key: str(value)[:600] for key, value in failure.items()} if failure else None,
            train_requested=train_at is not None,
            states=[e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e],
            input_bytes=len(started_event.encode()),
            dataset_keys=len(json.loads(started_event)["dataset"]["keys"]),
            dataset_key_count=json.loads(started_event)["dataset"].get("key_count", 0),
            keys_uri=json.loads(started_event)["dataset"].get("keys_uri"),
            marker_to_accepted_ms=(run["startDate"].timestamp() - marker_at) * 1000,
            marker_to_train_ms=((train_at or marker_at) - marker_at) * 1000,
            interpreter_ms=(history[0]["timestamp"].timestamp() - run["startDate"].timestamp()) * 1000,
            first_put_to_train_seconds=(train_at or time.time()) - first_put,
            first_put_to_end_seconds=run["stopDate"].timestamp() - first_put,
            in_run_lambdas=sum(1 for e in history if e["type"] == "LambdaFunctionScheduled"),
            invocations={name: fn.invocations - before[name] for name, fn in functions.items()},
            ingest_part_ms=part_durations,
        )
    finally:
        cloud.faults.clear()
        cloud.stop()
    return results


def _started_run(cloud: Any, marker_at: float) -> dict[str, Any]:
    """The drop's run as it starts, then stopped: what its Preprocess would read is moto's cost, not ours."""
    deadline = time.monotonic() + 120
    while not cloud.executions() and time.monotonic() < deadline:
        time.sleep(0.05)
    runs = cloud.executions()
    sfn = cloud.client("stepfunctions")
    described = sfn.describe_execution(executionArn=runs[0]["executionArn"])
    sfn.stop_execution(executionArn=runs[0]["executionArn"], cause="bench: measured up to its start")
    started_input = json.loads(described["input"])
    return {
        "executions": len(runs),
        "input_bytes": len(described["input"].encode()),
        "dataset_keys": len(started_input["dataset"]["keys"]),
        "dataset_key_count": started_input["dataset"].get("key_count", 0),
        "keys_uri": started_input["dataset"].get("keys_uri"),
        "marker_to_accepted_ms": (described["startDate"].timestamp() - marker_at) * 1000,
        "train_requested": None,
    }


def run(smoke: bool = False, parts: int | None = None, to_training: bool = False) -> list[Figure]:
    """4,000 part files + _SUCCESS: executions started, Lambda invocations, input size (and, asked, wall time)."""
    count = parts or (200 if smoke else 4_000)
    results = measure(count, to_training or smoke)
    objects = count + 1
    ingest_calls = sum(n for name, n in results["invocations"].items() if "IngestFunction" in name)
    lambdas = sum(results["invocations"].values())
    # A successful run invokes Preprocess, QualityGate, PlanDeployment, FinalizeRun, FormatNotification.
    naive_lambdas = objects * (1 + 5)
    part_ms = results["ingest_part_ms"]
    input_bytes = results["input_bytes"]
    # Past dataset_keys.INLINE_KEYS_MAX_BYTES the keys travel as a document in S3 (keys_uri).
    by_reference = bool(results.get("keys_uri"))
    listed = results["dataset_key_count"] if by_reference else results["dataset_keys"]
    where = f"{listed:,} keys by reference ({results.get('keys_uri')})" if by_reference else f"{listed:,} keys inline"
    figures = [
        Figure(
            NAME,
            f"executions started by {count:,} parts + _SUCCESS",
            results["executions"],
            "executions",
            naive=objects,
            naive_label="one execution per object",
            target="exactly 1",
            met=results["executions"] == 1,
            kind="count",
        ),
        Figure(
            NAME,
            "Lambda invocations (ingest per object + the run's own)",
            lambdas,
            "invocations",
            naive=naive_lambdas,
            naive_label="ingest + 5 in-run Lambdas per object",
            kind="count",
            note=f"{ingest_calls:,} ingest, {lambdas - ingest_calls} in the run "
            + (
                "(its training call fails fast here)"
                if results["train_requested"] is not None
                else "(stopped at its start)"
            ),
            details=results["invocations"],
        ),
        Figure(
            NAME,
            "_SUCCESS → StartExecution accepted (lists and checks the folder)",
            results["marker_to_accepted_ms"],
            "ms",
        ),
        Figure(
            NAME,
            f"ingest handler warm Duration on part files, p95 of {len(part_ms)}",
            percentile(part_ms, 95) if part_ms else None,
            "ms",
            target=f"≤ {TARGET_INGEST_P95_MS:g} ms",
            met=bool(part_ms) and percentile(part_ms, 95) <= TARGET_INGEST_P95_MS,
            details={"p50_ms": percentile(part_ms, 50) if part_ms else None},
        ),
        Figure(
            NAME,
            "execution input of the drop's run",
            input_bytes,
            "bytes",
            target=f"≤ {STEP_FUNCTIONS_INPUT_LIMIT:,} bytes (Step Functions limit)",
            met=input_bytes <= STEP_FUNCTIONS_INPUT_LIMIT,
            kind="size",
            note=where,
            details={"keys_by_reference": by_reference, "keys": listed},
        ),
    ]
    if results["train_requested"] is None:
        return figures
    return [
        *figures,
        Figure(
            NAME,
            "wall time, first put → the run's CreateTrainingJob call",
            results["first_put_to_train_seconds"] if results["train_requested"] else None,
            "s",
            note=(
                f"uploads {results['upload_seconds']:.1f} s, "
                f"ingest drained at {results['ingest_drained_seconds']:.1f} s"
            ),
            details={
                "marker_to_start_execution_accepted_ms": results["marker_to_accepted_ms"],
                "marker_to_train_call_ms": results["marker_to_train_ms"],
                "offline_interpreter_startup_ms": results["interpreter_ms"],
                "run_status": results["run_status"],
                "states": results["states"],
                "failure": results["failure"],
                "first_put_to_run_end_seconds": results["first_put_to_end_seconds"],
            },
        ),
        Figure(
            NAME,
            "the drop's run reached CreateTrainingJob",
            1 if results["train_requested"] else 0,
            "runs",
            target="1 (the data reaches training)",
            met=results["train_requested"],
            kind="count",
            note=(
                ""
                if results["train_requested"]
                else f"the run ended {results['run_status']} in {results['states'][-1] if results['states'] else '—'}: "
                + (
                    f"{results['failure'].get('error', '')} {results['failure'].get('cause', '')[:160]}"
                    if results["failure"]
                    else ""
                )
            ),
        ),
    ]


def _arguments(parser: Any) -> None:
    parser.add_argument("--parts", type=int, help="part files in the folder (default 4,000, smoke 200)")
    parser.add_argument(
        "--to-training",
        action="store_true",
        help="let the run read every part through the offline S3 up to CreateTrainingJob (about 4 more minutes)",
    )


def main() -> int:
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
