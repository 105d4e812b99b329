"""The dashboard's web server: the page, its script, and its JSON, from the standard library's http.server.

Routes (all GET):

- ``/``: the page (``static/index.html``); it plots ``/api/dashboard`` and fetches it again every
  few seconds (``?refresh=SECONDS``, 0 stops it; ``?range=PT1H`` shows the last hour instead of the
  body's range).
- ``/api/dashboard[?range=PT1H]``: every widget, with its datapoints or alarm states.
- ``/api/widgets/<index>[?range=PT1H]``: one widget, by its place in the body.
- ``/static/<file>``: the page's script and style sheet.

It listens on loopback only, on a thread of its own; ``stop()`` ends it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcloud.dashboard.body import BodyError
from localcloud.dashboard.page import DashboardNotFound, DashboardPage

LOG = logging.getLogger("localcloud.dashboard")
DEFAULT_REFRESH_SECONDS = 5.0
_STATIC = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
_WIDGET = re.compile(r"^/api/widgets/(\d+)$")


def _static(name: str) -> bytes:
    return resources.files("localcloud.dashboard").joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        try:
            if url.path in ("/", "/index.html"):
                page = _static("index.html").replace(b"{{refresh}}", str(self.server.refresh_seconds).encode())
                self._send(HTTPStatus.OK, _STATIC["index.html"], page)
            elif url.path.startswith("/static/") and url.path[len("/static/") :] in _STATIC:
                name = url.path[len("/static/") :]
                self._send(HTTPStatus.OK, _STATIC[name], _static(name))
            elif url.path == "/api/dashboard":
                self._json(HTTPStatus.OK, self.server.page.build(query.get("range")))
            elif (match := _WIDGET.match(url.path)) is not None:
                self._json(HTTPStatus.OK, self.server.page.widget(int(match.group(1)), query.get("range")))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {url.path}"})
        except (BodyError, IndexError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error) or "no such widget"})
        except DashboardNotFound as error:
            self._json(HTTPStatus.NOT_FOUND, {"error": str(error)})
        except ConnectionError:
            LOG.debug("the browser went away during %s", self.path)
        except Exception as error:  # the page shows it; the server keeps serving
            LOG.exception("dashboard request %s failed", self.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(error).__name__}: {error}"})

    def _json(self, status: HTTPStatus, data: Any) -> None:
        self._send(status, "application/json", json.dumps(data, allow_nan=False).encode())

    def _send(self, status: HTTPStatus, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], page: DashboardPage, refresh_seconds: float) -> None:
        super().__init__(address, _Handler)
        self.page = page
        self.refresh_seconds = refresh_seconds

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints the traceback to stderr, in the middle of `local up`'s output.
        LOG.debug("dashboard connection from %s failed", client_address, exc_info=True)


class DashboardServer:
    """Serves one ``DashboardPage`` on ``host:port`` (port 0: any free one; ``url`` tells which)."""

    def __init__(
        self,
        page: DashboardPage,
        port: int = 0,
        host: str = "127.0.0.1",
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
    ) -> None:
        self.page = page
        self._address = (host, port)
        self._refresh = refresh_seconds
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the dashboard server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> DashboardServer:
        if self._server is not None:
            raise RuntimeError("the dashboard server is already running")
        self._server = _Server(self._address, self.page, self._refresh)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DashboardServer:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
