"""The Lambda functions the state machines call, with the documents they take and give back.

Each entry ties a ``DefinitionSubstitutions`` placeholder to the function's pydantic input and
output models, so the contract tests can check every JSONPath the ASL reads from a result, and
every task's ``Parameters``, against the model the handler really validates or returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from conveyor_core.shared.contracts import (
    DeploymentPlanOutput,
    ExperimentInput,
    ExperimentOutput,
    FinalizeInput,
    FinalizeOutput,
    GateInput,
    GateOutput,
    NonRegressionInput,
    NonRegressionOutput,
    NonRegressionPlan,
    NonRegressionPlanInput,
    NotificationInput,
    PipelineInput,
    PlanDeploymentInput,
    PreprocessOutput,
    PublishRequest,
    RollbackInput,
    RollbackPlanOutput,
    ServingTarget,
    ServingTargetInput,
)
from statemachines.builder import asl, retries


@dataclass(frozen=True)
class Function:
    placeholder: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]

    @property
    def resource(self) -> str:
        return f"${{{self.placeholder}}}"

    def task(
        self,
        *,
        next_state: str,
        result_path: str,
        catch: list[dict[str, Any]],
        parameters: dict[str, Any] | None = None,
        input_path: str | None = None,
        comment: str | None = None,
    ) -> asl.State:
        return asl.task(
            self.resource,
            comment=comment,
            input_path=input_path,
            parameters=asl.fields(parameters) if parameters is not None else None,
            result_path=result_path,
            retry=retries.LAMBDA,
            catch=catch,
            next_state=next_state,
        )


PREPROCESS = Function("PreprocessFunctionArn", PipelineInput, PreprocessOutput)
QUALITY_GATE = Function("QualityGateFunctionArn", GateInput, GateOutput)
PLAN_NON_REGRESSION = Function("PlanNonRegressionFunctionArn", NonRegressionPlanInput, NonRegressionPlan)
COMPARE_NON_REGRESSION = Function("CompareNonRegressionFunctionArn", NonRegressionInput, NonRegressionOutput)
CHOOSE_SERVING_TARGET = Function("ChooseServingTargetFunctionArn", ServingTargetInput, ServingTarget)
PLAN_DEPLOYMENT = Function("PlanDeploymentFunctionArn", PlanDeploymentInput, DeploymentPlanOutput)
FINALIZE_RUN = Function("FinalizeRunFunctionArn", FinalizeInput, FinalizeOutput)
FORMAT_NOTIFICATION = Function("FormatNotificationFunctionArn", NotificationInput, PublishRequest)
PLAN_ROLLBACK = Function("PlanRollbackFunctionArn", RollbackInput, RollbackPlanOutput)
EVALUATE_EXPERIMENT = Function("EvaluateExperimentFunctionArn", ExperimentInput, ExperimentOutput)

ALL = (
    PREPROCESS,
    QUALITY_GATE,
    PLAN_NON_REGRESSION,
    COMPARE_NON_REGRESSION,
    CHOOSE_SERVING_TARGET,
    PLAN_DEPLOYMENT,
    FINALIZE_RUN,
    FORMAT_NOTIFICATION,
    PLAN_ROLLBACK,
    EVALUATE_EXPERIMENT,
)


def by_resource(resource: str) -> Function | None:
    return next((function for function in ALL if function.resource == resource), None)
