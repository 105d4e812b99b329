"""The operations dashboard offline: the template's ``AWS::CloudWatch::Dashboard`` as plots on a local page.

``conveyor local up`` serves it (``serve(cloud, port)``): the widgets are read from the offline
cloud's CloudWatch (``GetDashboard``), metric lines become time series on the cloud's simulated
clock (``series``), alarm widgets show each alarm's state (``DescribeAlarms``), and a small script
of our own (``static/dashboard.js``) draws them as SVG. docs/dashboard.md describes the panels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcloud.dashboard.page import DashboardPage
from localcloud.dashboard.series import MotoMetrics
from localcloud.dashboard.server import DEFAULT_REFRESH_SECONDS, DashboardServer

if TYPE_CHECKING:
    from localcloud.cloud import OfflineCloud

__all__ = ["DashboardPage", "DashboardServer", "MotoMetrics", "page_of", "serve"]


def page_of(cloud: OfflineCloud) -> DashboardPage:
    """The page of the stack's dashboard (its ``DashboardName`` output; the cloud's only dashboard without one)."""
    from localcloud.cloud import ACCOUNT_ID

    assert cloud.stack is not None, "start() the cloud first"
    name = cloud.stack.outputs.get("DashboardName")
    return DashboardPage(
        cloud.client("cloudwatch"),
        cloud.clock,
        MotoMetrics(ACCOUNT_ID),
        cloud.region,
        str(name) if name else None,
    )


def serve(
    cloud: OfflineCloud, port: int = 0, host: str = "127.0.0.1", refresh_seconds: float = DEFAULT_REFRESH_SECONDS
) -> DashboardServer:
    """Start serving the stack's dashboard; ``stop()`` the server before the cloud."""
    return DashboardServer(page_of(cloud), port=port, host=host, refresh_seconds=refresh_seconds).start()
