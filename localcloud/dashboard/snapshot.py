"""``python -m localcloud.dashboard.snapshot [PNG]``: docs/images/dashboard.png, after a real offline run.

Runs the demo's story (``conveyor_cli.demo``: four data drops with training, a canary rollout, a
rejected model, a faulty model whose 5XX alarm fires and is rolled back, and the daily schedule,
with traffic against the endpoint throughout) on a server-mode offline cloud with the dashboard
served, then photographs the page in headless Chromium while the cloud still runs.
"""

from __future__ import annotations

import argparse
import logging
import socket
from pathlib import Path

from localcloud.dashboard import browser, serve

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard.png"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    # The demo is a user of the offline cloud, not part of it: imported here, by this tool only.
    from rich.console import Console

    from conveyor_cli.demo import DEMO_PARAMETERS, TIME_SCALE, Story
    from localcloud.cloud import OfflineCloud

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--range", default="PT3H", help="the page's range (ISO 8601 duration) in the picture")
    parser.add_argument("--time-scale", type=float, default=TIME_SCALE)
    args = parser.parse_args(argv)
    if not browser.available():
        raise SystemExit(f"{browser.CHROMIUM} is missing: apt-get install chromium")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    console = Console()
    cloud = OfflineCloud(server_port=_free_port(), time_scale=args.time_scale, parameters=DEMO_PARAMETERS).start()
    try:
        with serve(cloud, 0, refresh_seconds=0) as page:
            console.print(f"dashboard at {page.url}")
            Story(cloud, console).run()
            shot = browser.screenshot(f"{page.url}?range={args.range}&refresh=0", args.output)
            console.print(f"wrote {shot}")
    finally:
        cloud.stop()


if __name__ == "__main__":
    main()
