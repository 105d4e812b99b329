"""The non-regression comparison: largest answer change, decisions flipped, and the verdict."""

from __future__ import annotations

import pytest

from conveyor_core.release import non_regression
from conveyor_core.release.history import DeploymentRecord, DeploymentStatus
from conveyor_core.release.latency_regression import LatencyComparison
from conveyor_core.shared.settings import NonRegressionPlanSettings


def settings(**values: str) -> NonRegressionPlanSettings:
    base = {
        "MODEL_NAME": "churn",
        "HISTORY_TABLE": "h",
        "ARTIFACT_BUCKET": "art",
        "ENDPOINT_INSTANCE_TYPE": "ml.c5.large",
    }
    return NonRegressionPlanSettings(**{**base, **values})


NOT_TIMED = LatencyComparison(not_compared="the xgboost training container does not time its model")


def test_the_largest_change_and_the_flipped_decisions_are_counted() -> None:
    comparison = non_regression.compare("0.1\n0.6\n0.9\n0.49\n", "0.1\n0.4\n0.95\n0.51\n")
    assert comparison.rows == 4
    assert comparison.max_abs_diff == pytest.approx(0.2)
    assert comparison.worst_row == 2
    assert comparison.disagreement == pytest.approx(0.5), "rows 2 and 4 crossed 0.5"


def test_a_multiclass_answer_decides_by_its_top_class() -> None:
    comparison = non_regression.compare("0.7,0.2,0.1\n0.1,0.8,0.1\n", "0.6,0.3,0.1\n0.5,0.4,0.1\n")
    assert comparison.disagreement == pytest.approx(0.5)


def test_answers_of_different_lengths_are_an_error_not_a_verdict() -> None:
    with pytest.raises(ValueError, match="answered 2 and 1 rows"):
        non_regression.compare("0.1\n0.2\n", "0.1\n")


def test_the_verdict_names_each_threshold_crossed() -> None:
    comparison = non_regression.compare("0.1\n0.9\n", "0.6\n0.9\n")
    result = non_regression.verdict(
        settings(NON_REGRESSION_MAX_ABS_DIFF="0.3", NON_REGRESSION_MAX_DISAGREEMENT="0.2"),
        comparison,
        NOT_TIMED,
        "s3://r",
    )
    assert not result.passed
    assert "an answer moved by 0.5 (row 1) > 0.3" in result.reason
    assert "50.00% of the golden rows changed decision > 20.00%" in result.reason
    assert result.package_metadata == {"non_regression_report": "s3://r"}
    assert "latency not compared: the xgboost training container does not time its model" in result.reason
    assert non_regression.verdict(settings(), non_regression.compare("0.1\n", "0.1\n"), NOT_TIMED, "s3://r").passed


def test_the_plan_defaults_to_the_production_models_held_out_split() -> None:
    production = DeploymentRecord(
        pk="model#churn", sk="current", status=DeploymentStatus.IN_SERVICE, run_id="churn-prod", trigger="schedule",
        endpoint="e", endpoint_config="c", previous_endpoint_config="", model_name="churn-prod",
        model_package_arn="arn", metric_name="validation:auc", metric_value=0.9, dataset_uri="s3://d/k",
        dataset_sha256="x", compiled=True, strategy="create", recorded_at="2026-12-05T10:00:00Z",
        instance_type="ml.c5.xlarge",
    )  # fmt: skip
    planned = non_regression.plan(settings(), "churn-cand", production)
    assert planned.golden_uri == "s3://art/runs/churn-prod/data/validation/"
    assert (planned.production_model, planned.production_instance_type) == ("churn-prod", "ml.c5.xlarge")
    assert planned.candidate_model == "churn-cand-nr"
    assert planned.production_training_job == "churn-prod", "a training job is named after its run"
    custom = non_regression.plan(settings(GOLDEN_DATASET_URI="s3://data/golden/v1/"), "churn-cand", production)
    assert custom.golden_uri == "s3://data/golden/v1/"


@pytest.mark.parametrize(("text", "start"), [("$", 0), ("", 0), ("$[1:]", 1), ("$[2:]", 2)])
def test_the_offline_transform_runs_the_csv_filters_aws_documents(text: str, start: int) -> None:
    from localcloud.sagemaker_rules import csv_input_filter_start

    assert csv_input_filter_start({"InputFilter": text}) == start


@pytest.mark.parametrize("text", ["$[0,2]", "$.features", "$[1:3]"])
def test_any_other_filter_fails_the_job_rather_than_running_another_selection(text: str) -> None:
    from localcloud.sagemaker_rules import csv_input_filter_start

    with pytest.raises(ValueError, match="InputFilter"):
        csv_input_filter_start({"InputFilter": text})
