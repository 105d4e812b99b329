"""The operations dashboard offline: its data (body -> series) without a browser, then the page that
`conveyor local up` serves, rendered by headless Chromium (Debian's package; .ci/run installs it).

The page test runs `conveyor local up` in its own process, as a user does, puts known datapoints and
an alarm state into its CloudWatch through the API (as the AWS CLI would), and reads the DOM that the
page's script drew: every widget of the deployed body, the plotted points, the alarm's state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from conveyor_cli.main import app
from localcloud.dashboard import DashboardPage, DashboardServer, MotoMetrics, browser
from localcloud.dashboard.body import BodyError, MetricWidget, TimeRange, duration_seconds, parse_body
from localcloud.dashboard.series import MetricKey, Sample, Window, line_points, widget_series
from tests.cli.conftest import CONVEYOR_COMMAND

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account, and the offline cloud's
NOW = 1_800_000_000.0  # a whole multiple of every period below


# ---------------------------------------------------------------------------------------- the data side
class FixedClock:
    def __init__(self, scale: float, now: float) -> None:
        self.scale = scale
        self._now = now

    def now(self) -> float:
        return self._now


class RealClock:
    """Scale 1: the simulated clock is the real one."""

    scale = 1.0

    def now(self) -> float:
        return time.time()


class Samples:
    """A MetricSource holding given samples (real timestamps)."""

    def __init__(self, by_metric: Mapping[MetricKey, Sequence[Sample]]) -> None:
        self.by_metric = by_metric

    def samples(self, region: str, since_real: float) -> Mapping[MetricKey, Sequence[Sample]]:
        return {key: [s for s in found if s.timestamp >= since_real] for key, found in self.by_metric.items()}


def _window(scale: float, hours: float = 6, now_real: float = NOW) -> Window:
    # The simulated clock ran ahead: it reads 9,900 s later than the real one (still a whole 5 minutes).
    now = now_real + 9_900
    return Window(now - hours * 3600, now, now, now_real, scale)


BODY = {
    "start": "-PT6H",
    "widgets": [
        {
            "type": "metric",
            "x": 0,
            "y": 0,
            "width": 12,
            "height": 6,
            "properties": {
                "title": "Invocations",
                "view": "timeSeries",
                "stacked": True,
                "stat": "Sum",
                "period": 60,
                "region": "us-east-1",
                "metrics": [
                    ["AWS/SageMaker", "Invocations", "EndpointName", "ep", "VariantName", "primary"],
                    ["...", "candidate", {"label": "canary", "color": "#000000"}],
                    [".", "ModelLatency", ".", ".", ".", "primary", {"stat": "p99", "period": 300}],
                    [{"expression": "m1 + m2", "label": "total"}],
                ],
            },
        },
        {"type": "alarm", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {"title": "Alarms", "alarms": []}},
        {"type": "text", "width": 24, "height": 2, "properties": {"markdown": "# Runbook"}},
        {"type": "log", "properties": {"title": "Logs", "query": "fields @message"}},
    ],
}


def test_body_parses_cloudwatch_shorthands_options_and_every_widget_type() -> None:
    body = parse_body(json.dumps(BODY))
    metric, alarm, text, log = body.widgets
    assert isinstance(metric, MetricWidget)
    assert (metric.stacked, metric.stat, metric.period, metric.view) == (True, "Sum", 60, "timeSeries")
    primary, candidate, latency, total = metric.lines
    assert candidate.dimensions == (("EndpointName", "ep"), ("VariantName", "candidate"))
    assert (candidate.label, candidate.color, candidate.stat) == ("canary", "#000000", "Sum")
    assert (latency.namespace, latency.name, latency.stat, latency.period) == (
        "AWS/SageMaker",
        "ModelLatency",
        "p99",
        300,
    )
    assert latency.dimensions == primary.dimensions
    assert total.expression == "m1 + m2"
    assert (alarm.type, text.type, log.type, log.title) == ("alarm", "text", "log", "Logs")
    assert body.time_range.resolve(NOW) == (NOW - 6 * 3600, NOW)


def test_body_errors_and_durations() -> None:
    assert duration_seconds("-PT6H") == -21_600
    assert duration_seconds("P1DT30M") == 88_200
    assert duration_seconds("P1W") == 604_800
    for bad in ("6h", "P", "-PTH"):
        with pytest.raises(BodyError):
            duration_seconds(bad)
    with pytest.raises(BodyError, match="not before its end"):
        TimeRange("-PT1H", "-PT2H").resolve(NOW)
    with pytest.raises(BodyError, match="not \\[namespace"):
        parse_body({"widgets": [{"type": "metric", "properties": {"metrics": [["AWS/SQS", "X", "QueueName"]]}}]})
    assert TimeRange("2027-01-01T00:00:00Z", "2027-01-01T06:00:00Z").resolve(NOW) == (1_798_761_600, 1_798_783_200)


def test_points_are_per_period_on_the_simulated_clock_with_the_lines_statistic() -> None:
    window = _window(scale=0.01)
    line = parse_body(BODY).widgets[0].lines[0]  # type: ignore[attr-defined]
    # Real ages 0.3 s, 0.4 s, 1.5 s, 3.3 s: simulated 30 s, 40 s, 150 s, 330 s ago.
    samples = [Sample(NOW - age, value=value) for age, value in ((0.3, 1), (0.4, 2), (1.5, 5), (3.3, 7))]
    period, points = line_points(line, samples, window)
    assert period == 60
    simulated_now = window.now
    assert points == [(simulated_now - 360, 7.0), (simulated_now - 180, 5.0), (simulated_now - 60, 3.0)]
    # 216 real seconds is the whole 6-hour range at this scale: older datapoints are outside it.
    assert line_points(line, [Sample(NOW - 217, value=1)], window)[1] == []


def test_percentiles_averages_and_aggregated_values() -> None:
    window = _window(scale=1.0)
    body = parse_body(BODY)
    latency = body.widgets[0].lines[2]  # type: ignore[attr-defined]
    samples = [Sample(NOW - 10, value=float(v)) for v in range(1, 101)]
    assert line_points(latency, samples, window)[1] == [(window.now - 300, 99.0)]
    average = parse_body(
        {"widgets": [{"properties": {"stat": "Average", "metrics": [["N", "M"]], "period": 60}}]}
    ).widgets[0]
    aggregated = Sample(NOW - 10, sum=10.0, count=4, minimum=1.0, maximum=4.0)
    assert line_points(average.lines[0], [Sample(NOW - 5, value=5.0), aggregated], window)[1] == [  # type: ignore[attr-defined]
        (window.now - 60, 3.0)
    ]
    # A percentile of StatisticValues alone cannot be told: no datapoint rather than a wrong one.
    assert line_points(latency, [aggregated], window)[1] == []


def test_a_widget_json_has_labels_colours_no_data_and_reasons() -> None:
    widget = parse_body(BODY).widgets[0]
    assert isinstance(widget, MetricWidget)
    primary = widget.lines[0]
    by_metric = {primary.key: [Sample(NOW - 0.5, value=1.0, unit="Count")]}
    data = widget_series(widget, Samples(by_metric).samples("us-east-1", 0), _window(scale=0.01))
    labels = [line["label"] for line in data["series"]]
    assert labels == ["Invocations primary", "canary", "ModelLatency primary", "total"]
    assert [len(line["points"]) for line in data["series"]] == [1, 0, 0, 0]
    assert data["series"][0]["unit"] == "Count"
    assert data["series"][1]["color"] == "#000000"
    assert data["series"][3]["error"] == "metric math is not evaluated offline"
    assert data["hasData"] is True
    assert (data["stacked"], data["view"]) == (True, "timeSeries")
    empty = widget_series(widget, {}, _window(scale=0.01))
    assert empty["hasData"] is False


def test_the_series_agree_with_get_metric_data_where_moto_can_answer() -> None:
    """At scale 1 and a plain statistic, moto's GetMetricData and the page give the same datapoints."""
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        now = dt.datetime.now(dt.UTC)
        start = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
        dimensions = [{"Name": "QueueName", "Value": "q"}]
        metric = {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible", "Dimensions": dimensions}
        cloudwatch.put_metric_data(
            Namespace="AWS/SQS",
            MetricData=[
                {
                    "MetricName": metric["MetricName"],
                    "Dimensions": dimensions,
                    "Value": float(value),
                    "Timestamp": start + dt.timedelta(seconds=seconds),
                }
                for seconds, value in ((5, 1), (20, 4), (70, 2), (200, 9), (205, 3))
            ],
        )
        api = cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Maximum"}}],
            StartTime=start,
            EndTime=now,
            ScanBy="TimestampAscending",
        )["MetricDataResults"][0]
        body = {
            "start": start.isoformat(),
            "end": now.isoformat(),
            "widgets": [
                {
                    "properties": {
                        "stat": "Maximum",
                        "period": 60,
                        "metrics": [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q"]],
                    }
                }
            ],
        }
        cloudwatch.put_dashboard(DashboardName="d", DashboardBody=json.dumps(body))
        ours = DashboardPage(cloudwatch, RealClock(), MotoMetrics(ACCOUNT), "us-east-1", "d").widget(0)
    points = ours["series"][0]["points"]
    assert [value for _, value in points] == api["Values"] == [4.0, 2.0, 9.0]
    assert [at for at, _ in points] == [stamp.timestamp() for stamp in api["Timestamps"]]


def test_the_page_reads_the_deployed_body_and_alarm_states() -> None:
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        for name in ("broken", "fine"):
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/SageMaker",
                MetricName="Invocation5XXErrors",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanOrEqualToThreshold",
            )
        cloudwatch.set_alarm_state(AlarmName="broken", StateValue="ALARM", StateReason="forced")
        arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"
        body = json.loads(json.dumps(BODY))
        body["widgets"][1]["properties"]["alarms"] = [f"{arn}broken", f"{arn}fine", f"{arn}gone"]
        cloudwatch.put_dashboard(DashboardName="ops", DashboardBody=json.dumps(body))
        page = DashboardPage(cloudwatch, FixedClock(0.01, NOW), MotoMetrics(ACCOUNT), "us-east-1")
        built = page.build("PT1H")
    assert built["dashboard"] == "ops"
    assert [w["title"] for w in built["widgets"]] == ["Invocations", "Alarms", "", "Logs"]
    assert built["range"]["end"] - built["range"]["start"] == 3600
    assert built["range"]["realSeconds"] == pytest.approx(36.0)
    alarms = {alarm["name"]: alarm for alarm in built["widgets"][1]["alarms"]}
    assert alarms["broken"]["state"] == "ALARM"
    assert alarms["broken"]["reason"] == "forced"
    assert alarms["fine"]["state"] in ("OK", "INSUFFICIENT_DATA")
    assert alarms["gone"]["found"] is False
    assert built["widgets"][2]["markdown"] == "# Runbook"
    assert built["widgets"][3]["error"] == "log widgets are not shown offline"


def _status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_server_serves_the_page_its_files_and_json_errors() -> None:
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        page = DashboardPage(cloudwatch, FixedClock(0.01, NOW), MotoMetrics(ACCOUNT), "us-east-1", "ops")
        with DashboardServer(page, refresh_seconds=2) as server:
            missing = _status(server.url + "api/dashboard")
            cloudwatch.put_dashboard(DashboardName="ops", DashboardBody=json.dumps(BODY))
            html = _status(server.url)
            script = _status(server.url + "static/dashboard.js")
            whole = _status(server.url + "api/dashboard?range=PT1H")
            bad_range = _status(server.url + "api/dashboard?range=1h")
            no_widget = _status(server.url + "api/widgets/9")
            nowhere = _status(server.url + "static/../page.py")
    assert missing[0] == 404
    assert json.loads(missing[1]) == {"error": "no dashboard ops in the offline cloud"}
    assert html[0] == 200
    assert b'data-refresh="2"' in html[1]
    assert b'src="/static/dashboard.js"' in html[1]
    assert script[0] == 200
    assert b"function drawTimeSeries" in script[1]
    assert whole[0] == 200
    assert len(json.loads(whole[1])["widgets"]) == len(BODY["widgets"])  # type: ignore[arg-type]
    assert bad_range[0] == 400
    assert "ISO 8601 duration" in json.loads(bad_range[1])["error"]
    assert no_widget[0] == 400
    assert nowhere[0] == 404


# ---------------------------------------------------------------------------------------- the CLI's options
def test_local_up_refuses_a_dashboard_port_in_use_before_deploying(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        busy_port = ["--dashboard-port", str(busy)]
        result = CliRunner().invoke(
            app,
            ["--state-file", str(tmp_path / "local.json"), "local", "up", "--port", str(_free_port()), *busy_port],
        )
    assert result.exit_code == 1
    assert f"port {busy} is in use: pick another with --dashboard-port, or --no-dashboard" in result.stderr


# ---------------------------------------------------------------------------------------- the page, in Chromium
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    children: list[Element] = field(default_factory=list)

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for child in self.children:
            classes = child.attrs.get("class", "").split()
            if (
                (tag is None or child.tag == tag)
                and (cls is None or cls in classes)
                and all(child.attrs.get(name.replace("_", "-")) == value for name, value in attrs.items())
            ):
                found.append(child)
            found.extend(child.all(tag, cls, **attrs))
        return found

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls} {attrs}> in <{self.tag} {self.attrs}>"
        return found[0]

    @property
    def content(self) -> str:
        return "".join(self.text + [child.content for child in self.children])


class _Dom(HTMLParser):
    _VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.root = Element("document", {})
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self._stack[-1].children.append(element)
        if tag not in self._VOID:
            self._stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].text.append(data)


def parse_dom(html: str) -> Element:
    parser = _Dom()
    parser.feed(html)
    return parser.root


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@dataclass
class LocalUp:
    process: subprocess.Popen[str]
    state: dict[str, Any]
    dashboard_url: str
    output: list[str]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.state["region"], endpoint_url=self.state["endpoint_url"])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


@pytest.fixture(scope="module")
def local_up(hermetic_aws: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    """`conveyor local up` in its own process; stopped with Ctrl-C at the end, which must stop the page too."""
    state_file = tmp_path_factory.mktemp("state") / "local.json"
    port, dashboard_port = _free_port(), _free_port()
    ports = ["--port", str(port), "--dashboard-port", str(dashboard_port)]
    process = subprocess.Popen(
        [*CONVEYOR_COMMAND, "--state-file", str(state_file), "local", "up", "--in-process", *ports],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "layers" / "conveyor")])},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=_collect, args=(process.stdout, output), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{dashboard_port}/"
    try:
        deadline = time.monotonic() + 180
        while not state_file.exists():
            assert process.poll() is None, f"local up exited {process.returncode}: {''.join(output)}"
            assert time.monotonic() < deadline, "local up wrote no state file within 180 s"
            time.sleep(0.2)
        # The page serves before the state file is written.
        urllib.request.urlopen(url, timeout=10).close()
        yield LocalUp(process, json.loads(state_file.read_text()), url, output)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
        reader.join(timeout=10)
        assert process.returncode == 0, "".join(output)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


POINTS = 5


@pytest.fixture(scope="module")
def known_data(local_up: LocalUp) -> dict[str, Any]:
    """Five Invocations datapoints of variant primary (2.5 periods apart), 100 latencies, one alarm in ALARM."""
    cloudwatch = local_up.client("cloudwatch")
    body = json.loads(
        cloudwatch.get_dashboard(DashboardName=local_up.state["outputs"]["DashboardName"])["DashboardBody"]
    )
    scale = 0.01  # `local up`'s default time scale: a 60 s period is 0.6 real seconds
    endpoint = local_up.state["outputs"]["EndpointName"]
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "primary"}]
    now = dt.datetime.now(dt.UTC)
    spacing = dt.timedelta(seconds=2.5 * 60 * scale)  # two and a half periods apart: one datapoint per period
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": dimensions,
                "Value": float(10 + n),
                "Timestamp": now - n * spacing,
            }
            for n in range(POINTS)
        ],
    )
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "Unit": "Microseconds",
                "Values": [float(v) for v in range(1, 101)],
                "Timestamp": now,
            }
        ],
    )
    alarm = local_up.state["outputs"]["RollbackAlarmNames"].split(",")[0]
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="set by the dashboard test")
    return {"body": body, "alarm": alarm}


def _widget_titled(page: dict[str, Any], title: str) -> dict[str, Any]:
    return next(widget for widget in page["widgets"] if widget["title"] == title)


def test_the_json_has_every_widget_of_the_deployed_body_with_the_known_data(
    local_up: LocalUp, known_data: dict[str, Any]
) -> None:
    page = _get(local_up.dashboard_url + "api/dashboard")
    body = known_data["body"]
    assert [w["title"] for w in page["widgets"]] == [w["properties"]["title"] for w in body["widgets"]]
    assert page["clock"]["scale"] == 0.01
    assert page["range"]["from"] == body["start"]
    assert all(widget["error"] is None for widget in page["widgets"]), [w["error"] for w in page["widgets"]]
    invocations = _widget_titled(page, "Endpoint invocations per variant")
    primary = next(line for line in invocations["series"] if line["metric"]["dimensions"]["VariantName"] == "primary")
    assert [value for _, value in primary["points"]] == [float(10 + n) for n in reversed(range(POINTS))]
    latency = _widget_titled(page, "Model latency p99 per variant (microseconds)")
    assert latency["series"][0]["points"][0][1] == 99.0  # p99 of 1..100, nearest rank
    assert latency["series"][0]["unit"] == "Microseconds"
    one = _get(local_up.dashboard_url + f"api/widgets/{invocations['index']}")
    assert one["title"] == invocations["title"]
    assert one["series"][0]["label"] == primary["label"]


def test_chromium_draws_every_panel_the_points_and_the_alarm(
    local_up: LocalUp, known_data: dict[str, Any], tmp_path: Path
) -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} is missing: this test needs Debian's chromium package (.ci/run installs it)")
    started = time.monotonic()
    dom = parse_dom(browser.dump_dom(local_up.dashboard_url + "?refresh=0"))
    took = time.monotonic() - started

    body = dom.one("body")
    assert body.attrs["data-state"] == "ready", dom.content[:2000]
    sections = dom.all("section", "widget")
    titles = [w["properties"]["title"] for w in known_data["body"]["widgets"]]
    assert [s.one("h2", "widget-title").content for s in sections] == titles

    invocations = next(s for s in sections if s.attrs["data-title"] == "Endpoint invocations per variant")
    primary = invocations.one("g", "series", data_label="Invocations primary")
    assert primary.attrs["data-points"] == str(POINTS)
    assert len(primary.all("circle", "point")) == POINTS
    path = primary.one("path", "line").attrs["d"]
    assert (path.count("M"), path.count("L")) == (1, POINTS - 1)
    assert invocations.one("li", "legend-item", data_label="Invocations candidate").attrs["data-has-data"] == "false"
    svg = invocations.one("svg", "plot")
    assert "simulated time (UTC), scale 0.01" in svg.one("text", "x-label").content
    assert svg.one("text", "y-label").content == "Sum per 1 min"

    # "No data available" exactly on the plots with no datapoint (which metrics exist depends on what ran;
    # nothing here starts a run, so no stage has a duration yet).
    for section in sections:
        if section.attrs["data-type"] == "metric":
            empty = all(group.attrs["data-points"] == "0" for group in section.all("g", "series"))
            assert section.attrs["data-has-data"] == str(not empty).lower(), section.attrs["data-title"]
            notes = section.all("div", "no-data")
            assert [note.content for note in notes] == (
                ["No data available. Try adjusting the dashboard time range."] if empty else []
            )
    stages = next(s for s in sections if s.attrs["data-title"] == "Stage durations (ms)")
    assert stages.attrs["data-has-data"] == "false"

    alarm = dom.one("li", "alarm", data_alarm=known_data["alarm"])
    assert alarm.attrs["data-state"] == "ALARM"
    assert alarm.one("span", "badge").content == "ALARM"

    shot = browser.screenshot(local_up.dashboard_url + "?refresh=0", tmp_path / "dashboard.png")
    assert _png_size(shot) == browser.WINDOW
    assert took < 60


def test_local_up_announces_the_dashboard_url(local_up: LocalUp) -> None:
    deadline = time.monotonic() + 30
    while "Ctrl-C stops it." not in "".join(local_up.output) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"dashboard: {local_up.dashboard_url}" in "".join(local_up.output)
