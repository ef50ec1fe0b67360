"""Fixtures: a sandbox of flexlinks behind a real HTTP server on 127.0.0.1, fast settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import openpyxl
import pytest

from xledger_assets.flexlinks import DownloadSettings
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox

SEED = 7


class _FlexHandler(BaseHTTPRequestHandler):
    """Mounts ``FlexlinkSandbox.handle`` under ``/Flex/``, as the sandbox server does."""

    server: _FlexServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.startswith("/Flex/"):
            query = parse_qs(parts.query, keep_blank_values=True)
            status, headers, body = self.server.sandbox.handle(
                parts.path, query, dict(self.headers)
            )
        else:
            status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _FlexServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sandbox: FlexlinkSandbox) -> None:
        super().__init__(("127.0.0.1", 0), _FlexHandler)
        self.sandbox = sandbox


@pytest.fixture
def sandbox() -> FlexlinkSandbox:
    return FlexlinkSandbox(SEED)


@pytest.fixture
def base_url(sandbox: FlexlinkSandbox) -> Iterator[str]:
    server = _FlexServer(sandbox)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as c:
        yield c


@pytest.fixture
def fast() -> DownloadSettings:
    """Small timeouts and backoff so retry tests stay quick."""
    return DownloadSettings(timeout=0.3, attempts=3, backoff=0.01, max_backoff=0.02)


def write_xlsx(
    path: Path, rows: Sequence[Sequence[object]], *, styled_blank_rows: int = 0
) -> bytes:
    """Write ``rows`` into a real workbook with openpyxl and return the file's bytes.

    ``styled_blank_rows`` adds rows that only carry formatting, as Excel leaves behind.
    """
    from openpyxl.styles import PatternFill

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for row in rows:
        ws.append(row)
    last = ws.max_row
    for offset in range(1, styled_blank_rows + 1):
        ws.cell(last + offset, 1).fill = PatternFill("solid", fgColor="FFFF00")
    wb.save(path)
    return path.read_bytes()
