"""Run one SageMaker training job locally: lay out ``/opt/ml``, run the container, collect the results.

The container is a model family's (its offline engine names the module; the built-in XGBoost one
unless told otherwise). It runs as a child process (``sys.executable -m <module> <job dir>``) for
the same reasons SageMaker uses a container: a crash, a hang or a memory blow-up in the algorithm stays in
the job, and ``MaxRuntimeInSeconds`` can be enforced by stopping it from outside.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# The built-in XGBoost container: the default, and the one the fault injector knows how to kill.
CONTAINER_MODULE = "localcloud.sagemaker_engine.xgboost_container"
# SageMaker sends SIGTERM and waits 120 s before SIGKILL; a local job gets a shorter grace.
TERMINATION_GRACE_SECONDS = 5.0
_LOG_TAIL_CHARS = 600
_REPO_ROOT = Path(__file__).resolve().parents[2]

TrainingStatus = Literal["Completed", "Failed"]


@dataclass(frozen=True)
class TrainingOutcome:
    """What DescribeTrainingJob and the model artefact in S3 need to know about a finished job.

    ``secondary_status`` keeps the detail SageMaker itself reports: a job over its runtime limit is
    ``Failed`` here (as the offline cloud wants) but ``MaxRuntimeExceeded`` secondarily, which is
    the secondary status real SageMaker gives such a job (under ``Stopped``).
    """

    status: TrainingStatus
    failure_reason: str | None
    model_tar_gz: bytes | None
    final_metrics: list[dict[str, Any]]
    log: str
    seconds: float
    secondary_status: str = field(default="")


def run_training(
    job_dir: Path,
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Path],
    timeout_seconds: float,
    *,
    content_types: Mapping[str, str] | None = None,
    container_module: str = CONTAINER_MODULE,
) -> TrainingOutcome:
    """Train with the built-in XGBoost contract in ``job_dir`` (which stands for ``/opt/ml``).

    ``channels`` maps a channel name (``train``, ``validation``) to a local file or folder holding
    that channel's data, as SageMaker would have downloaded it from S3. ``content_types`` carries
    each channel's ``ContentType``; ``text/csv`` is assumed where it is not given.
    """
    started = time.perf_counter()
    job_dir = job_dir.resolve()  # the container runs with job_dir as its working directory
    try:
        _lay_out_job_dir(job_dir, hyperparameters, channels, content_types or {})
    except FileNotFoundError as missing:
        return _failed(f"ClientError: {missing}", "", started)
    try:
        returncode, log = _run_container(container_module, job_dir, timeout_seconds)
    except subprocess.TimeoutExpired as expired:
        log = _decode(expired.output)
        reason = f"MaxRuntimeExceeded: Training job exceeded MaxRuntimeInSeconds of {timeout_seconds:g} s"
        return _failed(reason, log + reason + "\n", started, secondary_status="MaxRuntimeExceeded")
    if returncode != 0:
        return _failed(_container_failure(job_dir, returncode, log), log, started)
    return _collected(job_dir, log, started, "the container")


def run_training_cluster(
    job_dirs: Mapping[str, Path],
    hyperparameters: Mapping[str, str],
    channels: Mapping[str, Mapping[str, Path]],
    timeout_seconds: float,
    *,
    content_types: Mapping[str, str] | None = None,
    container_module: str = CONTAINER_MODULE,
    environment: Mapping[str, str] | None = None,
) -> TrainingOutcome:
    """A job on several instances: one container per host (``algo-1``...), each with its own channels.

    Each host's ``input/config/resourceconfig.json`` names it and the others, as SageMaker's does; the
    containers run at once and the job fails if any fails (its reason prefixed with the host). The
    model and metrics are the first host's, the one SageMaker's distributed containers save from.
    """
    started = time.perf_counter()
    hosts = sorted(job_dirs)
    dirs = {host: job_dirs[host].resolve() for host in hosts}
    try:
        for host, job_dir in dirs.items():
            _lay_out_job_dir(job_dir, hyperparameters, channels[host], content_types or {})
            config = {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
            (job_dir / "input" / "config" / "resourceconfig.json").write_text(json.dumps(config), encoding="utf-8")
    except FileNotFoundError as missing:
        return _failed(f"ClientError: {missing}", "", started)
    env = {**container_environment(), **(environment or {})}
    # The hosts share this machine's cores, where SageMaker gives each its own instance: OpenMP
    # threads spinning in one container would starve the others (100 rounds on two hosts took 8.8 s
    # with every core each, 3.1 s with a share each, 1.4 s on one host).
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(hosts))))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for host, job_dir in dirs.items():
        # A file, not a pipe: the containers run at once and none may block on a full pipe.
        with (job_dir / "container.log").open("wb") as log_file:
            processes[host] = subprocess.Popen(
                [sys.executable, "-m", container_module, str(job_dir)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=job_dir,
            )
    timed_out = _wait_for_cluster(processes, time.monotonic() + timeout_seconds)
    logs = {host: _decode((dirs[host] / "container.log").read_bytes()) for host in hosts}
    log = "".join(f"[{host}] {line}\n" for host in hosts for line in logs[host].splitlines())
    if timed_out:
        reason = f"MaxRuntimeExceeded: Training job exceeded MaxRuntimeInSeconds of {timeout_seconds:g} s"
        return _failed(reason, log + reason + "\n", started, secondary_status="MaxRuntimeExceeded")
    failed = [host for host in hosts if processes[host].returncode != 0]
    if failed:
        # The host that failed on its own wrote its reason; the others were stopped because of it.
        host = next((h for h in failed if (dirs[h] / "output" / "failure").exists()), failed[0])
        return _failed(
            f"{host}: {_container_failure(dirs[host], processes[host].returncode, logs[host])}", log, started
        )
    return _collected(dirs[hosts[0]], log, started, hosts[0])


def _collected(job_dir: Path, log: str, started: float, writer: str) -> TrainingOutcome:
    """The completed job's model and final metrics, as ``writer`` (a container, a host) left them."""
    model_dir = job_dir / "model"
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        return _failed(f"AlgorithmError: {writer} exited without writing a model", log, started)
    return TrainingOutcome(
        status="Completed",
        failure_reason=None,
        model_tar_gz=tar_directory(model_dir),
        final_metrics=_read_metrics(job_dir / "output" / "metrics.json"),
        log=log,
        seconds=time.perf_counter() - started,
        secondary_status="Completed",
    )


def _wait_for_cluster(processes: Mapping[str, subprocess.Popen[bytes]], deadline: float) -> bool:
    """Wait for every container; once one fails (or time runs out) stop the rest, which would wait for it.

    Returns whether the job ran out of time.
    """
    while True:
        codes = [process.poll() for process in processes.values()]  # every one: poll() sets returncode
        if None not in codes:
            return False
        failed = any(code not in (None, 0) for code in codes)
        late = time.monotonic() >= deadline
        if failed or late:
            for process in processes.values():
                if process.poll() is None:
                    _stop(process)
            return late and not failed
        time.sleep(0.05)


def _lay_out_job_dir(
    job_dir: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, Path], content_types: Mapping[str, str]
) -> None:
    # A retried job must not see the previous attempt's model, metrics or failure file.
    for stale in ("input", "model", "output"):
        shutil.rmtree(job_dir / stale, ignore_errors=True)
    config_dir = job_dir / "input" / "config"
    config_dir.mkdir(parents=True)
    (job_dir / "model").mkdir()
    (job_dir / "output").mkdir()
    (config_dir / "hyperparameters.json").write_text(
        json.dumps({name: str(value) for name, value in hyperparameters.items()}, indent=2), encoding="utf-8"
    )
    input_config = {
        name: {"ContentType": content_types.get(name, "text/csv"), "TrainingInputMode": "File"} for name in channels
    }
    (config_dir / "inputdataconfig.json").write_text(json.dumps(input_config, indent=2), encoding="utf-8")
    for name, source in channels.items():
        _stage_channel(Path(source), job_dir / "input" / "data" / name)


def _stage_channel(source: Path, channel_dir: Path) -> None:
    """Link the channel's data into place; copying would double the disk use of big datasets."""
    if not source.exists():
        raise FileNotFoundError(f"channel data {source} does not exist")
    channel_dir.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        channel_dir.symlink_to(source.resolve(), target_is_directory=True)
    else:
        channel_dir.mkdir()
        (channel_dir / source.name).symlink_to(source.resolve())


def container_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The child must import this very checkout, whatever the caller's working directory is.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run_container(container_module: str, job_dir: Path, timeout_seconds: float) -> tuple[int, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", container_module, str(job_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=container_environment(),
        cwd=job_dir,
    )
    try:
        output, _ = process.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        output = _stop(process)
        raise subprocess.TimeoutExpired(process.args, timeout_seconds, output=output) from None
    return process.returncode, _decode(output)


def _stop(process: subprocess.Popen[bytes]) -> bytes:
    process.terminate()
    try:
        output, _ = process.communicate(timeout=TERMINATION_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def _decode(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode("utf-8", errors="replace")


def _container_failure(job_dir: Path, returncode: int, log: str) -> str:
    failure_file = job_dir / "output" / "failure"
    if failure_file.exists():
        reason = failure_file.read_text(encoding="utf-8", errors="replace").strip()
        if reason:
            return reason
    # No failure file means the container died rather than failed (a signal, an OOM kill).
    tail = " ".join(log[-_LOG_TAIL_CHARS:].split())
    return f"AlgorithmError: the container exited with code {returncode}; last output: {tail}"[:1000]


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    metrics: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return metrics


def _failed(reason: str, log: str, started: float, *, secondary_status: str = "Failed") -> TrainingOutcome:
    return TrainingOutcome(
        status="Failed",
        failure_reason=reason,
        model_tar_gz=None,
        final_metrics=[],
        log=log,
        seconds=time.perf_counter() - started,
        secondary_status=secondary_status,
    )


def tar_directory(directory: Path) -> bytes:
    """``model.tar.gz`` the way SageMaker packs ``/opt/ml/model``: its contents at the archive root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(directory)))
    return buffer.getvalue()
