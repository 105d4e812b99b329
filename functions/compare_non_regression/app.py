"""Compare the candidate's and the production model's answers and latencies; keep the report."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from conveyor_core.release import latency_regression, non_regression
from conveyor_core.shared import aws_clients
from conveyor_core.shared.contracts import NonRegressionInput
from conveyor_core.shared.settings import NonRegressionSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
s3 = aws_clients.client("s3")
sagemaker = aws_clients.client("sagemaker")


def _answers(prefix: str) -> str:
    """Every ``.out`` object the transform wrote under ``prefix``, in key order (one per golden object)."""
    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    parts = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".out"):
                parts.append(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode())
    return "\n".join(parts)


def _timed_job(name: str) -> latency_regression.TimedJob | None:
    """A training job's instance type and printed timings; None when the job is gone."""
    try:
        job = sagemaker.describe_training_job(TrainingJobName=name)
    except ClientError as error:
        # SageMaker answers a missing training job with ValidationException, not ResourceNotFound.
        if error.response["Error"]["Code"] == "ValidationException" and "not found" in str(error):
            return None
        raise
    return latency_regression.TimedJob(job["ResourceConfig"]["InstanceType"], job.get("FinalMetricDataList", []))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@event_parser(model=NonRegressionInput)
def lambda_handler(event: NonRegressionInput, context: LambdaContext) -> dict[str, Any]:
    settings = load(NonRegressionSettings)
    comparison = non_regression.compare(_answers(event.candidate_output), _answers(event.production_output))
    candidate = _timed_job(event.candidate_training_job)
    if candidate is None:
        raise ValueError(f"the candidate's training job {event.candidate_training_job} is not found")
    latency = latency_regression.compare(candidate, _timed_job(event.production_training_job), event.family)
    key = f"runs/{event.run_id}/non-regression/report.json"
    body = non_regression.report(settings, comparison, latency, event.golden_uri)
    s3.put_object(Bucket=settings.artifact_bucket, Key=key, Body=body.encode(), ContentType="application/json")
    result = non_regression.verdict(settings, comparison, latency, f"s3://{settings.artifact_bucket}/{key}")
    logger.info("non-regression compared", extra={"passed": result.passed, "reason": result.reason})
    return result.model_dump()
