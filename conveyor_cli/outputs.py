"""The stack outputs the CLI relies on, validated once when a target is resolved."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conveyor_cli.errors import CliError


class StackOutputs(BaseModel):
    """template.yaml's Outputs; ``extra="allow"`` keeps the ones no command uses for display."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    data_bucket_name: str = Field(alias="DataBucketName")
    notification_topic_arn: str = Field(alias="NotificationTopicArn")
    retrain_state_machine_arn: str = Field(alias="RetrainStateMachineArn")
    rollback_state_machine_arn: str = Field(alias="RollbackStateMachineArn")
    endpoint_name: str = Field(alias="EndpointName")
    history_table_name: str = Field(alias="HistoryTableName")
    # Stacks deployed before folder drops were tracked have no DropTable: status then lists none.
    drop_table_name: str | None = Field(default=None, alias="DropTableName")
    # Not in template.yaml's Outputs yet; used when a stack has them, looked up otherwise.
    scheduled_retrain_function_name: str | None = Field(default=None, alias="ScheduledRetrainFunctionName")
    model_name: str | None = Field(default=None, alias="ModelName")
    # Where manual approval's packages are registered; stacks from before it may lack the output.
    model_package_group_name: str | None = Field(default=None, alias="ModelPackageGroupName")
    # Where the drift monitor writes its reports; stacks from before drift monitoring have none.
    artifact_bucket_name: str | None = Field(default=None, alias="ArtifactBucketName")
    # Stacks from before model families trained built-in XGBoost.
    model_family: str = Field(default="xgboost", alias="ModelFamily")


def parse(raw: dict[str, str], where: str) -> StackOutputs:
    try:
        return StackOutputs.model_validate(raw)
    except ValidationError as error:
        missing = sorted(str(e["loc"][0]) for e in error.errors() if e["type"] == "missing")
        if missing:
            raise CliError(f"{where} lacks the outputs {', '.join(missing)}: is it a Conveyor stack?") from None
        raise CliError(f"{where} has unusable outputs: {error.errors()[0]['msg']}") from None
