"""Large drops on SageMaker Processing: shard workers and the merge, against one pass and against pandas.

A drop of ``--parts`` CSV parts totalling ``--size`` bytes (label + 20 features, binary label, the
built-in XGBoost contract; 200 MB in 8 parts by default, 4 MB in 4 with ``--smoke``) is generated in
a temporary folder on local disk, and the same files go through three paths in one run:

* single pass: the Lambda path's code (``DatasetValidator.consume_blocks`` over every part in key
  order, then ``finish``), in one child process, writing the split to two local files. The time is
  the work's own (imports excluded).
* Processing, with 1 and with 2 instances, as the offline cloud runs the job: one
  ``python -m conveyor_core.intake.shard_worker`` process per instance, all started at once, each
  given its share of the parts (``objects[i::n]``, hard-linked into its data folder beforehand and
  not timed), its own ``resourceconfig.json`` (``algo-1``...) and output folder. The workers' wall
  time counts from the first start to the last exit, so it includes process start and imports, as
  a real job pays them. The merge (read the shard reports, ``ShardReport.from_json``,
  ``merge_reports``, ``check_complete``) is timed on its own, in this process, imports excluded.
* naive: ``pandas.read_csv`` of every part (``header=None``, concatenated) and
  ``sklearn.model_selection.train_test_split`` in one child process (no validation, no statistics,
  nothing written back: a lower bound of the hand-written job), imports excluded.

Peak RSS of every child comes from ``os.wait4``. The figures only mean something if the paths agree,
so the benchmark fails unless the merged report's rows, train rows, validation rows, label counts and
row sample equal the single pass's, and the train and validation parts, concatenated in key order,
equal the single pass's files byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Figure, bench_main, log
from bench.preprocessing import TARGET_RSS_MB, generate_csv, pandas_available, parse_size, size_label

NAME = "processing"
FULL_SIZE = "200MB"
FULL_PARTS = 8
SMOKE_SIZE = "4MB"
SMOKE_PARTS = 4
INSTANCE_COUNTS = (1, 2)
PREFIX = "incoming/bench-drop/"
VALIDATION_FRACTION = 0.2
OBJECTIVE = "binary:logistic"
# Two instances on two cores: what counts as scaling once process start and the merge are paid.
TARGET_SPEEDUP = 1.5
WORKER_TIMEOUT_SECONDS = 600


def part_name(index: int) -> str:
    return f"part-{index:05d}.csv"


# --------------------------------------------------------------------------- child processes


def _sample_digest(entries: Iterable[tuple[int, bytes]]) -> str:
    digest = hashlib.sha256()
    for crc, line in entries:
        digest.update(f"{crc}:".encode() + line)
    return digest.hexdigest()


def _work_single(parts: list[Path], output: Path) -> dict[str, Any]:
    import conveyor_core.intake.piece_parser  # noqa: F401  (imports excluded, as for pandas below)
    from conveyor_core.families.xgboost import FAMILY as XGBOOST
    from conveyor_core.intake import s3_io
    from conveyor_core.intake.csv_dataset import DatasetValidator

    task = XGBOOST.label_task({"objective": OBJECTIVE})
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (output / "train.csv").open("wb") as train, (output / "validation.csv").open("wb") as validation:
        validator = DatasetValidator(train, validation, task, VALIDATION_FRACTION)
        for path in parts:
            key = PREFIX + path.name
            with path.open("rb") as stream:
                validator.consume_blocks(key, s3_io.iter_file_blocks(stream, key))
        report = validator.finish()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": report.rows,
        "train_rows": report.train_rows,
        "validation_rows": report.validation_rows,
        "bytes_read": report.bytes_read,
        "label_counts": report.label_counts,
        "sample": _sample_digest(report.sample.entries()),
    }


def _work_pandas(parts: list[Path]) -> dict[str, Any]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    frame = pd.concat([pd.read_csv(path, header=None) for path in parts], ignore_index=True)
    features, labels = frame.iloc[:, 1:], frame.iloc[:, 0]
    train_x, validation_x, _, _ = train_test_split(features, labels, test_size=VALIDATION_FRACTION, random_state=0)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "train_rows": len(train_x), "validation_rows": len(validation_x)}


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["single", "pandas"], required=True)
    parser.add_argument("--drop-dir", type=Path, required=True, help="the folder of the drop's parts")
    parser.add_argument("--out", type=Path, help="where the single pass writes its split")
    args = parser.parse_args(argv)
    parts = sorted(args.drop_dir.iterdir())
    result = _work_single(parts, args.out) if args.worker == "single" else _work_pandas(parts)
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- parent


def child_env() -> dict[str, str]:
    """This checkout's packages first, whatever an editable install elsewhere points at."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT / "layers" / "conveyor"), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    )
    return env


def reap(process: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Wait for a child; its exit code and its own peak RSS in MB (ru_maxrss is KiB on Linux)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024 / 1e6


def run_child(python: str, worker: str, *options: str) -> dict[str, Any]:
    """Run one ``--worker`` of this module; its JSON answer plus its peak RSS (MB) and wall seconds."""
    command = [python, "-m", "bench.processing", "--worker", worker, *options]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env(), stdout=out, stderr=err)
        code, peak = reap(process)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code != 0:
        raise RuntimeError(f"{worker} worker failed ({code}): {stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    result["wall_seconds"] = time.monotonic() - started
    return result


def process_start_seconds() -> float:
    """What a shard worker pays before its first piece: the interpreter's start and the worker's imports."""
    command = [sys.executable, "-c", "import conveyor_core.intake.shard_worker, conveyor_core.intake.piece_parser"]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, env=child_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def generate_drop(folder: Path, size: int, parts: int) -> list[Path]:
    """``parts`` files of about ``size / parts`` bytes each, each from its own seed."""
    folder.mkdir(parents=True)
    paths = []
    for index in range(parts):
        path = folder / part_name(index)
        generate_csv(path, size // parts, seed=7 + index)
        paths.append(path)
    return paths


def lay_out_job(root: Path, parts: list[Path], instances: int) -> list[list[str]]:
    """Each instance's folders and files, as the offline cloud lays them out; returns the worker commands."""
    root.mkdir(parents=True)
    drop = root / "drop.json"
    keys = [PREFIX + path.name for path in parts]
    drop.write_text(json.dumps({"prefix": PREFIX, "keys": keys, "validation_fraction": VALIDATION_FRACTION}))
    hosts = [f"algo-{number}" for number in range(1, instances + 1)]
    commands = []
    for index, host in enumerate(hosts):
        instance = root / host
        data = instance / "data"
        data.mkdir(parents=True)
        for path in parts[index::instances]:  # ShardedByS3Key: the objects in key order, dealt out
            os.link(path, data / path.name)
        config = instance / "resourceconfig.json"
        config.write_text(json.dumps({"current_host": host, "hosts": hosts}))
        commands.append(
            [
                sys.executable,
                "-m",
                "conveyor_core.intake.shard_worker",
                "--data",
                str(data),
                "--drop",
                str(drop),
                "--output",
                str(instance / "output"),
                "--resource-config",
                str(config),
                "--message",
                str(instance / "message"),
            ]
        )
    return commands


def run_job(root: Path, parts: list[Path], instances: int) -> dict[str, Any]:
    """Start every instance's worker at once and wait for all; then merge their reports (timed apart)."""
    from conveyor_core.families.xgboost import FAMILY as XGBOOST
    from conveyor_core.intake.csv_dataset import check_complete
    from conveyor_core.intake.shard_merge import merge_reports
    from conveyor_core.intake.shard_report import ShardReport

    commands = lay_out_job(root, parts, instances)
    task = XGBOOST.label_task({"objective": OBJECTIVE})
    env = child_env()
    logs = [root / f"algo-{number}" / "container.log" for number in range(1, instances + 1)]
    started = time.perf_counter()
    processes = []
    for command, log_path in zip(commands, logs, strict=True):
        with log_path.open("wb") as output:
            processes.append(
                subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )
    outcomes = [reap(process) for process in processes]
    workers_seconds = time.perf_counter() - started
    for number, ((code, _), log_path) in enumerate(zip(outcomes, logs, strict=True), start=1):
        if code != 0:
            tail = log_path.read_text(errors="replace").strip()[-600:]
            raise RuntimeError(f"shard worker algo-{number} of {instances} failed ({code}): {tail}")
    report_paths = [
        root / f"algo-{number}" / "output" / "reports" / f"algo-{number}.json" for number in range(1, instances + 1)
    ]
    started = time.perf_counter()
    shards = [ShardReport.from_json(json.loads(path.read_bytes())) for path in report_paths]
    report, distinct_rows = merge_reports(shards, [PREFIX + path.name for path in parts])
    check_complete(report, distinct_rows, task)
    merge_seconds = time.perf_counter() - started
    return {
        "instances": instances,
        "workers_seconds": workers_seconds,
        "merge_seconds": merge_seconds,
        "peak_rss_mb": [peak for _, peak in outcomes],
        "report_bytes": [path.stat().st_size for path in report_paths],
        "files_per_instance": [len(parts[index::instances]) for index in range(instances)],
        "rows": report.rows,
        "train_rows": report.train_rows,
        "validation_rows": report.validation_rows,
        "label_counts": report.label_counts,
        "sample": _sample_digest(report.sample.entries()),
        "train_sha256": _concatenated_sha256(root, "train"),
        "validation_sha256": _concatenated_sha256(root, "validation"),
    }


def _file_sha256(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
    return digest.hexdigest()


def _concatenated_sha256(root: Path, channel: str) -> str:
    """The instances' parts of one channel, concatenated in the drop's key order (the parts' names)."""
    return _file_sha256(sorted(root.glob(f"algo-*/output/{channel}/part-*.csv"), key=lambda path: path.name))


def check_agreement(single: dict[str, Any], job: dict[str, Any], split: Path) -> None:
    """Fail loudly unless the Processing path gave what the single pass gave."""
    problems = [
        f"{field}: merged {job[field]!r}, single pass {single[field]!r}"
        for field in ("rows", "train_rows", "validation_rows", "label_counts", "sample")
        if job[field] != single[field]
    ]
    for channel in ("train", "validation"):
        if job[f"{channel}_sha256"] != _file_sha256([split / f"{channel}.csv"]):
            problems.append(f"the {channel} parts concatenated differ from the single pass's {channel}.csv")
    if problems:
        raise AssertionError(f"{job['instances']} instance(s) disagree with the single pass: {'; '.join(problems)}")


def run(smoke: bool = False, size: str | None = None, parts: int | None = None) -> list[Figure]:
    """SageMaker Processing (1 and 2 shard workers + merge) against one pass and pandas, on one drop of parts."""
    total = parse_size(size or (SMOKE_SIZE if smoke else FULL_SIZE))
    count = parts or (SMOKE_PARTS if smoke else FULL_PARTS)
    if count < max(INSTANCE_COUNTS):
        raise ValueError(f"{count} parts cannot feed {max(INSTANCE_COUNTS)} instances: sharding is by object")
    naive_python = os.environ.get("BENCH_PANDAS_PYTHON") or sys.executable
    has_pandas = pandas_available(naive_python)
    if not has_pandas:
        log(f"{NAME}: pandas/sklearn not importable by {naive_python}: the naive figures are skipped")
    folder = Path(tempfile.mkdtemp(prefix="conveyor-bench-processing-"))
    try:
        free = shutil.disk_usage(folder).free
        if total * 4.5 > free:  # the drop, and the split once per path
            raise RuntimeError(f"{size_label(total)} of CSV needs about 4.5 times that free in {folder}")
        log(f"{NAME}: generating {size_label(total)} in {count} parts")
        paths = generate_drop(folder / "drop", total, count)
        drop_bytes = sum(path.stat().st_size for path in paths)
        mb = drop_bytes / 1e6
        start = process_start_seconds()
        log(f"{NAME}: single pass over {size_label(drop_bytes)}")
        split = folder / "single"
        single = run_child(sys.executable, "single", "--drop-dir", str(folder / "drop"), "--out", str(split))
        jobs: dict[int, dict[str, Any]] = {}
        for instances in INSTANCE_COUNTS:
            log(f"{NAME}: Processing with {instances} instance(s)")
            job = run_job(folder / f"job-{instances}", paths, instances)
            check_agreement(single, job, split)
            jobs[instances] = job
            shutil.rmtree(folder / f"job-{instances}")
        naive = None
        if has_pandas:
            log(f"{NAME}: pandas over {size_label(drop_bytes)}")
            naive = run_child(naive_python, "pandas", "--drop-dir", str(folder / "drop"))
            if naive["rows"] != single["rows"]:
                raise AssertionError(f"pandas read {naive['rows']} rows, the single pass {single['rows']}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures(mb, count, single, jobs, naive, start)


def figures(
    mb: float,
    count: int,
    single: dict[str, Any],
    jobs: dict[int, dict[str, Any]],
    naive: dict[str, Any] | None,
    start_seconds: float,
) -> list[Figure]:
    drop = f"{mb:.3g} MB in {count} parts"
    pandas_label = "pandas.read_csv + train_test_split" if naive else "pandas not installed"
    single_speed = mb / single["seconds"]
    naive_speed = mb / naive["seconds"] if naive else None
    found = [
        Figure(
            NAME,
            f"single pass (Lambda path's code) throughput, {drop}, imports excluded",
            single_speed,
            "MB/s",
            naive=naive_speed,
            naive_label=pandas_label,
            target="≥ pandas in the same run",
            met=single_speed >= naive_speed if naive_speed else None,
            note=f"{single['rows']:,} rows in {single['seconds']:.2f} s, split written to local files",
        ),
        Figure(
            NAME,
            f"single pass peak RSS, {drop}",
            single["peak_rss_mb"],
            "MB",
            naive=naive["peak_rss_mb"] if naive else None,
            naive_label=pandas_label,
            target=f"≤ {TARGET_RSS_MB:g} MB",
            met=single["peak_rss_mb"] <= TARGET_RSS_MB,
            kind="size",
        ),
    ]
    start_note = f"process start + imports ≈ {start_seconds:.2f} s per worker"
    for instances, job in jobs.items():
        label = f"{instances} instance{'s' if instances > 1 else ''}"
        seconds = job["workers_seconds"] + job["merge_seconds"]
        speed = mb / seconds
        found += [
            Figure(
                NAME,
                f"Processing, {label}: throughput, workers (incl. process start) + merge",
                speed,
                "MB/s",
                naive=single_speed,
                naive_label="single pass, imports excluded",
                note=f"{seconds:.2f} s; {speed / single_speed:.2f}x the single pass",
                details={"files_per_instance": job["files_per_instance"]},
            ),
            Figure(
                NAME,
                f"Processing, {label}: workers' wall time, first start to last exit",
                job["workers_seconds"],
                "s",
                naive=single["seconds"],
                naive_label="single pass, imports excluded",
                note=start_note,
                details={"process_start_seconds": start_seconds},
            ),
            Figure(
                NAME,
                f"Processing, {label}: merge of the shard reports (read, from_json, merge_reports, check_complete)",
                job["merge_seconds"] * 1000,
                "ms",
                note="in-process, imports excluded",
            ),
            Figure(
                NAME,
                f"Processing, {label}: peak RSS per worker",
                max(job["peak_rss_mb"]),
                "MB",
                naive=single["peak_rss_mb"],
                naive_label="single pass",
                target=f"≤ {TARGET_RSS_MB:g} MB",
                met=max(job["peak_rss_mb"]) <= TARGET_RSS_MB,
                kind="size",
                note="each: " + ", ".join(f"{peak:.0f}" for peak in job["peak_rss_mb"]),
            ),
            Figure(
                NAME,
                f"Processing, {label}: shard report JSON per shard",
                max(job["report_bytes"]) / 1000,
                "KB",
                kind="size",
                note="each: " + ", ".join(f"{size / 1000:.0f}" for size in job["report_bytes"]),
                details={"report_bytes": job["report_bytes"]},
            ),
        ]
    if 1 in jobs and 2 in jobs:
        one, two = (jobs[n]["workers_seconds"] + jobs[n]["merge_seconds"] for n in (1, 2))
        found.append(
            Figure(
                NAME,
                "Processing speedup, 2 instances vs 1 (workers + merge)",
                one / two,
                "x",
                target=f"≥ {TARGET_SPEEDUP:g}x on {os.cpu_count()} cores",
                met=one / two >= TARGET_SPEEDUP,
                note=f"{one:.2f} s → {two:.2f} s",
            )
        )
    found.append(
        Figure(
            NAME,
            "rows, train rows, validation rows, labels, sample and split bytes: merged = single pass",
            single["rows"],
            "rows",
            target="equal (asserted)",
            met=True,
            kind="count",
            note=f"{single['train_rows']:,} train, {single['validation_rows']:,} validation, for "
            + " and ".join(str(n) for n in jobs)
            + " instance(s)",
        )
    )
    return found


def _arguments(parser: Any) -> None:
    parser.add_argument("--size", help=f"the drop's total size (default {FULL_SIZE}, smoke {SMOKE_SIZE})")
    parser.add_argument("--parts", type=int, help=f"how many parts (default {FULL_PARTS}, smoke {SMOKE_PARTS})")


def main() -> int:
    if "--worker" in sys.argv:
        return worker_main(sys.argv[1:])
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
