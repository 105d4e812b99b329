"""What Step Functions' optimized integrations do with the state machine's role besides the call.

For ``arn:aws:states:::sagemaker:createTrainingJob`` Step Functions also reads the job's tags
(``sagemaker:ListTags``); with ``.sync`` it manages the EventBridge rule that reports the job's end
(``events:PutTargets``, ``PutRule``, ``DescribeRule`` on
``rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule``), polls ``DescribeTrainingJob`` and
stops the job when the execution stops (``StopTrainingJob``), all as the state machine's role
(https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html). The offline interpreter
makes none of these calls but the Describe, so they are checked with the Create call, when the
machine's definition uses the integration.
"""

from __future__ import annotations

from localcloud.iam import lookups
from localcloud.iam.actions import Authorization, Call
from localcloud.iam.policies import Principal

# (service, operation) -> (integration API, .sync rule, job resource type, name parameter, .sync actions)
_JOBS = {
    ("sagemaker", "CreateTrainingJob"): (
        "createTrainingJob",
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "training-job",
        "TrainingJobName",
        ("sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"),
    ),
    ("sagemaker", "CreateProcessingJob"): (
        "createProcessingJob",
        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
        "processing-job",
        "ProcessingJobName",
        ("sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"),
    ),
    ("sagemaker", "CreateTransformJob"): (
        "createTransformJob",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        "transform-job",
        "TransformJobName",
        ("sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"),
    ),
}
_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")


def implied(principal: Principal, call: Call) -> list[Authorization]:
    """The integration's own authorizations for this call, when a state machine makes it."""
    job = _JOBS.get((call.service, call.operation))
    kind, _, name = principal.caller.partition(":")
    if job is None or kind != "states":
        return []
    api, rule, resource_type, name_param, sync_actions = job
    definition = str(lookups.state_machine(name).definition)
    optimized = f":states:::sagemaker:{api}"
    if optimized not in definition:
        return []  # an aws-sdk task: the SDK call alone
    found = [Authorization("sagemaker:ListTags", "*")]
    if f"{optimized}.sync" in definition:
        rule_arn = call.arn("events", f"rule/{rule}")
        found += [Authorization(action, rule_arn) for action in _RULE_ACTIONS]
        job_arn = call.arn("sagemaker", f"{resource_type}/{call.params[name_param].lower()}")
        found += [Authorization(action, job_arn) for action in sync_actions]
    return found
