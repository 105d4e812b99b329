"""An experiment's evaluations read each object once: the outcome ledger and the progress kept between them.

``OutcomeLedger`` folded batch by batch must give the arms one join of everything gives, whatever
order requests and outcomes arrive in; ``ExperimentProgress`` must hand each capture and
ground-truth object to exactly one evaluation, including one that lands late in an hour already
listed, and survive its round trip through S3 (moto).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor_core.experiments import outcomes, progress
from conveyor_core.experiments.arms import Arm
from conveyor_core.monitoring import capture, quality
from conveyor_core.release.deployment import CANDIDATE_VARIANT
from conveyor_core.shared.settings import ExperimentSettings
from tests.unit.conftest import ARTIFACT_BUCKET, DATA_BUCKET
from tests.unit.monitor_records import capture_line, truth_line

PRODUCTION = "primary"
ENDPOINT = "churn-endpoint"
STARTED = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def at(when: datetime) -> str:
    return f"{when:%Y-%m-%dT%H:%M:%SZ}"


def rows_of(lines: list[bytes]) -> capture.CapturedRows:
    found = capture.CapturedRows(features=0)
    capture.read_records(found, b"".join(lines))
    return found


def truth_of(lines: list[bytes]) -> quality.GroundTruth:
    truth = quality.GroundTruth()
    quality.read_ground_truth(truth, b"".join(lines))
    return truth


def traffic(rng: random.Random, requests: int) -> tuple[dict[str, list[bytes]], list[bytes]]:
    """Requests of both variants (some answering a batch of rows) and outcomes for most, plus strays."""
    captured: dict[str, list[bytes]] = {PRODUCTION: [], CANDIDATE_VARIANT: []}
    truth: list[bytes] = []
    for index in range(requests):
        variant = rng.choice([PRODUCTION, CANDIDATE_VARIANT])
        rows = rng.choice([1, 1, 1, 2])
        identity = f"r{index}"
        captured[variant].append(capture_line(identity, [rng.random() for _ in range(rows)], at(STARTED)))
        if rng.random() < 0.8:
            # Now and then a label count that does not match the answers: not scored, counted.
            labels = rows if rng.random() < 0.95 else rows + 1
            truth.append(truth_line(identity, [float(rng.random() < 0.3) for _ in range(labels)]))
    truth.extend(truth_line(f"stray-{index}", [1.0]) for index in range(rng.randint(0, 5)))
    truth.append(b"{broken\n")
    return captured, truth


def batches(rng: random.Random, lines: list[bytes], count: int) -> list[list[bytes]]:
    shuffled = lines[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.randint(0, len(shuffled)) for _ in range(count - 1))
    return [shuffled[start:end] for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]


@pytest.mark.parametrize("metric", ["reward", "accuracy"])
@pytest.mark.parametrize("seed", range(12))
def test_folding_batch_by_batch_gives_what_one_join_of_everything_gives(metric: outcomes.AbMetric, seed: int) -> None:
    rng = random.Random(seed)
    captured, truth = traffic(rng, requests=rng.randint(20, 200))
    whole = outcomes.join(metric, {variant: rows_of(lines) for variant, lines in captured.items()}, truth_of(truth))

    count = rng.randint(2, 7)
    # Outcomes often arrive before the capture file of their request: the batches are drawn independently.
    capture_batches = {variant: batches(rng, lines, count) for variant, lines in captured.items()}
    truth_batches = batches(rng, truth, count)
    ledger = outcomes.OutcomeLedger()
    for index in range(count):
        ledger.fold(
            metric,
            {variant: rows_of(capture_batches[variant][index]) for variant in captured},
            truth_of(truth_batches[index]),
        )
        # The ledger is saved and loaded between evaluations.
        ledger = outcomes.OutcomeLedger.model_validate_json(ledger.model_dump_json())
    folded = ledger.joined()

    for variant in captured:
        assert folded.arms[variant].n == whole.arms[variant].n
        assert folded.arms[variant].total == pytest.approx(whole.arms[variant].total, rel=1e-12)
        assert folded.arms[variant].squares == pytest.approx(whole.arms[variant].squares, rel=1e-12)
    assert (folded.unmatched_outcomes, folded.unscored, folded.unparsed_lines) == (
        whole.unmatched_outcomes,
        whole.unscored,
        whole.unparsed_lines,
    )
    assert folded.unparsed_lines == 1
    # Nothing joined stays behind: only requests without an outcome wait, and only stray outcomes.
    assert not set(ledger.waiting_requests) & set(ledger.waiting_outcomes)


def test_an_outcome_waits_for_its_request_and_is_scored_once_it_lands() -> None:
    ledger = outcomes.OutcomeLedger()
    ledger.fold("reward", {PRODUCTION: rows_of([]), CANDIDATE_VARIANT: rows_of([])}, truth_of([truth_line("c1", [1])]))
    assert ledger.joined().unmatched_outcomes == 1
    assert ledger.joined().arms[CANDIDATE_VARIANT] == Arm(CANDIDATE_VARIANT)

    ledger.fold(
        "reward",
        {PRODUCTION: rows_of([]), CANDIDATE_VARIANT: rows_of([capture_line("c1", [0.9], at(STARTED))])},
        truth_of([]),
    )

    joined = ledger.joined()
    assert joined.arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [1.0])
    assert joined.unmatched_outcomes == 0
    assert ledger.waiting_requests == {}
    assert ledger.waiting_outcomes == {}


def test_a_second_outcome_for_a_scored_request_is_unmatched_not_counted_twice() -> None:
    ledger = outcomes.OutcomeLedger()
    captured = {PRODUCTION: rows_of([capture_line("p1", [0.9], at(STARTED))]), CANDIDATE_VARIANT: rows_of([])}
    ledger.fold("reward", captured, truth_of([truth_line("p1", [1])]))
    ledger.fold("reward", {PRODUCTION: rows_of([]), CANDIDATE_VARIANT: rows_of([])}, truth_of([truth_line("p1", [0])]))

    joined = ledger.joined()
    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0])
    assert joined.unmatched_outcomes == 1


# --- which objects each evaluation reads (moto S3) --------------------------------------------------


def settings() -> ExperimentSettings:
    return ExperimentSettings.model_validate(
        {
            "MODEL_NAME": "churn",
            "HISTORY_TABLE": "history",
            "ENDPOINT_NAME": ENDPOINT,
            "DEPLOYMENT_STRATEGY": "bandit",
            "ARTIFACT_BUCKET": ARTIFACT_BUCKET,
            "DATA_BUCKET": DATA_BUCKET,
            "AB_METRIC": "reward",
        }
    )


def put_capture(s3: Any, variant: str, identity: str, when: datetime, suffix: str = "") -> str:
    key = f"capture/{ENDPOINT}/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S}-000-{identity}{suffix}.jsonl"
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=capture_line(identity, [0.7], at(when)))
    return key


def put_outcome(s3: Any, identity: str, value: float, written: datetime) -> str:
    key = f"ground-truth/{written:%Y/%m/%d/%H}/{written:%M-%S}-{identity}.jsonl"
    s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=truth_line(identity, [value]))
    return key


@pytest.fixture
def buckets(s3: Any) -> Any:
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.create_bucket(Bucket=DATA_BUCKET)
    return s3


@pytest.fixture
def gets(buckets: Any) -> list[str]:
    """The keys of every GetObject the client sends, in order."""
    keys: list[str] = []
    buckets.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: keys.append(params["Key"]))
    return keys


def evaluate(s3: Any, now: datetime) -> progress.ExperimentProgress:
    """One evaluation's reading: load the progress, fold what is new, save it, as the handler does."""
    key = progress.progress_key(ENDPOINT, "run-1")
    so_far = progress.load(s3, ARTIFACT_BUCKET, key)
    progress.advance(s3, so_far, settings(), STARTED, now)
    progress.save(s3, ARTIFACT_BUCKET, key, so_far)
    return so_far


def test_each_evaluation_reads_only_the_objects_that_landed_since_the_last(buckets: Any, gets: list[str]) -> None:
    s3 = buckets
    minute = timedelta(minutes=1)
    first = [
        put_capture(s3, CANDIDATE_VARIANT, "c1", STARTED + minute),
        put_capture(s3, PRODUCTION, "p1", STARTED + 2 * minute),
        put_outcome(s3, "c1", 1.0, STARTED + 3 * minute),
        put_outcome(s3, "p1", 0.0, STARTED + 3 * minute),
    ]
    one = evaluate(s3, STARTED + 10 * minute)
    assert sorted(key for key in gets if not key.startswith("experiments/")) == sorted(first)
    assert one.ledger.joined().arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [1.0])

    gets.clear()
    second = [
        put_capture(s3, CANDIDATE_VARIANT, "c2", STARTED + 11 * minute),
        put_capture(s3, PRODUCTION, "p2", STARTED + 12 * minute),
        put_outcome(s3, "c2", 1.0, STARTED + 13 * minute),
        put_outcome(s3, "p2", 1.0, STARTED + 13 * minute),
    ]
    two = evaluate(s3, STARTED + 20 * minute)

    assert sorted(key for key in gets if not key.startswith("experiments/")) == sorted(second)
    joined = two.ledger.joined()
    assert joined.arms[CANDIDATE_VARIANT] == Arm.of(CANDIDATE_VARIANT, [1.0, 1.0])
    assert joined.arms[PRODUCTION] == Arm.of(PRODUCTION, [0.0, 1.0])

    gets.clear()
    three = evaluate(s3, STARTED + 30 * minute)
    assert [key for key in gets if not key.startswith("experiments/")] == []
    assert three.ledger.joined().arms == joined.arms


def test_a_file_landing_late_in_an_hour_already_listed_is_still_read_once(buckets: Any, gets: list[str]) -> None:
    s3 = buckets
    put_capture(s3, CANDIDATE_VARIANT, "c1", STARTED + timedelta(minutes=5))
    evaluate(s3, STARTED + timedelta(hours=1, minutes=30))
    # A capture file of 10:20 lands after the evaluation of 11:30 had listed that hour, with its outcome.
    late = put_capture(s3, PRODUCTION, "p1", STARTED + timedelta(minutes=20), suffix="-late")
    outcome = put_outcome(s3, "p1", 1.0, STARTED + timedelta(hours=1, minutes=35))
    gets.clear()

    evaluated = evaluate(s3, STARTED + timedelta(hours=1, minutes=40))

    assert sorted(key for key in gets if not key.startswith("experiments/")) == sorted([late, outcome])
    assert evaluated.ledger.joined().arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0])


def test_keys_of_hours_no_listing_reaches_again_are_dropped_from_the_progress(buckets: Any) -> None:
    s3 = buckets
    early = put_capture(s3, CANDIDATE_VARIANT, "c1", STARTED + timedelta(minutes=5))
    evaluate(s3, STARTED + timedelta(minutes=30))
    recent = put_capture(s3, CANDIDATE_VARIANT, "c2", STARTED + timedelta(hours=5))

    evaluated = evaluate(s3, STARTED + timedelta(hours=5, minutes=10))

    cursor = evaluated.cursors[f"{ARTIFACT_BUCKET}/capture/{ENDPOINT}/{CANDIDATE_VARIANT}/"]
    # The next listing starts at 13:00 (LATE_DELIVERY before 15:10): 10:00's key is never listed again.
    assert early not in cursor.read
    assert recent in cursor.read
    assert cursor.listed_until == STARTED + timedelta(hours=5, minutes=10)


def test_until_the_candidate_answers_only_its_capture_is_read(buckets: Any, gets: list[str]) -> None:
    s3 = buckets
    production = put_capture(s3, PRODUCTION, "p0", STARTED + timedelta(minutes=1))
    put_outcome(s3, "p0", 1.0, STARTED + timedelta(minutes=2))

    waiting = evaluate(s3, STARTED + timedelta(minutes=10))

    assert production not in gets
    assert waiting.since is None
    assert waiting.ledger.joined().arms == {PRODUCTION: Arm(PRODUCTION), CANDIDATE_VARIANT: Arm(CANDIDATE_VARIANT)}

    put_capture(s3, CANDIDATE_VARIANT, "c1", STARTED + timedelta(minutes=11))
    put_capture(s3, PRODUCTION, "p1", STARTED + timedelta(minutes=12))
    put_outcome(s3, "p1", 1.0, STARTED + timedelta(minutes=13))

    started = evaluate(s3, STARTED + timedelta(minutes=20))

    # Production's request from before the candidate's first one is another period's traffic.
    assert started.since == STARTED + timedelta(minutes=11)
    assert started.ledger.joined().arms[PRODUCTION] == Arm.of(PRODUCTION, [1.0])


def test_the_progress_survives_its_round_trip_and_starts_fresh_when_there_is_none(buckets: Any) -> None:
    s3 = buckets
    key = progress.progress_key(ENDPOINT, "run-1")
    assert progress.load(s3, ARTIFACT_BUCKET, key) == progress.ExperimentProgress()
    # Another run's progress under a longer key is not this run's.
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key + ".old", Body=b"{}")
    assert progress.load(s3, ARTIFACT_BUCKET, key) == progress.ExperimentProgress()

    put_capture(s3, CANDIDATE_VARIANT, "c1", STARTED + timedelta(minutes=1))
    put_outcome(s3, "c1", 1.0, STARTED + timedelta(minutes=2))
    saved = evaluate(s3, STARTED + timedelta(minutes=5))

    assert progress.load(s3, ARTIFACT_BUCKET, key) == saved
    assert key == f"experiments/{ENDPOINT}/run-1/progress.json"
