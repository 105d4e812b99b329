"""Headless Chromium (Debian's ``chromium`` package) on the dashboard page: its DOM after the script ran, or a PNG.

Used by the page's test (tests/cli/test_dashboard_page.py) and by ``snapshot`` (docs/images/dashboard.png).
Chromium runs with a fresh profile and without its background services, which would only try (and
fail) to reach Google from an offline machine. ``--virtual-time-budget`` lets the page's script fetch
its data and draw before the DOM is dumped or the screenshot taken; the fetch itself is real (virtual
time stands still while a request is in flight).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1400, 1000)
_QUIET = (
    "--headless",
    "--disable-gpu",
    "--no-sandbox",  # root in a container has no user namespace for the sandbox
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


class BrowserError(RuntimeError):
    pass


def available() -> bool:
    return CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None


def _run(url: str, action: list[str], window: tuple[int, int], budget_ms: int, timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="conveyor-chromium-") as profile:
        command = [
            str(CHROMIUM),
            *_QUIET,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
            *action,
            url,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium did not finish {url} within {timeout:g}s") from None
    if done.returncode != 0:
        raise BrowserError(f"chromium exited {done.returncode} on {url}: {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(url: str, window: tuple[int, int] = WINDOW, budget_ms: int = 5000, timeout: float = 120) -> str:
    """The page's DOM (serialized HTML) once its script has drawn it."""
    return _run(url, ["--dump-dom"], window, budget_ms, timeout)


def screenshot(
    url: str, path: Path, window: tuple[int, int] = WINDOW, budget_ms: int = 5000, timeout: float = 120
) -> Path:
    """A PNG of the page, ``window`` pixels large."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(url, [f"--screenshot={path.resolve()}"], window, budget_ms, timeout)
    if not path.exists():
        raise BrowserError(f"chromium wrote no screenshot of {url}")
    return path
