"""``conveyor approve`` / ``conveyor reject``: decide on a model waiting for approval (ApprovalMode=manual).

The decision is made where a reviewer would make it in the console: ``UpdateModelPackage`` in the
Model Registry. SageMaker's state-change event then resumes (or ends) the run that waits for it;
the CLI does not talk to the run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from conveyor_cli import render
from conveyor_cli.context import options
from conveyor_cli.errors import CliError

PENDING = "PendingManualApproval"


def pending_package(sagemaker: Any, group: str) -> str:
    """The newest package of the group that waits for a decision."""
    try:
        found = sagemaker.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus=PENDING,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
    except sagemaker.exceptions.ClientError as error:
        raise CliError(f"cannot list the packages of {group}: {error}") from None
    if not found:
        raise CliError(f"no model of {group} waits for approval (ApprovalMode=manual registers them {PENDING})")
    return str(found[0]["ModelPackageArn"])


def decide(ctx: typer.Context, status: str, package: str | None, reason: str) -> None:
    opts = options(ctx)
    target = opts.target()
    group = target.outputs.model_package_group_name
    if not group and package is None:
        raise CliError("this stack has no ModelPackageGroupName output: pass --package")
    sagemaker = target.client("sagemaker")
    arn = package or pending_package(sagemaker, str(group))
    current = sagemaker.describe_model_package(ModelPackageName=arn).get("ModelApprovalStatus")
    if current != PENDING:
        raise CliError(f"{arn} is {current}, not waiting for a decision")
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=reason)
    if opts.json:
        render.emit_json({"model_package": arn, "status": status, "description": reason})
        return
    render.console().print(f"{arn}: {status}; the run waiting for it resumes from SageMaker's state-change event")


def approve(
    ctx: typer.Context,
    package: Annotated[
        str | None, typer.Option("--package", help="Model package ARN (default: the newest pending).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Recorded as the package's ApprovalDescription.")] = (
        "approved with the conveyor CLI"
    ),
) -> None:
    """Approve the model waiting for approval: the run deploys it."""
    decide(ctx, "Approved", package, reason)


def reject(
    ctx: typer.Context,
    package: Annotated[
        str | None, typer.Option("--package", help="Model package ARN (default: the newest pending).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why; the run's model.rejected notification quotes it.")] = (
        "rejected with the conveyor CLI"
    ),
) -> None:
    """Reject the model waiting for approval: the run ends in model.rejected and nothing is deployed."""
    decide(ctx, "Rejected", package, reason)
