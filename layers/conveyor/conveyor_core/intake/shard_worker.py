"""One SageMaker Processing instance's work: validate, split and profile its shard of a large drop.

``python3 -m conveyor_core.intake.shard_worker --data DIR --drop FILE --output DIR --resource-config
FILE --message FILE``, inside the Processing image. The validation is the Lambda path's own
(``DatasetValidator``, the same fast and exact paths), run once per file of the shard:

* ``--data``: this instance's files (the drop's manifest, ``ShardedByS3Key``), each at its key's
  path below the manifest's prefix;
* ``--drop``: ``drop.json`` (every instance gets it), the drop's keys in order, the prefix, the
  validation fraction; a file's place in that order makes its part names and tells whether it
  continues the drop;
* ``--output``: ``train/part-NNNNN.csv`` and ``validation/part-NNNNN.csv`` per file (NNNNN its
  place in the drop), and ``reports/<host>.json`` (``shard_report``);
* ``--resource-config``: ``/opt/ml/config/resourceconfig.json``, which names this instance;
* ``--message``: ``/opt/ml/output/message``. Bad data is not a failure here (the merge quarantines
  it with the file's reason); anything else is, and the message names the shard and the reason,
  which DescribeProcessingJob then reports.

Only the standard library, pandas and numpy (through ``piece_parser``), and the modules of this
package that import nothing else are used: the Processing image has no pydantic nor boto3.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from conveyor_core.intake import s3_io
from conveyor_core.intake.csv_dataset import DatasetValidator, InvalidDatasetError, RowSample
from conveyor_core.intake.shard_report import FileReport, ShardReport, problem_of

# DescribeProcessingJob keeps the first 1 KB of /opt/ml/output/message.
MESSAGE_LIMIT = 1024


def _part(output: Path, channel: str, index: int) -> Path:
    return output / channel / f"part-{index:05d}.csv"


class _LazyFile:
    """A part file opened on its first write, so a file with no rows for a side leaves no empty part."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: Any = None

    def write(self, data: bytes) -> None:
        if self._file is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("wb")
        self._file.write(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def validate_file(
    path: Path, key: str, index: int, output: Path, validation_fraction: float
) -> tuple[FileReport, RowSample]:
    """Validate and split one input file; its rows go to its own train and validation parts."""
    train = _LazyFile(_part(output, "train", index))
    validation = _LazyFile(_part(output, "validation", index))
    validator = DatasetValidator(train, validation, None, validation_fraction, continues_dataset=index > 0)
    try:
        error = _validate(validator, path, key)
    finally:
        train.close()
        validation.close()
    report = FileReport.of(key, index, validator, error)
    if index > 0 and _first_row_decides(report):
        report.problem_as_first = _problem_as_first(path, key, validation_fraction)
    return report, validator.report.sample


def _validate(validator: DatasetValidator, path: Path, key: str) -> InvalidDatasetError | None:
    try:
        with path.open("rb") as stream:
            validator.consume_blocks(key, s3_io.iter_file_blocks(stream, key))
    except InvalidDatasetError as invalid:
        return invalid
    return None


def _first_row_decides(report: FileReport) -> bool:
    """Whether the file's first row would be judged otherwise as the drop's first (header, one column)."""
    problem = report.problem
    first_row_failed = problem is not None and 0 < report.first_row_line == int(problem["line"])
    return first_row_failed or report.columns == 1


class _Discard:
    def write(self, data: bytes) -> None:
        pass


def _problem_as_first(path: Path, key: str, validation_fraction: float) -> dict[str, Any] | None:
    """The file read again as if it opened the drop, for the merge to use when every file before it is blank."""
    validator = DatasetValidator(_Discard(), _Discard(), None, validation_fraction)
    return problem_of(validator, _validate(validator, path, key))


def shard_files(data: Path, prefix: str, keys: list[str]) -> list[tuple[int, str, Path]]:
    """(place in the drop, key, local path) of each file this instance received, in key order."""
    places = {key: index for index, key in enumerate(keys)}
    found: list[tuple[int, str, Path]] = []
    for path in data.rglob("*"):
        if not path.is_file():
            continue
        key = prefix + path.relative_to(data).as_posix()
        if key not in places:
            raise ValueError(f"{key} was delivered but is not in the drop's manifest")
        found.append((places[key], key, path))
    return sorted(found)


class ShardFailure(RuntimeError):
    """Not bad data: the shard could not be processed (a read error, a full disk, a bug, a stop)."""


class Stopped(Exception):
    """SIGTERM: SageMaker stops the job (MaxRuntimeInSeconds, StopProcessingJob) and waits before SIGKILL."""


def _stop_requested(signum: int, frame: object) -> None:
    raise Stopped("the job was stopped (SIGTERM: MaxRuntimeInSeconds reached, or StopProcessingJob)")


def run_shard(data: Path, drop: dict[str, Any], output: Path, host: str) -> ShardReport:
    sample = RowSample()
    reports: list[FileReport] = []
    files = shard_files(data, str(drop["prefix"]), [str(key) for key in drop["keys"]])
    for done, (index, key, path) in enumerate(files):
        try:
            report, file_sample = validate_file(path, key, index, output, float(drop["validation_fraction"]))
        except Exception as error:
            raise ShardFailure(
                f"{len(files)} files, {done} done; failed on {key}: {type(error).__name__}: {error}"
            ) from error
        reports.append(report)
        sample.merge(file_sample)
    return ShardReport(host=host, files=reports, sample=sample)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shard_worker")
    for option in ("--data", "--drop", "--output", "--resource-config", "--message"):
        parser.add_argument(option, required=True, type=Path)
    args = parser.parse_args(argv)
    # A stop is reported like any failure, naming the file it came during; SageMaker waits before SIGKILL.
    previous = signal.signal(signal.SIGTERM, _stop_requested)
    try:
        return _work(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _work(args: argparse.Namespace) -> int:
    host = "this instance"
    try:
        resources = json.loads(args.resource_config.read_text(encoding="utf-8"))
        host = str(resources["current_host"])
        drop = json.loads(args.drop.read_text(encoding="utf-8"))
        shard = run_shard(args.data, drop, args.output, host)
        reports = args.output / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"{host}.json").write_text(json.dumps(shard.as_json()), encoding="utf-8")
    except Exception as error:  # every other failure (a stop included) ends the job, naming the shard
        what = str(error) if isinstance(error, ShardFailure) else f"{type(error).__name__}: {error}"
        message = f"shard {host}: {' '.join(what.split())}"
        print(message, file=sys.stderr, flush=True)
        args.message.parent.mkdir(parents=True, exist_ok=True)
        args.message.write_bytes(message.encode()[:MESSAGE_LIMIT])
        return 1
    files = shard.files
    print(f"shard {host}: {len(files)} files, {sum(f.rows for f in files)} rows", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
