"""The non-regression gate: the candidate and the production model answer a golden dataset, compared.

Only when the quality gate compared with a production model: the first model has nothing to regress
from. ``PlanNonRegression`` names the golden dataset and the production model; the candidate becomes
a SageMaker model of its own (uncompiled, with the family's serving image) and both answer the
golden rows in batch transforms run side by side; ``CompareNonRegression`` decides and keeps the
report (``conveyor_core.release.non_regression``). A failing comparison ends in ``model.rejected``
with the report; a passing one records the report in the package's metadata.
"""

from __future__ import annotations

from typing import Any

from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, outcomes
from statemachines.builder.retrain.common import FINALIZE, MODEL, fail_run, run_details

PLAN = "$.nonreg_plan"
RESULT = "$.nonreg"
_NEXT = "ChooseServingTarget"


def _transform(name_suffix: str, model: str, instance_type: str, output: str) -> asl.State:
    state = asl.service_task(
        "sagemaker:createTransformJob.sync",
        parameters={
            "TransformJobName": f"States.Format('{{}}-{name_suffix}', $.run_id)",
            "ModelName": model,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{PLAN}.golden_uri"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {"S3OutputPath": output, "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
            "DataProcessing": {"InputFilter": f"{PLAN}.input_filter"},
        },
        result_path=None,
        catch=None,
        next_state="unused",
    )
    del state["Next"]
    state["End"] = True
    return state


def _branch(start: str, state: asl.State) -> dict[str, Any]:
    return {"StartAt": start, "States": {start: state}}


def states() -> dict[str, asl.State]:
    return {
        "NonRegressionNeeded": asl.choice(
            [asl.rule({"Variable": "$.gate.production", "IsNull": False}, "PlanNonRegression")],
            "NoNonRegression",
            comment="The first model has nothing to regress from.",
        ),
        "NoNonRegression": asl.pass_state(
            {"package_metadata": {"non_regression_report": "none: no model in production to compare with"}},
            result_path=RESULT,
            next_state=_NEXT,
        ),
        "PlanNonRegression": functions.PLAN_NON_REGRESSION.task(
            parameters={"run_id": "$.run_id"}, result_path=PLAN, catch=fail_run(), next_state="CreateCandidateModel"
        ),
        "CreateCandidateModel": asl.service_task(
            "sagemaker:createModel",
            parameters={
                "ModelName": f"{PLAN}.candidate_model",
                "PrimaryContainer": {
                    "Image": "$.preprocess.family.serving_image",
                    "ModelDataUrl": "$.training.ModelArtifacts",
                },
                "ExecutionRoleArn": "${SageMakerRoleArn}",
            },
            result_path=None,
            catch=fail_run(),
            next_state="AnswerGoldenDataset",
        ),
        "AnswerGoldenDataset": {
            "Type": "Parallel",
            "Comment": "Both models answer the golden rows in batch transforms, side by side.",
            "Branches": [
                _branch(
                    "CandidateAnswers",
                    _transform(
                        "nrc", f"{PLAN}.candidate_model", f"{PLAN}.candidate_instance_type", f"{PLAN}.candidate_output"
                    ),
                ),
                _branch(
                    "ProductionAnswers",
                    _transform(
                        "nrp",
                        f"{PLAN}.production_model",
                        f"{PLAN}.production_instance_type",
                        f"{PLAN}.production_output",
                    ),
                ),
            ],
            "ResultPath": None,
            "Catch": fail_run(),
            "Next": "CompareNonRegression",
        },
        "CompareNonRegression": functions.COMPARE_NON_REGRESSION.task(
            parameters={
                "run_id": "$.run_id",
                "family": "$.preprocess.family.name",
                "golden_uri": f"{PLAN}.golden_uri",
                "candidate_output": f"{PLAN}.candidate_output",
                "production_output": f"{PLAN}.production_output",
                "candidate_training_job": "$.training.TrainingJobName",
                "production_training_job": f"{PLAN}.production_training_job",
            },
            result_path=RESULT,
            catch=fail_run(),
            next_state="NonRegressionPassed",
        ),
        "NonRegressionPassed": asl.choice(
            [asl.rule({"Variable": f"{RESULT}.passed", "BooleanEquals": True}, _NEXT)], "NonRegressionRejectedOutcome"
        ),
        "NonRegressionRejectedOutcome": outcomes.outcome(
            EventType.MODEL_REJECTED,
            model=MODEL,
            reason=f"{RESULT}.reason",
            metrics={"candidate": "$.gate.candidate", "max_abs_diff": f"{RESULT}.max_abs_diff"},
            details={**run_details(), "non_regression_report": f"{RESULT}.report_uri"},
            next_state=FINALIZE,
        ),
    }
