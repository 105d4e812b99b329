"""Registering the promoted model: the package records what the endpoint will serve.

It comes after compilation, so the package's container is the artefact and image that will
really serve (compiled with Neo's image, or the uncompiled model with the family's), and its
metadata says which, beside the run's lineage from the quality gate.
"""

from __future__ import annotations

from statemachines.builder import asl
from statemachines.builder.retrain.common import fail_run
from statemachines.builder.retrain.compile import ARTIFACT
from statemachines.builder.retrain.training import FAMILY

REGISTRY = "$.registry"


_BASELINE = {
    "Statistics": {"ContentType": "application/json", "S3Uri": "$.preprocess.baseline_statistics_uri"},
    "Constraints": {"ContentType": "application/json", "S3Uri": "$.preprocess.baseline_constraints_uri"},
}


def states() -> dict[str, asl.State]:
    return {
        # The group is made by the first run, not by the stack: CloudFormation lacks the resource type in
        # several SageMaker regions. Described first (one call once it exists); any failure to describe
        # it tries to create it, and a failed create fails the run with its own error.
        "EnsureModelPackageGroup": asl.service_task(
            "aws-sdk:sagemaker:describeModelPackageGroup",
            parameters={"ModelPackageGroupName": "${ModelPackageGroupName}"},
            result_path=None,
            catch=asl.catch_all("CreateModelPackageGroup", "$.registry_group_error"),
            next_state="RegisterModel",
        ),
        "CreateModelPackageGroup": asl.service_task(
            "aws-sdk:sagemaker:createModelPackageGroup",
            parameters={
                "ModelPackageGroupName": "${ModelPackageGroupName}",
                "ModelPackageGroupDescription": "States.Format('Models trained by Conveyor for {}', $.model)",
            },
            result_path=None,
            catch=fail_run(),
            next_state="RegisterModel",
        ),
        "RegisterModel": asl.service_task(
            "aws-sdk:sagemaker:createModelPackage",
            parameters={
                "ModelPackageGroupName": "${ModelPackageGroupName}",
                "ModelPackageDescription": "States.Format('Conveyor run {} ({} trigger)', $.run_id, $.trigger)",
                # Approved, or PendingManualApproval with ApprovalMode=manual (approval.py waits for it).
                "ModelApprovalStatus": "${ModelApprovalStatus}",
                "InferenceSpecification": {
                    "Containers": [{"Image": f"{ARTIFACT}.image", "ModelDataUrl": f"{ARTIFACT}.uri"}],
                    "SupportedContentTypes": f"States.Array({FAMILY}.content_type)",
                    "SupportedResponseMIMETypes": f"States.Array({FAMILY}.content_type)",
                },
                # The training baseline in Model Monitor's formats: what the drift monitor compares traffic with.
                "ModelMetrics": {"ModelDataQuality": _BASELINE},
                "DriftCheckBaselines": {"ModelDataQuality": _BASELINE},
                # The gate's lineage, what serves, and where the non-regression report is.
                "CustomerMetadataProperties": (
                    f"States.JsonMerge(States.JsonMerge($.gate.package_metadata, {ARTIFACT}.package_metadata, "
                    "false), $.nonreg.package_metadata, false)"
                ),
            },
            result_selector={
                "ModelPackageArn": "$.ModelPackageArn",
                "approval_status": "${ModelApprovalStatus}",
                # A Number parameter arrives as text; the wait's TimeoutSecondsPath needs an integer.
                "approval_timeout": "States.StringToJson('${ApprovalTimeoutSeconds}')",
            },
            result_path=REGISTRY,
            catch=fail_run(),
            next_state="NeedsApproval",
        ),
    }
