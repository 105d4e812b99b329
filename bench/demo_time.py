"""The demo: wall time of ``python -m conveyor_cli.demo`` as a fresh subprocess (start-up included).

The demo deploys the template into a fresh offline cloud and plays its steps (eight today: a first
model, a canary, a rejection, an alarm rollback, a skipped schedule, drift, a pytorch model and a
bandit test); the figure counts them from the demo's own summary table. Smoke mode only times the
import of ``conveyor_cli.demo`` (the demo itself takes tens of seconds).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from bench.common import REPO_ROOT, Figure, bench_main, log

NAME = "demo_time"
TARGET_SECONDS = 60.0
_TOTAL = re.compile(r"total ([\d.]+)\s*s")
# A step's first row in the demo's summary table: "│ 8. a bandit ...".
_STEP_ROW = re.compile(r"^\S (\d+)\. ", re.MULTILINE)


def run(smoke: bool = False) -> list[Figure]:
    """Wall time of `python -m conveyor_cli.demo`."""
    command = (
        [sys.executable, "-c", "import conveyor_cli.demo"] if smoke else [sys.executable, "-m", "conveyor_cli.demo"]
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), str(REPO_ROOT / "layers" / "conveyor"), env.get("PYTHONPATH", "")])
    )
    env.setdefault("COLUMNS", "120")
    log(f"{NAME}: {' '.join(command[1:])}")
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    reported = _TOTAL.findall(done.stdout)
    steps = len(set(_STEP_ROW.findall(done.stdout)))
    if smoke:
        return [Figure(NAME, "import of conveyor_cli.demo (smoke: the demo is not run)", wall, "s")]
    return [
        Figure(
            NAME,
            f"wall time of `python -m conveyor_cli.demo` ({steps} steps, fresh process)",
            wall,
            "s",
            naive_label="the same steps on AWS: stack deploys, training jobs, endpoint updates (not measured)",
            target=f"≤ {TARGET_SECONDS:g} s",
            met=wall <= TARGET_SECONDS,
            note=f"the demo reports {reported[-1]} s itself" if reported else "",
            details={"stdout_tail": done.stdout[-1500:]},
        )
    ]


def main() -> int:
    return bench_main(NAME, run)


if __name__ == "__main__":
    raise SystemExit(main())
