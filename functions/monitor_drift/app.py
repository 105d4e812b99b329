"""Every hour (EventBridge Scheduler): captured traffic against the production model's baseline (drift),
and, where labels have arrived, its predictions against them (live quality)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from conveyor_core.intake import s3_io
from conveyor_core.monitoring import monitor, quality
from conveyor_core.release import history
from conveyor_core.shared import aws_clients, notifications
from conveyor_core.shared.contracts import ScheduledInvocation
from conveyor_core.shared.notifications import EventType, Notification
from conveyor_core.shared.settings import MonitorSettings, load

logger = Logger()
tracer = Tracer(patch_modules=aws_clients.TRACED_LIBRARIES)
# Model Monitor's metric names, in a namespace of the stack's own: "AWS/" is reserved for AWS services.
metrics = Metrics(namespace="Conveyor/DataQuality")
s3 = aws_clients.client("s3")
dynamodb = aws_clients.client("dynamodb")
sns = aws_clients.client("sns")
cloudwatch = aws_clients.client("cloudwatch")


def _run_at(at: datetime) -> str:
    """The run's scheduled time, fixed-width UTC: reports compare by it as text."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _latest_key(settings: MonitorSettings) -> str:
    return monitor.latest_report_key(settings.endpoint_name, settings.report_prefix)


def _already_reported(settings: MonitorSettings, run_id: str) -> bool:
    """Whether the last run already failed for this model: one notification per model, not one an hour."""
    try:
        latest = monitor.read_json(s3, f"s3://{settings.artifact_bucket}/{_latest_key(settings)}")
    except s3.exceptions.NoSuchKey:
        return False
    return latest.get("status") == "failed" and latest.get("model_run") == run_id


def _make_latest(settings: MonitorSettings, document: dict[str, Any]) -> None:
    if not monitor.put_latest(s3, settings.artifact_bucket, _latest_key(settings), document):
        logger.info("a later run's report is already the latest", extra={"run_at": document["run_at"]})


def _failed(settings: MonitorSettings, run_id: str, reason: str, at: datetime) -> dict[str, Any]:
    if not _already_reported(settings, run_id):
        notifications.publish(
            sns,
            settings.topic_arn,
            Notification(
                event=EventType.MONITORING_FAILED,
                model=settings.model_name,
                reason=reason,
                details={"endpoint": settings.endpoint_name, "model_run": run_id},
            ),
        )
    document = {"status": "failed", "model_run": run_id, "reason": reason, "run_at": _run_at(at)}
    _make_latest(settings, document)
    logger.warning("drift monitoring failed", extra=document)
    return document


def _publish_live_quality(settings: MonitorSettings, live: quality.LiveQuality | None) -> None:
    """The live metric, exactly where the template's quality alarm reads it: no service dimension."""
    if live is None or live.value is None:
        return
    cloudwatch.put_metric_data(
        Namespace="Conveyor/ModelQuality",
        MetricData=[
            {
                "MetricName": f"live_{live.metric}",
                "Dimensions": [{"Name": "EndpointName", "Value": settings.endpoint_name}],
                "Value": live.value,
                "Unit": "None",
            }
        ],
    )


def _emit(settings: MonitorSettings, result: monitor.MonitorRun) -> None:
    metrics.add_dimension(name="Endpoint", value=settings.endpoint_name)
    report = result.report
    metrics.add_metric(name="captured_rows", unit=MetricUnit.Count, value=report.rows)
    metrics.add_metric(name="unparsed_capture_lines", unit=MetricUnit.Count, value=report.skipped["unparsed_lines"])
    if not report.judged:
        return  # too few rows to tell drift from noise: no drift figures, so the alarm keeps its state
    metrics.add_metric(name="max_feature_baseline_drift", unit=MetricUnit.NoUnit, value=report.max_distance)
    metrics.add_metric(name="drifting_features", unit=MetricUnit.Count, value=len(report.drifting))
    for feature in report.features:
        metrics.add_metric(
            name=f"feature_baseline_drift_{feature.name}", unit=MetricUnit.NoUnit, value=feature.distance
        )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=ScheduledInvocation)
def lambda_handler(event: ScheduledInvocation, context: LambdaContext) -> dict[str, Any]:
    settings = load(MonitorSettings)
    record = history.current(dynamodb, settings.history_table, settings.model_name)
    if record is None:
        logger.info("no model in production: nothing to monitor")
        return {"status": "idle"}
    at = datetime.fromisoformat(event.scheduled_time.replace("Z", "+00:00"))
    try:
        result = monitor.run(
            s3,
            record,
            settings.artifact_bucket,
            f"{settings.capture_prefix}{settings.endpoint_name}/",
            at,
            settings.window_seconds,
            settings.min_rows,
            ground_truth=monitor.GroundTruthSource(
                settings.data_bucket,
                f"{settings.ground_truth_prefix}",
                quality.live_metric_name(settings.quality_metric),
                settings.ground_truth_min_rows,
            ),
        )
    except monitor.BaselineMissingError as error:
        return _failed(settings, record.run_id, str(error), at)
    _emit(settings, result)
    _publish_live_quality(settings, result.quality)
    prefix = monitor.run_report_prefix(settings.endpoint_name, at, settings.report_prefix)
    s3_io.put_json(
        s3, settings.artifact_bucket, f"{prefix}constraint_violations.json", result.report.constraint_violations()
    )
    document = {
        "status": "ok",
        "run_at": _run_at(at),
        "report_uri": f"s3://{settings.artifact_bucket}/{prefix}",
        **result.as_dict(),
    }
    s3_io.put_json(s3, settings.artifact_bucket, f"{prefix}report.json", document)
    _make_latest(settings, document)
    logger.info(
        "drift monitored",
        extra={k: document[k] for k in ("rows", "judged", "max_distance", "drifting_features", "capture_objects")},
    )
    keys = ("status", "rows", "judged", "max_distance", "drifting_features", "report_uri", "live_quality")
    return {k: document[k] for k in keys}
