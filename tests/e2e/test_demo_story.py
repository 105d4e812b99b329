"""`make demo` as a test: the eight-step story, with assertions on every notification and the end state."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from conveyor_cli.demo import DemoReport, run_demo
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report() -> DemoReport:
    return run_demo(Console(file=io.StringIO(), width=120), time_scale=TIME_SCALE)


def test_every_step_ends_in_its_expected_outcome(report: DemoReport) -> None:
    assert [step.outcome for step in report.steps] == [
        "pipeline.succeeded",
        "pipeline.succeeded",
        "model.rejected",
        "deployment.rolled_back",
        "retrain.skipped",
        "model.drift_detected",
        "pipeline.succeeded",
        "pipeline.succeeded",
    ]


def test_the_notifications_are_exactly_the_story_in_order(report: DemoReport) -> None:
    assert [note.event for note in report.notifications] == [
        "pipeline.succeeded",
        "pipeline.succeeded",
        "model.rejected",
        "pipeline.succeeded",
        "deployment.rolled_back",
        "retrain.skipped",
        "model.drift_detected",
        "pipeline.succeeded",
        "pipeline.succeeded",
        "pipeline.succeeded",
    ]
    for note in report.notifications:
        assert note.body["model"] == "tabular"
        assert note.subject.startswith("[Conveyor] tabular")
        assert note.attributes["event"] == note.event


def test_the_deep_model_is_compiled_for_the_gpu_instance_that_serves_it(report: DemoReport) -> None:
    deep = report.notifications[7]
    assert "compiled with Neo for ml_g4dn and served on ml.g4dn.xlarge" in deep.body["reason"]
    assert deep.body["details"]["serving_image"].endswith("/sagemaker-inference-pytorch:2.0-gpu-py3")


def test_the_canary_and_the_gate_report_their_reasons(report: DemoReport) -> None:
    _first, second, rejected, faulty, rolled_back, skipped, _drift, _deep, _first_bandit, _won = report.notifications
    assert "(canary)" in second.body["reason"]
    assert "rejected" in rejected.body["reason"]
    assert "validation:auc" in rejected.body["reason"]
    assert "(canary)" in faulty.body["reason"]
    assert "conveyor-tabular-5xx" in rolled_back.body["reason"]
    assert report.faulty_config in rolled_back.body["reason"]
    assert report.good_config in rolled_back.body["reason"]
    assert "rolled back" in skipped.body["reason"]


def test_the_endpoint_ends_on_the_last_good_model(report: DemoReport) -> None:
    assert report.endpoint["EndpointStatus"] == "InService"
    assert report.endpoint["EndpointConfigName"] == report.good_config
    assert report.good_config != report.faulty_config


def test_real_predictions_were_served_and_the_alarm_saw_real_errors(report: DemoReport) -> None:
    assert len(report.served) == 5
    assert all(0.0 <= float(p) <= 1.0 for p in report.served)
    faulty_step = report.steps[3]
    assert faulty_step.requests > 0
    assert faulty_step.errors_5xx >= 1
    assert sum(step.errors_5xx for step in report.steps if step is not faulty_step) == 0


def test_the_state_machines_took_the_expected_paths(report: DemoReport) -> None:
    create, canary, rejected, faulty, skipped, drift, deep, bandit = (step.transitions for step in report.steps)
    # A canary update polls and bakes as long as a first deployment creates; the first run also creates the
    # model package group (CreateModelPackageGroup after the failed describe).
    assert create <= canary + 1
    assert rejected < create
    assert faulty > canary  # the pipeline run plus the rollback execution
    assert skipped == 0  # the scheduled run never started an execution
    assert drift == 0  # DriftAction=notify starts no run
    assert deep > rejected  # a whole pipeline to an endpoint (its poll counts vary with the machine)
    assert bandit > canary  # a first deployment, then the experiment's evaluations and the promotion


def test_the_shifted_features_are_the_ones_the_drift_notification_names(report: DemoReport) -> None:
    drift = report.notifications[6]
    named = [f["feature"] for f in drift.body["details"]["drifting_features"]]
    assert set(named) == {"_c0", "_c2"}, "only the shifted features drift"
    assert all(f["distance"] > 0.1 for f in drift.body["details"]["drifting_features"])
    assert report.drift["simulated_seconds"] >= 3600, "the hourly monitor saw the shift"


def test_the_bandit_step_promotes_the_candidate_the_client_converts_better_on(report: DemoReport) -> None:
    won = report.notifications[-1]
    assert "(bandit): bandit: the candidate is better" in won.body["reason"]
    verdict = won.body["details"]["experiment"]
    assert verdict["decision"] == "promote"
    assert verdict["ci_low"] > 0
    assert verdict["probability_candidate_best"] >= 0.95
    assert verdict["candidate_share"] > 0.5, "Thompson sampling moved traffic to the better variant"


def test_the_larger_drop_went_through_processing_and_distributed_training(report: DemoReport) -> None:
    assert report.large_drop == {"processing_instances": 2, "training_instances": 2}
