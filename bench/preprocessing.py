"""Preprocessing throughput and peak memory: Conveyor's streaming path against pandas.

CSV files of 10 MB, 100 MB and 500 MB (label + 20 features, built-in XGBoost contract) are generated
in a temporary folder on local disk. Each is processed in a fresh child process, whose peak RSS
comes from ``os.wait4`` (the per-child form of ``getrusage(RUSAGE_CHILDREN).ru_maxrss``):

* Conveyor: ``conveyor_core.intake.preprocess.preprocess`` — the Preprocess Lambda's code path, unchanged —
  with an S3 client whose ``GetObject`` body is the local file and whose uploads (the train and
  validation multipart streams, the statistics) are counted and dropped. Reading, validating every
  cell, splitting, hashing, profiling and the 8 MiB part buffers are all real.
* naive: ``pandas.read_csv`` + ``sklearn.model_selection.train_test_split`` on the same file (no
  validation, no statistics, nothing written back: a lower bound of the hand-written job).

Throughput is file bytes over the work's own time (imports excluded); each child's RSS at rest
(imports only) is reported too, so the growth with file size is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, Figure, bench_main, log

NAME = "preprocessing"
FEATURES = 20
TARGET_RSS_MB = 300.0
FULL_SIZES = "10MB,100MB,500MB"
# The folder-of-parts figure: how many parts, and the modelled S3 round trip of each call.
FULL_PARTS = 300
SMOKE_PARTS = 30
ROUND_TRIP_SECONDS = 0.02
SMOKE_SIZES = "1MB,2MB"
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_size(text: str) -> int:
    text = text.strip().upper()
    for unit, factor in _UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def size_label(size: int) -> str:
    for unit, factor in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


def generate_csv(path: Path, size: int, seed: int = 7) -> int:
    """A numeric CSV of about ``size`` bytes (whole rows), from a few distinct blocks repeated."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(4):
        rows = []
        for _ in range(5_000):
            values = ",".join(f"{rng.gauss(0.0, 1.0):.6f}" for _ in range(FEATURES))
            rows.append(f"{rng.randint(0, 1)},{values}\n")
        blocks.append("".join(rows).encode())
    written = 0
    with path.open("wb") as out:
        index = 0
        while written < size:
            block = blocks[index % len(blocks)]
            if written + len(block) > size:
                block = block[: block.rfind(b"\n", 0, size - written) + 1] or block[: block.find(b"\n") + 1]
            out.write(block)
            written += len(block)
            index += 1
    return written


# --------------------------------------------------------------------------- child processes


class _LocalS3:
    """The S3 calls ``preprocess`` makes, served from one local file; uploads are counted, not kept."""

    def __init__(self, path: Path) -> None:
        from botocore.exceptions import ClientError

        self._path = path
        self.exceptions = type("Exceptions", (), {"ClientError": ClientError})
        self.uploaded = 0

    def head_object(self, **_: Any) -> dict[str, Any]:
        return {"ContentLength": self._path.stat().st_size, "ContentType": "text/csv"}

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": self._path.open("rb")}

    def put_object(self, Body: bytes = b"", **_: Any) -> dict[str, Any]:
        self.uploaded += len(Body)
        return {}

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "local"}

    def upload_part(self, Body: bytes = b"", PartNumber: int = 0, **_: Any) -> dict[str, Any]:
        self.uploaded += len(Body)
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}

    def copy_object(self, **_: Any) -> dict[str, Any]:
        return {}


class _SlowPartsS3(_LocalS3):
    """A folder of small parts in memory, each HeadObject and GetObject taking ROUND_TRIP_SECONDS.

    S3 answers a small GET in roughly 10-30 ms from Lambda, nearly all of it waiting; the sleep
    stands for that wait, so the figure isolates how the reads are scheduled.
    """

    def __init__(self, parts: dict[str, bytes]) -> None:
        super().__init__(Path(os.devnull))
        self._parts = parts

    def head_object(self, Key: str = "", **_: Any) -> dict[str, Any]:
        time.sleep(ROUND_TRIP_SECONDS)
        return {"ContentLength": len(self._parts[Key]), "ContentType": "text/csv"}

    def get_object(self, Key: str = "", **_: Any) -> dict[str, Any]:
        import io

        time.sleep(ROUND_TRIP_SECONDS)
        return {"Body": io.BytesIO(self._parts[Key])}


def folder_of_parts(count: int, window: int) -> dict[str, Any]:
    """Preprocess ``count`` one-row-pair parts with ``window`` reads in flight (1: one at a time)."""
    from conveyor_core.families.xgboost import FAMILY as XGBOOST
    from conveyor_core.intake import drop_reader
    from conveyor_core.intake.preprocess import preprocess
    from conveyor_core.shared.contracts import DatasetRef, PipelineInput

    parts = {
        f"drop/part-{index:05d}.csv": f"1,{index % 97 / 10:.1f},{index % 13}\n0,{index % 7},{index % 5}\n".encode()
        for index in range(count)
    }
    run = PipelineInput(
        model="bench",
        run_id="bench-parts",
        dataset=DatasetRef(bucket="local", keys=list(parts), uri="s3://local/drop/", kind="success-marker"),
    )
    configured = drop_reader.PREFETCH_WINDOW
    drop_reader.PREFETCH_WINDOW = window
    try:
        started = time.perf_counter()
        result = preprocess(
            _SlowPartsS3(parts), run, "artifacts", XGBOOST, {"objective": "binary:logistic"}, 0.2, 10**9
        )
        seconds = time.perf_counter() - started
    finally:
        drop_reader.PREFETCH_WINDOW = configured
    if result.status != "ok" or result.rows != 2 * count:
        raise RuntimeError(f"the parts did not preprocess: {result.status} {result.reason} {result.rows} rows")
    return {"seconds": seconds, "rows": result.rows}


def _work_conveyor(path: Path) -> dict[str, Any]:
    import conveyor_core.intake.piece_parser  # noqa: F401  (imports excluded, as for pandas below)
    from conveyor_core.families.xgboost import FAMILY as XGBOOST
    from conveyor_core.intake.preprocess import preprocess
    from conveyor_core.shared.contracts import DatasetRef, PipelineInput

    s3 = _LocalS3(path)
    run = PipelineInput(
        model="bench",
        run_id="bench-preprocessing",
        dataset=DatasetRef(bucket="local", keys=[path.name], uri=f"s3://local/{path.name}", kind="single-object"),
    )
    started = time.perf_counter()
    result = preprocess(s3, run, "artifacts", XGBOOST, {"objective": "binary:logistic"}, 0.2, 10 * 1024**3)
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise RuntimeError(f"preprocess quarantined the file: {result.reason}: {result.detail}")
    return {"seconds": seconds, "rows": result.rows, "uploaded": s3.uploaded}


def _work_pandas(path: Path) -> dict[str, Any]:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    frame = pd.read_csv(path, header=None)
    features, labels = frame.iloc[:, 1:], frame.iloc[:, 0]
    train_x, validation_x, _, _ = train_test_split(features, labels, test_size=0.2, random_state=0)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(frame), "train_rows": len(train_x), "validation_rows": len(validation_x)}


def _baseline(kind: str) -> dict[str, Any]:
    if kind == "conveyor":
        import botocore.exceptions  # noqa: F401

        import conveyor_core.intake.preprocess

        # What the first piece of a cold Preprocess adds: its reader's imports (pandas, numpy).
        started = time.perf_counter()
        import conveyor_core.intake.piece_parser  # noqa: F401

        return {"seconds": 0.0, "parser_import_s": time.perf_counter() - started}
    import pandas  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    return {"seconds": 0.0}


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["conveyor", "pandas"], required=True)
    parser.add_argument("--file", type=Path)
    args = parser.parse_args(argv)
    if args.file is None:
        result = _baseline(args.worker)
    else:
        result = (_work_conveyor if args.worker == "conveyor" else _work_pandas)(args.file)
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- parent


def run_child(python: str, worker: str, path: Path | None) -> dict[str, Any]:
    """Run one worker; returns its JSON answer plus its own peak RSS (MB, from wait4)."""
    command = [python, "-m", "bench.preprocessing", "--worker", worker] + (["--file", str(path)] if path else [])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT / "layers" / "conveyor"), str(REPO_ROOT), env.get("PYTHONPATH", "")])
    )
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{worker} worker failed ({process.returncode}): {stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss * 1024 / 1e6  # ru_maxrss is in KiB on Linux
    result["wall_seconds"] = time.monotonic() - started
    return result


def pandas_available(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import pandas, sklearn"], capture_output=True, text=True, timeout=120, check=False
    )
    return probe.returncode == 0


def run(smoke: bool = False, sizes: str | None = None, pandas_python: str | None = None) -> list[Figure]:
    """Streaming preprocessing MB/s and peak RSS against pandas.read_csv + train_test_split."""
    wanted = [parse_size(text) for text in (sizes or (SMOKE_SIZES if smoke else FULL_SIZES)).split(",")]
    naive_python = pandas_python or os.environ.get("BENCH_PANDAS_PYTHON") or sys.executable
    has_pandas = pandas_available(naive_python)
    if not has_pandas:
        log(f"{NAME}: pandas/sklearn not importable by {naive_python}: the naive figures are skipped")
    folder = Path(tempfile.mkdtemp(prefix="conveyor-bench-csv-"))
    figures: list[Figure] = []
    results: dict[int, dict[str, Any]] = {}
    try:
        free = shutil.disk_usage(folder).free
        if sum(wanted) * 1.2 > free:
            raise RuntimeError(
                f"{size_label(sum(wanted))} of CSV needs more than the {size_label(free)} free in {folder}"
            )
        at_rest = run_child(sys.executable, "conveyor", None)
        baseline = at_rest["peak_rss_mb"]
        figures.append(
            Figure(
                NAME,
                "import added by the fast path's reader (pandas + numpy), once per cold start",
                at_rest["parser_import_s"] * 1000,
                "ms",
                note="on the first piece, not at handler import; excluded from the throughput figures, as pandas' own "
                "import is from the naive ones",
            )
        )
        naive_baseline = run_child(naive_python, "pandas", None)["peak_rss_mb"] if has_pandas else None
        for size in wanted:
            path = folder / f"data-{size}.csv"
            log(f"{NAME}: generating {size_label(size)}")
            actual = generate_csv(path, size)
            log(f"{NAME}: conveyor on {size_label(actual)}")
            conveyor = run_child(sys.executable, "conveyor", path)
            naive = None
            if has_pandas:
                log(f"{NAME}: pandas on {size_label(actual)}")
                naive = run_child(naive_python, "pandas", path)
            results[size] = {"bytes": actual, "conveyor": conveyor, "pandas": naive}
            path.unlink()
            mb = actual / 1e6
            speed = mb / conveyor["seconds"]
            naive_speed = mb / naive["seconds"] if naive else None
            label = size_label(actual)
            figures += [
                Figure(
                    NAME,
                    f"throughput, {label}",
                    speed,
                    "MB/s",
                    naive=naive_speed,
                    naive_label="pandas.read_csv + train_test_split" if naive else "pandas not installed",
                    target="≥ pandas in the same run",
                    met=speed >= naive_speed if naive_speed else None,
                    note=f"{conveyor['rows']:,} rows in {conveyor['seconds']:.1f} s",
                ),
                Figure(
                    NAME,
                    f"peak RSS, {label}",
                    conveyor["peak_rss_mb"],
                    "MB",
                    naive=naive["peak_rss_mb"] if naive else None,
                    naive_label="pandas.read_csv + train_test_split" if naive else "pandas not installed",
                    target=f"≤ {TARGET_RSS_MB:g} MB, flat in file size",
                    met=conveyor["peak_rss_mb"] <= TARGET_RSS_MB,
                    kind="size",
                    note=f"{baseline:.0f} MB after imports alone",
                ),
            ]
        if len(results) >= 2:
            smallest, largest = results[min(results)], results[max(results)]
            growth = largest["conveyor"]["peak_rss_mb"] - smallest["conveyor"]["peak_rss_mb"]
            naive_growth = (
                largest["pandas"]["peak_rss_mb"] - smallest["pandas"]["peak_rss_mb"] if largest["pandas"] else None
            )
            figures.append(
                Figure(
                    NAME,
                    f"peak RSS growth, {size_label(smallest['bytes'])} → {size_label(largest['bytes'])}",
                    growth,
                    "MB",
                    naive=naive_growth,
                    naive_label="pandas.read_csv + train_test_split" if naive_growth is not None else "",
                    target="flat (≤ 20 MB)",
                    met=growth <= 20,
                    kind="size",
                    details={"pandas_rss_after_imports_mb": naive_baseline, "conveyor_rss_after_imports_mb": baseline},
                )
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    figures.append(_parts_figure(SMOKE_PARTS if smoke else FULL_PARTS))
    return figures


def _parts_figure(count: int) -> Figure:
    from conveyor_core.intake import drop_reader

    log(f"{NAME}: a folder of {count} parts, {ROUND_TRIP_SECONDS * 1000:.0f} ms per S3 call")
    prefetched = folder_of_parts(count, drop_reader.PREFETCH_WINDOW)
    one_at_a_time = folder_of_parts(count, 1)
    return Figure(
        NAME,
        f"a folder of {count} small parts, {ROUND_TRIP_SECONDS * 1000:.0f} ms per S3 call (modelled)",
        prefetched["seconds"],
        "s",
        naive=one_at_a_time["seconds"],
        naive_label="one part after another (HeadObject, GetObject each)",
        note=f"{one_at_a_time['seconds'] / prefetched['seconds']:.1f}x faster, "
        f"{drop_reader.PREFETCH_WINDOW} reads in flight",
        details={"parts": count, "round_trip_seconds": ROUND_TRIP_SECONDS, "window": drop_reader.PREFETCH_WINDOW},
    )


def _arguments(parser: Any) -> None:
    parser.add_argument("--sizes", help=f"comma-separated file sizes (default {FULL_SIZES}, smoke {SMOKE_SIZES})")
    parser.add_argument(
        "--pandas-python",
        help="interpreter with pandas and scikit-learn for the naive baseline "
        "(default: $BENCH_PANDAS_PYTHON, else this one)",
    )


def main() -> int:
    if "--worker" in sys.argv:
        return worker_main(sys.argv[1:])
    return bench_main(NAME, run, _arguments)


if __name__ == "__main__":
    raise SystemExit(main())
