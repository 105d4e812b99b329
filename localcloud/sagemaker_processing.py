"""A SageMaker Processing job run for real: one worker process per instance, as SageMaker runs one container each.

What each instance sees is what SageMaker gives a processing container:

* every ``ProcessingInputs`` entry downloaded to its ``LocalPath``: all objects for
  ``FullyReplicated``; for ``ShardedByS3Key`` a share of them, the objects in key order dealt out
  one by one (AWS documents only "about 1/n of the objects" each, never more than one instance per
  object); an ``S3Prefix`` input places each object at its key below the prefix's folder, a
  ``ManifestFile`` input at its manifest entry;
* ``/opt/ml/config/resourceconfig.json`` (``current_host``, ``hosts``: ``algo-1``...) and
  ``processingjobconfig.json`` (the request);
* an empty folder at each output's ``LocalPath``, uploaded to its ``S3Uri`` when the job ends
  (``EndOfJob``) if every instance succeeded.

The container is this machine: ``/opt/ml`` is the instance's own folder (the paths of the
entrypoint and its arguments are mapped there, as a container's mount would), ``python3`` is this
interpreter, and ``Environment`` is set. The job runs under its ``RoleArn``: each download and upload
is checked as that role and a refusal fails the job with SageMaker's ``ClientError``. A worker that
exits non-zero fails the job, ``FailureReason`` ``AlgorithmError: See job logs for more
information`` as SageMaker words it, and the first KB of the instances' ``/opt/ml/output/message``
files goes to ``ExitMessage``. ``MaxRuntimeInSeconds`` stops every worker and fails the job.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud.sagemaker_engine.training import TERMINATION_GRACE_SECONDS

OPT_ML = "/opt/ml"
# DescribeProcessingJob's ExitMessage and FailureReason: the first 1 KB.
MESSAGE_LIMIT = 1024
ALGORITHM_FAILURE = "AlgorithmError: See job logs for more information"
_LOG_TAIL_CHARS = 2000


class ProcessingRefused(Exception):
    """The job cannot start its containers (its inputs are unreadable); ``str()`` is the FailureReason."""


@dataclass(frozen=True)
class InputObject:
    bucket: str
    key: str
    relative: str  # where it lands below the input's LocalPath


def hosts(instance_count: int) -> list[str]:
    return [f"algo-{number}" for number in range(1, instance_count + 1)]


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def input_objects(s3: Any, s3_input: dict[str, Any]) -> list[InputObject]:
    """The objects an input names, in key order, each with its place below the input's LocalPath."""
    bucket, prefix = _split(str(s3_input["S3Uri"]))
    if s3_input.get("S3DataType") == "ManifestFile":
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix)["Body"].read())
        base_bucket, base = _split(str(manifest[0]["prefix"]))
        found = [InputObject(base_bucket, base + str(entry), str(entry)) for entry in manifest[1:]]
        return sorted(found, key=lambda item: item.key)
    folder = prefix[: prefix.rfind("/") + 1]
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [InputObject(bucket, item["Key"], item["Key"][len(folder) :]) for item in page.get("Contents", [])]
    return sorted(found, key=lambda item: item.key)


def share(objects: list[InputObject], distribution: str, index: int, instances: int) -> list[InputObject]:
    if distribution == "ShardedByS3Key":
        return objects[index::instances]
    return objects


def local(root: Path, container_path: str) -> Path:
    """Where a container path under /opt/ml lives for an instance whose /opt/ml is ``root``."""
    if container_path != OPT_ML and not container_path.startswith(OPT_ML + "/"):
        raise ProcessingRefused(f"ClientError: {container_path} is outside /opt/ml, which the offline cloud maps")
    return root / container_path[len(OPT_ML) :].lstrip("/")


def _mapped(argument: str, root: Path) -> str:
    return argument.replace(OPT_ML + "/", f"{root}/").replace(f"{OPT_ML} ", f"{root} ")


def lay_out_instance(root: Path, host: str, all_hosts: list[str], request: dict[str, Any]) -> None:
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": all_hosts}))
    (config / "processingjobconfig.json").write_text(json.dumps(request, default=str))
    for output in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        local(root, output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    (root / "output").mkdir(exist_ok=True)


def break_outputs(root: Path, request: dict[str, Any]) -> None:
    """Fault injection: each output folder becomes a file, so nothing can be written below it (even as root)."""
    for output in request.get("ProcessingOutputConfig", {}).get("Outputs", []):
        folder = local(root, output["S3Output"]["LocalPath"])
        shutil.rmtree(folder, ignore_errors=True)
        folder.write_bytes(b"")


def _environment(root: Path, environment: dict[str, str]) -> dict[str, str]:
    binaries = root.parent / "bin"
    binaries.mkdir(exist_ok=True)
    python3 = binaries / "python3"
    if not python3.exists():
        # A script, not a symlink: a virtualenv's interpreter finds its packages from its own path.
        python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        python3.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env.update(environment)
    env["PATH"] = f"{binaries}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_instance(root: Path, app: dict[str, Any], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        _mapped(str(part), root) for part in [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
    ]
    if not command:
        raise ProcessingRefused("ClientError: the offline cloud runs an image's ContainerEntrypoint; none was given")
    # A file, not a pipe: a chatty worker must never block on a pipe nobody reads until it ends.
    with (root / "container.log").open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_environment(root, environment),
            cwd=root,
        )


def wait_all(workers: dict[str, subprocess.Popen[bytes]], timeout_seconds: float) -> tuple[dict[str, int], list[str]]:
    """Each worker's exit status, and the workers still running when the job's time ran out (then stopped)."""
    deadline = time.monotonic() + timeout_seconds
    while any(process.poll() is None for process in list(workers.values())):
        if time.monotonic() >= deadline:
            running = sorted(host for host, process in workers.items() if process.poll() is None)
            for host in running:
                workers[host].terminate()
            for host in running:
                try:
                    workers[host].wait(timeout=TERMINATION_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    workers[host].kill()
            return {host: process.wait() for host, process in workers.items()}, running
        time.sleep(0.05)
    return {host: process.wait() for host, process in workers.items()}, []


def exit_message(roots: dict[str, Path]) -> str | None:
    """The instances' /opt/ml/output/message files, joined and cut to 1 KB as SageMaker does (no prefix)."""
    messages = []
    for root in roots.values():
        path = root / "output" / "message"
        if path.exists():
            text = path.read_bytes().decode("utf-8", errors="replace").strip()
            if text:
                messages.append(text)
    joined = "; ".join(messages)
    return joined.encode()[:MESSAGE_LIMIT].decode(errors="ignore") or None


def output_files(root: Path, local_path: str) -> list[tuple[str, Path]]:
    """(name below the output's S3Uri, file) of each regular file an output folder holds; links are not followed."""
    folder = local(root, local_path)
    return sorted(
        (path.relative_to(folder).as_posix(), path)
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def log_tail(root: Path) -> str:
    path = root / "container.log"
    return path.read_bytes().decode("utf-8", errors="replace")[-_LOG_TAIL_CHARS:] if path.exists() else ""
