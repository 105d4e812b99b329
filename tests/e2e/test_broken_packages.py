"""Build output never breaks the offline cloud, and a function that cannot import still reaches a person.

Issue 15, "Build output never breaks the offline cloud": after `make build` the offline cloud
used to load `.aws-sam/build`'s arm64 / Python 3.13 layer and every function failed to import,
dead letters included, with nobody told. Now the cloud runs the sources unless asked for a build,
refuses a build made for another platform, and a function that cannot import ends its drop in
``pipeline.failed`` with the cause.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import ForeignBuildError, OfflineCloud, check_build_platform
from localcloud.datasets import breast_cancer_csv
from tests.conftest import TIME_SCALE

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_a_build_for_another_platform_is_refused_with_what_it_was_built_for(tmp_path: Path) -> None:
    layer = tmp_path / "build" / "ConveyorLayer" / "python" / "pydantic_core"
    layer.mkdir(parents=True)
    (layer / "_pydantic_core.cpython-313-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")

    with pytest.raises(ForeignBuildError, match=r"cpython-313-aarch64-linux-gnu\.so.*runs the sources instead"):
        check_build_platform(tmp_path / "build")


def test_the_default_cloud_ignores_a_sam_build_next_to_the_template(tmp_path: Path) -> None:
    stack = copy_stack(tmp_path)
    foreign = stack / ".aws-sam" / "build" / "ConveyorLayer" / "python" / "pydantic_core"
    foreign.mkdir(parents=True)
    (foreign / "_pydantic_core.cpython-313-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")

    assert OfflineCloud(template=stack / "template.yaml").build_dir is None


def copy_stack(root: Path) -> Path:
    stack = root / "stack"
    stack.mkdir()
    shutil.copy(REPO / "template.yaml", stack / "template.yaml")
    for folder in ("functions", "layers", "statemachines"):
        shutil.copytree(REPO / folder, stack / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return stack


def test_an_ingest_that_cannot_import_ends_the_drop_in_pipeline_failed_with_the_cause(tmp_path: Path) -> None:
    stack = copy_stack(tmp_path)
    # What a package built for another platform does to a handler: its first import fails.
    app = stack / "functions" / "ingest" / "app.py"
    app.write_text(app.read_text() + "\nimport pydantic_core_built_for_arm64  # noqa: E402, F401\n")
    cloud = OfflineCloud(template=stack / "template.yaml", time_scale=TIME_SCALE).start()
    try:
        cloud.upload("incoming/broken.csv", breast_cancer_csv(rows=60))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not cloud.notifications():
            time.sleep(0.1)
        [note] = cloud.notifications()
    finally:
        cloud.stop()

    assert note.event == "pipeline.failed"
    assert note.body["details"]["stage"] == "ingest"
    assert "Runtime.ImportModuleError" in note.body["reason"]
    assert "pydantic_core_built_for_arm64" in note.body["reason"]


def test_when_the_dead_letter_notifier_cannot_import_either_cloudwatch_itself_tells_the_topic(tmp_path: Path) -> None:
    """The same broken layer breaks the notifier too: the dead-letter alarm publishes with no Lambda in between."""
    stack = copy_stack(tmp_path)
    for function in ("ingest", "notify_dead_letters"):
        app = stack / "functions" / function / "app.py"
        app.write_text(app.read_text() + "\nimport pydantic_core_built_for_arm64  # noqa: E402, F401\n")
    cloud = OfflineCloud(template=stack / "template.yaml", time_scale=TIME_SCALE).start()
    try:
        cloud.upload("incoming/broken.csv", breast_cancer_csv(rows=60))
        deadline = time.monotonic() + 120
        alarms: list[Any] = []
        while time.monotonic() < deadline and not alarms:
            alarms = [n for n in cloud.notifications() if n.event == "alarm.alarm"]
            time.sleep(0.2)
        events = [n.event for n in cloud.notifications()]
    finally:
        cloud.stop()

    [alarm] = alarms
    assert alarm.body["AlarmName"].endswith("-dead-letters-unconsumed")
    assert alarm.subject.startswith(f'ALARM: "{alarm.body["AlarmName"]}"')
    assert alarm.body["Trigger"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert "pipeline.failed" not in events, "the notifier never ran: only CloudWatch's own message got through"
