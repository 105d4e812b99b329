"""SageMaker's "SageMaker Model Package State Change" events, which moto does not emit.

SageMaker puts one on the account's default bus when a model package changes state
(https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html,
"SageMaker model package state change"): source ``aws.sagemaker``, ``resources`` the package's ARN,
and a detail shaped like DescribeModelPackage, timestamps as ISO 8601 seconds (``CreationTime``,
``LastModifiedTime``: "2021-02-24T17:00:14Z"). The offline SageMaker publishes it
(``moto_patches/sagemaker.py``):

* when CreateModelPackage registers a version in a model package group;
* when UpdateModelPackage changes its ``ModelApprovalStatus`` (approved or rejected in the Model
  Registry). An update that leaves the status as it was (metadata only, or the same status again)
  publishes nothing: the guide names the event a change of state and documents no other trigger
  (chosen; a handler must still tolerate repeats, as "SageMaker AI may send multiple events to
  EventBridge for each state change").

The event goes through moto's default bus the way the alarm evaluator's events do
(``localcloud.alarms.publish``), so the rules and targets there get it, with the envelope's ``time``
as EventBridge delivers it. Publishing is best effort, as on AWS: a failure is logged, and the
SageMaker call that caused it still succeeds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from localcloud.alarms import publish

LOG = logging.getLogger("localcloud.model_package_events")
SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Model Package State Change"
# DescribeModelPackage's fields the documented event carries (besides the timestamps), then the ones it
# carries when the package has them.
_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CertifyForMarketplace",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "MetadataProperties",
    "ModelMetrics",
    "CustomerMetadataProperties",
)


def _iso_seconds(value: Any) -> str | None:
    if not isinstance(value, dt.datetime):
        return None
    stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def detail(package: Any) -> dict[str, Any]:
    """The event's detail for a moto ``ModelPackage``, as SageMaker's documented example shapes it."""
    described = package.gen_response_object()
    found: dict[str, Any] = {name: described[name] for name in _FIELDS if described.get(name) is not None}
    created = _iso_seconds(package.creation_time)
    found["CreationTime"] = created
    found["LastModifiedTime"] = _iso_seconds(package.last_modified_time) or created
    return found


def state_change_entry(package: Any) -> dict[str, Any]:
    """A PutEvents entry shaped like SageMaker's "SageMaker Model Package State Change"."""
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Resources": [package.arn],
        "Detail": json.dumps(detail(package)),
        "EventBusName": "default",
    }


def _announce(backend: Any, package: Any) -> None:
    try:
        publish(backend.account_id, backend.region_name, state_change_entry(package))
    except Exception:
        LOG.exception("could not put the state change of model package %s", package.arn)


def _package(backend: Any, arn_or_name: str) -> Any:
    return backend.model_packages.get(backend.model_package_name_mapping.get(arn_or_name, arn_or_name))


def created(backend: Any, arn: str) -> None:
    """CreateModelPackage registered ``arn``: a version in a group announces itself."""
    package = _package(backend, arn)
    if package is not None and package.model_package_group_name:
        _announce(backend, package)


def approval_status(backend: Any, arn_or_name: str) -> str | None:
    package = _package(backend, arn_or_name)
    return None if package is None else package.model_approval_status


def updated(backend: Any, arn_or_name: str, status_before: str | None) -> None:
    """UpdateModelPackage acted: announce the package if its approval status changed."""
    package = _package(backend, arn_or_name)
    if package is not None and package.model_approval_status != status_before:
        _announce(backend, package)
