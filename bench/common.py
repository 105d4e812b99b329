"""What every benchmark shares: the figure record, percentiles, the markdown table, the command line.

A benchmark module exposes ``run(smoke: bool, **options) -> list[Figure]`` and calls
:func:`bench_main` from ``__main__``. Each figure carries its naive counterpart (what users write by
hand, measured in the same run or modelled and said so), its target and whether it was met.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parent.parent

Kind = Literal["count", "timing", "size"]


@dataclass
class Figure:
    """One measured figure, its naive counterpart and its target.

    ``kind`` says how far to trust a figure on a busy machine: ``count`` and ``size`` figures are
    deterministic, ``timing`` figures move with the machine's load.
    """

    benchmark: str
    figure: str
    value: float | None
    unit: str
    naive: float | None = None
    naive_label: str = ""
    target: str = ""
    met: bool | None = None
    kind: Kind = "timing"
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        return cls(**data)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def format_number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        text = str(value)
    elif float(value).is_integer() and abs(value) >= 1 and unit not in ("s", "ms", "µs"):
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _met_text(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "—"}[met]


def markdown_table(figures: Iterable[Figure]) -> str:
    rows = [
        "| benchmark | figure | value | naive figure | target | met? | kind |",
        "|---|---|---|---|---|---|---|",
    ]
    for fig in figures:
        naive = format_number(fig.naive, fig.unit) if fig.naive is not None else ""
        if fig.naive_label:
            naive = f"{naive} ({fig.naive_label})" if naive else fig.naive_label
        value = format_number(fig.value, fig.unit)
        if fig.note:
            value = f"{value} — {fig.note}"
        kind = "timing (noisy)" if fig.kind == "timing" else fig.kind
        rows.append(
            f"| {fig.benchmark} | {fig.figure} | {value} | {naive or '—'} | {fig.target or '—'} "
            f"| {_met_text(fig.met)} | {kind} |"
        )
    return "\n".join(rows)


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory and load: what a reader needs to judge the timings."""
    model = platform.processor() or platform.machine()
    memory_gib: float | None = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan, math.nan, math.nan)
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_gib, 1) if memory_gib else None,
        "load_average": [round(value, 2) for value in load],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def machine_line(info: dict[str, Any] | None = None) -> str:
    info = info or machine_info()
    load = ", ".join(str(value) for value in info["load_average"])
    return (
        f"{info['cores']} cores, {info['cpu_model']}, {info['memory_gib']} GiB RAM, "
        f"load average {load}, Python {info['python']}"
    )


def quiet_offline_cloud() -> None:
    """Silence what the offline cloud logs at ERROR/WARNING that is not an error for a benchmark."""
    # moto's ASL interpreter logs every IsPresent probe of an absent field at ERROR.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    logging.getLogger("localcloud").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01, what: str = "") -> float:
    """Poll ``predicate`` until it holds; returns the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def log(message: str) -> None:
    """Progress on stderr, so stdout keeps only the table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_json(path: Path, figures: list[Figure], extra: dict[str, Any] | None = None) -> None:
    document = {"figures": [fig.as_dict() for fig in figures], **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str))


def read_json(path: Path) -> list[Figure]:
    document = json.loads(path.read_text())
    return [Figure.from_dict(item) for item in document["figures"]]


def bench_main(
    name: str,
    run: Callable[..., list[Figure]],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """The command line of one benchmark: ``--smoke``, ``--json-out`` and its own options."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=(run.__doc__ or "").strip())
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and few iterations (seconds, not minutes)")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    options = {key: value for key, value in vars(args).items() if key not in ("smoke", "json_out")}
    started = time.monotonic()
    figures = run(smoke=args.smoke, **options)
    elapsed = time.monotonic() - started
    print(markdown_table(figures))
    print(f"\n{name}: {elapsed:.1f} s wall on {machine_line()}")
    if args.json_out:
        write_json(args.json_out, figures, {"benchmark": name, "seconds": elapsed, "smoke": args.smoke})
    return 0
