"""Neo compilation, polled: Step Functions has no .sync for it and SageMaker emits no event.

A compilation that fails, cannot start or outlives its polls is a warning, not a failure: the
run deploys the uncompiled model and says so (``compile.fallback``).
"""

from __future__ import annotations

from conveyor_core.release.polling import COMPILE_MAX_RUNTIME_SECONDS, COMPILE_WAITS
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, notify

COMPILE = "$.compile"
ARTIFACT = "$.artifact"
_JOB_NAME = "States.Format('{}-neo', $.run_id)"
_STATUS = "$.compile.job.CompilationJobStatus"
_NOT_STARTED = "CompileFailedToStart"
_NEXT = "PlanDeployment"


def _artifact(uri: str, image: str, compiled: bool, note: str, next_state: str) -> asl.State:
    """Which model the endpoint will serve, with the image that can run it."""
    return asl.pass_state(
        {"uri": uri, "image": image, "compiled": compiled, "note": note}, result_path=ARTIFACT, next_state=next_state
    )


def _fallback_reason(reason: str) -> asl.State:
    return asl.pass_state({"reason": reason}, result_path="$.compile_outcome", next_state="FallbackArtifact")


def states() -> dict[str, asl.State]:
    last_attempt = len(COMPILE_WAITS) - 1
    return {
        "CompileModel": asl.service_task(
            "aws-sdk:sagemaker:createCompilationJob",
            comment=f"Neo has no .sync integration and emits no EventBridge event, so the job is polled. The first "
            f"look comes at {COMPILE_WAITS[0] // 60} minutes, when a typical compilation is near its end; the waits "
            "add up to just past MaxRuntimeInSeconds, so the last poll always sees a final status.",
            parameters={
                "CompilationJobName": _JOB_NAME,
                "RoleArn": "${SageMakerRoleArn}",
                # The trained model's location, merged with what the model family tells Neo.
                "InputConfig": "States.JsonMerge($.training.ModelSource, $.preprocess.family.neo_input, false)",
                "OutputConfig": {
                    "S3OutputLocation": "States.Format('s3://${ArtifactBucket}/runs/{}/compiled/', $.run_id)",
                    "TargetDevice": "${NeoTargetDevice}",
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": COMPILE_MAX_RUNTIME_SECONDS},
            },
            result_selector={
                "CompilationJobArn": "$.CompilationJobArn",
                "attempt": 0,
                "wait": COMPILE_WAITS[0],
                "waits": list(COMPILE_WAITS),
            },
            result_path=COMPILE,
            catch=asl.catch_all(_NOT_STARTED, "$.compile_error"),
            next_state="WaitForCompilation",
        ),
        "WaitForCompilation": asl.wait("DescribeCompilation", seconds_path="$.compile.wait"),
        "DescribeCompilation": asl.service_task(
            "aws-sdk:sagemaker:describeCompilationJob",
            parameters={"CompilationJobName": _JOB_NAME},
            result_path="$.compile.job",
            catch=asl.catch_all(_NOT_STARTED, "$.compile_error"),
            next_state="CompilationDone",
        ),
        "CompilationDone": asl.choice(
            [
                asl.rule(
                    {
                        "And": [
                            asl.equals(_STATUS, "COMPLETED"),
                            {"Variable": "$.compile.job.InferenceImage", "IsPresent": True},
                        ]
                    },
                    "UseCompiledModelWithNeoImage",
                ),
                asl.rule(asl.equals(_STATUS, "COMPLETED"), "UseCompiledModel"),
                asl.rule(asl.equals_any(_STATUS, ("FAILED", "STOPPED", "STOPPING")), "CompileFallback"),
                asl.rule(
                    {"Variable": "$.compile.attempt", "NumericGreaterThanEquals": last_attempt}, "CompileTimedOut"
                ),
            ],
            "BackOffCompilation",
        ),
        "BackOffCompilation": asl.pass_state(
            {
                "CompilationJobArn": "$.compile.CompilationJobArn",
                "waits": "$.compile.waits",
                "attempt": "States.MathAdd($.compile.attempt, 1)",
                "wait": "States.ArrayGetItem($.compile.waits, States.MathAdd($.compile.attempt, 1))",
            },
            result_path=COMPILE,
            next_state="WaitForCompilation",
        ),
        "UseCompiledModelWithNeoImage": _artifact(
            "$.compile.job.ModelArtifacts.S3ModelArtifacts", "$.compile.job.InferenceImage", True, _STATUS, _NEXT
        ),
        "UseCompiledModel": _artifact(
            "$.compile.job.ModelArtifacts.S3ModelArtifacts", "$.preprocess.family.serving_image", True, _STATUS, _NEXT
        ),
        _NOT_STARTED: _fallback_reason(
            "States.Format('the compilation job could not be started or described: {}', $.compile_error.Cause)"
        ),
        "CompileTimedOut": _fallback_reason("the compilation job did not finish within the polling budget"),
        "CompileFallback": _fallback_reason(
            "States.Format('compilation job ended {}: {}', $.compile.job.CompilationJobStatus, "
            "$.compile.job.FailureReason)"
        ),
        "FallbackArtifact": _artifact(
            "$.training.ModelArtifacts",
            "$.preprocess.family.serving_image",
            False,
            "$.compile_outcome.reason",
            "FormatFallbackNotification",
        ),
        "FormatFallbackNotification": functions.FORMAT_NOTIFICATION.task(
            comment="A failed compilation is a warning, not a failure: the uncompiled model is deployed instead.",
            parameters={
                "event": EventType.COMPILE_FALLBACK.value,
                "model": "$.model",
                "execution": "$$.Execution.Id",
                "reason": "$.compile_outcome.reason",
                "details": {"target_device": "${NeoTargetDevice}", "model_artifact": "$.training.ModelArtifacts"},
            },
            result_path="$.fallback_message",
            catch=asl.catch_all(_NEXT, "$.fallback_message_error"),
            next_state="PublishFallbackNotification",
        ),
        "PublishFallbackNotification": notify.formatted_publish(
            "$.fallback_message", _NEXT, asl.catch_all(_NEXT, "$.fallback_message_error")
        ),
    }
