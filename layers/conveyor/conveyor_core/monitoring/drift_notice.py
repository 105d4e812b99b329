"""The ``model.drift_detected`` notification: which features drift, by how much, against which baseline."""

from __future__ import annotations

from typing import Any

from conveyor_core.runs.retrain_newest import RetrainOutcome
from conveyor_core.shared.contracts import AlarmStateChangeDetail
from conveyor_core.shared.notifications import EventType, Notification

# The notification names the worst features; the report in S3 has them all.
LISTED_FEATURES = 10


def drift_notification(
    model: str, alarm: AlarmStateChangeDetail, report: dict[str, Any] | None, retrain: RetrainOutcome | None
) -> Notification:
    if report is None or report.get("status") != "ok":
        reason = f"the drift alarm {alarm.alarm_name} fired, but no monitoring report is readable: {alarm.state.reason}"
        features: list[dict[str, Any]] = []
    else:
        drifting = sorted(
            (f for f in report.get("features", []) if f.get("drifting")), key=lambda f: -float(f["distance"])
        )
        features = [
            {"feature": f["name"], "distance": round(float(f["distance"]), 4), "baseline_mean": f.get("baseline_mean"),
             "mean": f.get("mean")}
            for f in drifting[:LISTED_FEATURES]
        ]  # fmt: skip
        listed = ", ".join(f"{f['feature']} {f['distance']:.3f}" for f in features) or "none past the threshold"
        reason = (
            f"{len(drifting)} of {len(report.get('features', []))} features drift in {report.get('rows', 0)} captured "
            f"rows: {listed} (threshold {report.get('threshold')}; baseline {report.get('baseline_statistics_uri')})"
        )
    if retrain is not None:
        reason += "; retraining on the newest drop" if retrain.started else f"; not retrained: {retrain.reason}"
    details: dict[str, Any] = {
        "alarm": alarm.alarm_name,
        "drifting_features": features,
        "threshold": report.get("threshold") if report else None,
        "baseline": report.get("baseline_statistics_uri") if report else None,
        "report": report.get("report_uri") if report else None,
        "captured_rows": report.get("rows") if report else None,
        "window_start": report.get("window_start") if report else None,
    }
    if retrain is not None:
        details["retrain"] = {"started": retrain.started, "reason": retrain.reason, "run": retrain.admission}
    return Notification(event=EventType.MODEL_DRIFT_DETECTED, model=model, reason=reason, details=details)
