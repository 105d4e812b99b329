"""Staging code where a SageMaker job can read it: a family's training script, the Processing worker.

The SageMaker Python SDK uploads ``sourcedir.tar.gz`` before each job; here preprocessing does it,
once per version of the code: the key holds the code's digest, so a run finds the archive an
earlier run staged (one HeadObject) and a changed script gets a new key, never an overwrite that a
running job could read half of.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor_core.families.base import ModelFamily
from conveyor_core.families.pytorch import source_archive


def stage_archive(s3: Any, bucket: str, prefix: str, files: Mapping[str, bytes], name: str) -> str:
    """The ``s3://`` URI of a reproducible tar.gz of ``files`` under ``<prefix>/<digest>/<name>``."""
    archive, digest = source_archive(files)
    key = f"{prefix}/{digest}/{name}"
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
            raise
        s3.put_object(Bucket=bucket, Key=key, Body=archive, ContentType="application/gzip")
    return f"s3://{bucket}/{key}"


def stage_training_code(s3: Any, bucket: str, family: ModelFamily) -> dict[str, str]:
    """The hyperparameters naming the family's staged code; {} for a family without script-mode code."""
    files = family.training_code()
    if not files:
        return {}
    return family.code_hyperparameters(stage_archive(s3, bucket, f"code/{family.name}", files, "sourcedir.tar.gz"))
