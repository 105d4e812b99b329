"""Neo compilation, as the run's compilation plan says, polled: there is no .sync and no event for it.

``Preprocess`` plans it for the configured instance type (``conveyor_core.release.compilation``)
and ``ChooseServingTarget`` keeps that plan or, following the target advisor, replans it: compile
for the endpoint's instance family and serve the result with the image ``DescribeCompilationJob``
names; compile for an edge device and only publish the result; or not compile, because Neo does
not take this model for this target. A compilation that fails, cannot start or outlives its polls
is a warning, not a failure: the run deploys the uncompiled model and says so
(``compile.fallback``). Whichever happens, the artefact the endpoint will serve, with the image
that runs it, ends up at ``$.artifact``.
"""

from __future__ import annotations

from conveyor_core.release.polling import COMPILE_MAX_RUNTIME_SECONDS, COMPILE_WAITS
from conveyor_core.shared.notifications import EventType
from statemachines.builder import asl, functions, notify
from statemachines.builder.retrain.common import fail_run

COMPILE = "$.compile"
SERVING = "$.serving"
ARTIFACT = "$.artifact"
PLAN = "$.serving.compilation"
_SERVING_IMAGE = "$.serving.serving_image"
_UNCOMPILED = "$.training.ModelArtifacts"
_COMPILED = "$.compile.job.ModelArtifacts.S3ModelArtifacts"
_JOB_NAME = "States.Format('{}-neo', $.run_id)"
_STATUS = "$.compile.job.CompilationJobStatus"
_NOT_STARTED = "CompileFailedToStart"
_NEXT = "EnsureModelPackageGroup"
# The poll counter and schedule every compilation starts with; BackOffCompilation moves along it.
FIRST_COMPILE_POLL = {"attempt": 0, "wait": COMPILE_WAITS[0], "waits": list(COMPILE_WAITS)}


def _artifact(uri: str, image: str, compiled: bool, note: str, next_state: str, published: str = "") -> asl.State:
    """Which model the endpoint will serve, with the image that runs it, and what the package records."""
    return asl.pass_state(
        {
            "uri": uri,
            "image": image,
            "compiled": compiled,
            "note": note,
            # An edge device's artefact: compiled, published, never served here.
            "published": published,
            "package_metadata": {
                "served_artifact": uri,
                "serving_image": image,
                "compiled": "true" if compiled else "false",
                "neo_target": f"{PLAN}.target_device",
            },
        },
        result_path=ARTIFACT,
        next_state=next_state,
    )


def _fallback_reason(reason: str) -> asl.State:
    return asl.pass_state({"reason": reason}, result_path="$.compile_outcome", next_state="FallbackArtifact")


def _polling() -> dict[str, asl.State]:
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
                    "TargetDevice": f"{PLAN}.target_device",
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": COMPILE_MAX_RUNTIME_SECONDS},
            },
            result_selector=FIRST_COMPILE_POLL,
            result_path=COMPILE,
            catch=[
                # A retry after a lost answer: the first attempt started the job, which is the run's own.
                {
                    "ErrorEquals": ["SageMaker.ResourceInUseException"],
                    "ResultPath": "$.compile_error",
                    "Next": "CompilationAlreadyStarted",
                },
                *asl.catch_all(_NOT_STARTED, "$.compile_error"),
            ],
            next_state="WaitForCompilation",
        ),
        "CompilationAlreadyStarted": asl.pass_state(
            FIRST_COMPILE_POLL, result_path=COMPILE, next_state="WaitForCompilation"
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
                            {"Variable": f"{PLAN}.serve", "BooleanEquals": True},
                            {"Variable": "$.compile.job.InferenceImage", "IsPresent": True},
                        ]
                    },
                    "UseCompiledModel",
                ),
                asl.rule(
                    {
                        "And": [
                            asl.equals(_STATUS, "COMPLETED"),
                            {"Variable": f"{PLAN}.serve", "BooleanEquals": False},
                        ]
                    },
                    "PublishCompiledModel",
                ),
                asl.rule(asl.equals(_STATUS, "COMPLETED"), "CompiledWithoutImage"),
                asl.rule(asl.equals_any(_STATUS, ("FAILED", "STOPPED", "STOPPING")), "CompileFallback"),
                asl.rule(
                    {"Variable": "$.compile.attempt", "NumericGreaterThanEquals": last_attempt}, "CompileTimedOut"
                ),
            ],
            "BackOffCompilation",
        ),
        "BackOffCompilation": asl.pass_state(
            {
                "waits": "$.compile.waits",
                "attempt": "States.MathAdd($.compile.attempt, 1)",
                "wait": "States.ArrayGetItem($.compile.waits, States.MathAdd($.compile.attempt, 1))",
            },
            result_path=COMPILE,
            next_state="WaitForCompilation",
        ),
    }


def _fallback() -> dict[str, asl.State]:
    return {
        _NOT_STARTED: _fallback_reason(
            "States.Format('the compilation job could not be started or described: {}', $.compile_error.Cause)"
        ),
        "CompileTimedOut": _fallback_reason("the compilation job did not finish within the polling budget"),
        "CompileFallback": _fallback_reason(
            "States.Format('compilation job ended {}: {}', $.compile.job.CompilationJobStatus, "
            "$.compile.job.FailureReason)"
        ),
        # A compiled model runs only in the image Neo made for it; without one it cannot be served.
        "CompiledWithoutImage": _fallback_reason(
            "States.Format('Neo compiled for {} but named no inference image to serve it with', "
            f"{PLAN}.target_device)"
        ),
        "FallbackArtifact": _artifact(
            _UNCOMPILED, _SERVING_IMAGE, False, "$.compile_outcome.reason", "FormatFallbackNotification"
        ),
        "FormatFallbackNotification": functions.FORMAT_NOTIFICATION.task(
            comment="A failed compilation is a warning, not a failure: the uncompiled model is deployed instead.",
            parameters={
                "event": EventType.COMPILE_FALLBACK.value,
                "model": "$.model",
                "execution": "$$.Execution.Id",
                "reason": "$.compile_outcome.reason",
                "details": {"target_device": f"{PLAN}.target_device", "model_artifact": _UNCOMPILED},
            },
            result_path="$.fallback_message",
            catch=asl.catch_all(_NEXT, "$.fallback_message_error"),
            next_state="PublishFallbackNotification",
        ),
        "PublishFallbackNotification": notify.formatted_publish(
            "$.fallback_message", _NEXT, asl.catch_all(_NEXT, "$.fallback_message_error")
        ),
    }


def states() -> dict[str, asl.State]:
    return {
        "ChooseServingTarget": functions.CHOOSE_SERVING_TARGET.task(
            comment="The stack's instance type, or the target advisor's choice from the latencies training measured.",
            parameters={
                "run_id": "$.run_id",
                "training_job_name": "$.training.TrainingJobName",
                "family": "$.preprocess.family",
            },
            result_path=SERVING,
            catch=fail_run(),
            next_state="ShouldCompile",
        ),
        "ShouldCompile": asl.choice(
            [asl.rule({"Variable": f"{PLAN}.compile", "BooleanEquals": True}, "CompileModel")],
            "NotCompiled",
            comment="The serving target's plan, made with the model family: what Neo takes, for which target.",
        ),
        "NotCompiled": _artifact(_UNCOMPILED, _SERVING_IMAGE, False, f"{PLAN}.reason", _NEXT),
        **_polling(),
        "UseCompiledModel": _artifact(_COMPILED, "$.compile.job.InferenceImage", True, f"{PLAN}.reason", _NEXT),
        "PublishCompiledModel": _artifact(
            _UNCOMPILED, _SERVING_IMAGE, False, f"{PLAN}.reason", _NEXT, published=_COMPILED
        ),
        **_fallback(),
    }
