"""Run every benchmark, each in a fresh process, and print one markdown table of figures.

    python -m bench.run_all            # full sizes (minutes)
    python -m bench.run_all --smoke    # tiny sizes and few iterations (about a minute on a quiet machine)
    python -m bench.run_all --only orchestration,inference

A fresh process per benchmark keeps the offline cloud's process-wide state (moto's mocks, the
clock, patched classes) from leaking between them, and lets a crash in one leave the others' figures
intact. Each benchmark's own output goes to ``--log-dir`` (a temporary folder by default).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Figure, machine_info, machine_line, markdown_table, read_json, write_json

BENCHMARKS = (
    "orchestration",
    "arrival_latency",
    "burst",
    "cold_start",
    "preprocessing",
    "processing",
    "inference",
    "rollback",
    "demo_time",
    "gpu_inference",
    "experiments",
)
FULL_TIMEOUT_SECONDS = 1200
SMOKE_TIMEOUT_SECONDS = 300


def benchmark_command(name: str, smoke: bool, json_out: Path, options: dict[str, Any]) -> list[str]:
    command = [sys.executable, "-m", f"bench.{name}", "--json-out", str(json_out)]
    if smoke:
        command.append("--smoke")
    if name == "preprocessing":
        if options.get("sizes"):
            command += ["--sizes", options["sizes"]]
        if options.get("pandas_python"):
            command += ["--pandas-python", options["pandas_python"]]
    return command


def run_one(name: str, smoke: bool, log_dir: Path, options: dict[str, Any]) -> tuple[list[Figure], float, int]:
    """Run one benchmark module in a child process; returns its figures, wall seconds and exit code."""
    json_out = log_dir / f"{name}.json"
    json_out.unlink(missing_ok=True)
    env = dict(os.environ)
    # This checkout's packages first, whatever an editable install elsewhere points at.
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT / "layers" / "conveyor"), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    )
    timeout = SMOKE_TIMEOUT_SECONDS if smoke else FULL_TIMEOUT_SECONDS
    started = time.monotonic()
    with (log_dir / f"{name}.log").open("w") as output:
        try:
            done = subprocess.run(
                benchmark_command(name, smoke, json_out, options),
                cwd=REPO_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds = time.monotonic() - started
    if code == 0 and json_out.exists():
        return read_json(json_out), seconds, code
    tail = (log_dir / f"{name}.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    why = "timed out" if code == -1 else f"exit {code}"
    failure = Figure(name, "benchmark failed", None, "", note=f"{why}: {tail[0][:200]}", kind="count", met=False)
    return [failure], seconds, code


def collect(
    smoke: bool, only: list[str] | None = None, log_dir: Path | None = None, **options: Any
) -> tuple[list[Figure], dict[str, dict[str, Any]]]:
    """Run the selected benchmarks one after another; returns all figures and a per-benchmark summary."""
    folder = log_dir or Path(tempfile.mkdtemp(prefix="conveyor-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    summary: dict[str, dict[str, Any]] = {}
    for name in only or BENCHMARKS:
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", file=sys.stderr, flush=True)
        found, seconds, code = run_one(name, smoke, folder, options)
        figures += found
        summary[name] = {"seconds": round(seconds, 1), "exit_code": code, "log": str(folder / f"{name}.log")}
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:.1f} s (exit {code})", file=sys.stderr, flush=True)
    return figures, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description="Run every benchmark.")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, few iterations")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--sizes", help="preprocessing file sizes, e.g. 10MB,100MB,1GB")
    parser.add_argument("--pandas-python", help="interpreter with pandas + scikit-learn for the preprocessing baseline")
    parser.add_argument("--log-dir", type=Path, help="where each benchmark's output and JSON go")
    parser.add_argument("--json-out", type=Path, help="write every figure, the machine and the timings as JSON")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",")] if args.only else None
    unknown = sorted(set(only or ()) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    machine = machine_info()
    started = time.monotonic()
    figures, summary = collect(args.smoke, only, args.log_dir, sizes=args.sizes, pandas_python=args.pandas_python)
    total = time.monotonic() - started
    mode = "smoke" if args.smoke else "full"
    after = machine_info()
    print(f"## Conveyor benchmarks ({mode} mode)\n")
    print(f"Machine: {machine_line(machine)} at the start; load average {after['load_average']} at the end\n")
    print(markdown_table(figures))
    print("\n| benchmark | wall time | exit |\n|---|---|---|")
    for name, entry in summary.items():
        print(f"| {name} | {entry['seconds']:.1f} s | {entry['exit_code']} |")
    print(f"\nTotal: {total:.1f} s. Figures of kind 'timing (noisy)' move with the machine's load.")
    if args.json_out:
        extra = {"mode": mode, "machine": machine, "load_at_end": after["load_average"], "benchmarks": summary}
        write_json(args.json_out, figures, {**extra, "seconds": total})
    return 1 if any(entry["exit_code"] != 0 for entry in summary.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
