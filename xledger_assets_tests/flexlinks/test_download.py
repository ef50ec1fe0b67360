"""Downloading: dead links fail at once with a clear message, transient failures are retried."""

from __future__ import annotations

import socket
import time
from typing import Literal

import httpx
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import (
    ConfigurationError,
    FlexlinkDownloadError,
    FlexlinkLinkError,
)
from xledger_assets.flexlinks import DownloadSettings, FlexlinkTable, read_flexlink
from xledger_assets.flexlinks.download import download_flexlink
from xledger_assets.flexlinks.sources import FlexlinkSource
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox

GROUPS = DEFAULT_CATALOG.flexlink("employee_groups")
DEAD_XLSX = (
    "the link may have expired; create a new export link and update "
    "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS"
)


def _read(
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    settings: DownloadSettings,
    fmt: Literal["xlsx", "json"] = "xlsx",
) -> FlexlinkTable:
    env = sandbox.env(base_url, fmt=fmt)
    return read_flexlink(GROUPS, env, client=client, settings=settings)


def test_html_page_is_a_dead_link(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.serve_html("employee_groups")
    with pytest.raises(FlexlinkLinkError) as info:
        _read(sandbox, base_url, client, fast)
    assert str(info.value) == (
        "the flexlink for employee_groups returned an HTML page (HTTP 200), not an Excel file: "
        + DEAD_XLSX
    )
    assert sandbox.hits("employee_groups") == 1  # not retried: retrying cannot fix it


def test_expired_token_gets_the_html_page(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    env = sandbox.env(base_url)
    sandbox.expire("employee_groups")
    with pytest.raises(FlexlinkLinkError) as info:
        read_flexlink(GROUPS, env, client=client, settings=fast)
    assert str(info.value) == (
        "the flexlink for employee_groups returned an HTML page (HTTP 200), not an Excel file: "
        + DEAD_XLSX
    )
    # The new link works.
    assert read_flexlink(GROUPS, sandbox.env(base_url), client=client, settings=fast).num_rows == 11


def test_not_found(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.serve_not_found("employee_groups")
    with pytest.raises(FlexlinkLinkError) as info:
        _read(sandbox, base_url, client, fast)
    assert str(info.value) == (
        "the flexlink for employee_groups answered HTTP 404 (Not Found), not an Excel file: the "
        "link may have expired or been deleted; create a new export link and update "
        "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS"
    )
    assert sandbox.hits("employee_groups") == 1


def test_unknown_link_id(base_url: str, client: httpx.Client, fast: DownloadSettings) -> None:
    env = {GROUPS.env_var: f"{base_url}/Flex/1.xlsx?t=abcdefgh"}
    with pytest.raises(FlexlinkLinkError, match=r"answered HTTP 404 \(Not Found\)"):
        read_flexlink(GROUPS, env, client=client, settings=fast)


def test_json_link_with_an_html_page(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.serve_html("employee_groups")
    with pytest.raises(FlexlinkLinkError) as info:
        _read(sandbox, base_url, client, fast, fmt="json")
    assert str(info.value) == (
        "the flexlink for employee_groups returned an HTML page (HTTP 200), not a JSON export: "
        + DEAD_XLSX
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (
            b"not a zip",
            "application/octet-stream",
            "returned 9 bytes of application/octet-stream (HTTP 200) that are not an Excel file",
        ),
        (
            b"",
            "application/octet-stream",
            "returned an empty response (HTTP 200), not an Excel file",
        ),
        (
            b"\xef\xbb\xbf  <!DOCTYPE html><p>Log in</p>",
            "application/octet-stream",
            "returned an HTML page (HTTP 200), not an Excel file",
        ),
        (b"{}", "text/html", "returned an HTML page (HTTP 200), not an Excel file"),
    ],
)
def test_a_body_that_is_not_an_excel_file(
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    fast: DownloadSettings,
    body: bytes,
    content_type: str,
    message: str,
) -> None:
    sandbox.serve_body("employee_groups", body, content_type)
    with pytest.raises(FlexlinkLinkError) as info:
        _read(sandbox, base_url, client, fast)
    assert str(info.value) == f"the flexlink for employee_groups {message}: {DEAD_XLSX}"


def test_server_errors_are_retried_then_succeed(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.fail("employee_groups", status=503, times=2)
    result = _read(sandbox, base_url, client, fast)
    assert result.num_rows == 11
    assert sandbox.hits("employee_groups") == 3


def test_persistent_server_errors_fail_clearly(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.fail("employee_groups", status=500, times=2)
    sandbox.fail("employee_groups", status=502, times=10)
    with pytest.raises(FlexlinkDownloadError) as info:
        _read(sandbox, base_url, client, fast)
    assert str(info.value) == (
        "the flexlink for employee_groups failed 3 times, the last time with: HTTP 502 (Bad "
        "Gateway); Xledger or the network may be down, the next run will try again"
    )
    assert sandbox.hits("employee_groups") == 3


def test_rate_limit_is_retried(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    sandbox.fail("employee_groups", status=429, times=1)
    assert _read(sandbox, base_url, client, fast).num_rows == 11
    assert sandbox.hits("employee_groups") == 2


def test_slow_link_times_out_and_is_retried(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client
) -> None:
    settings = DownloadSettings(timeout=0.2, attempts=2, backoff=0.01)
    sandbox.slow("employee_groups", seconds=0.6, times=1)
    started = time.monotonic()
    assert _read(sandbox, base_url, client, settings).num_rows == 11
    assert time.monotonic() - started < 0.6  # gave up on the slow answer instead of waiting
    assert sandbox.hits("employee_groups") == 2


def test_persistently_slow_link_fails(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client
) -> None:
    settings = DownloadSettings(timeout=0.15, attempts=2, backoff=0.01)
    sandbox.slow("employee_groups", seconds=0.5, times=2)
    with pytest.raises(FlexlinkDownloadError) as info:
        _read(sandbox, base_url, client, settings)
    assert str(info.value) == (
        "the flexlink for employee_groups failed 2 times, the last time with: timed out after "
        "0.15 s (ReadTimeout); Xledger or the network may be down, the next run will try again"
    )


def test_connection_refused_is_retried_then_fails(
    client: httpx.Client, fast: DownloadSettings
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {GROUPS.env_var: f"http://127.0.0.1:{port}/Flex/1.xlsx?t=CONNECTIONTOKEN"}
    with pytest.raises(FlexlinkDownloadError) as info:
        read_flexlink(GROUPS, env, client=client, settings=fast)
    assert str(info.value).startswith(
        "the flexlink for employee_groups failed 3 times, the last time with: ConnectError: "
    )
    assert "CONNECTIONTOKEN" not in str(info.value)


def test_size_limit_from_content_length(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client
) -> None:
    size = len(sandbox.xlsx_bytes("employee_groups"))
    settings = DownloadSettings(max_bytes=size - 1, attempts=3, backoff=0.01)
    with pytest.raises(FlexlinkDownloadError) as info:
        _read(sandbox, base_url, client, settings)
    assert str(info.value) == (
        f"the flexlink for employee_groups is larger than the size limit of {size - 1} bytes "
        "(DownloadSettings.max_bytes); raise the limit if the export really is this large"
    )
    assert sandbox.hits("employee_groups") == 1  # not retried
    exact = DownloadSettings(max_bytes=size, attempts=1)
    assert _read(sandbox, base_url, client, exact).num_rows == 11


def _mock_client(handler: object) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def _source(url: str = "https://www.xledger.net/Flex/991.xlsx?t=MOCKTOKEN991") -> FlexlinkSource:
    return FlexlinkSource("employee_groups", GROUPS.env_var, None, url)


def test_size_limit_while_streaming_without_content_length() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"PK\x03\x04" + b"x" * 1000, b"y" * 1000]))

    with _mock_client(handler) as client, pytest.raises(FlexlinkDownloadError) as info:
        download_flexlink(_source(), client, DownloadSettings(max_bytes=1500, attempts=1))
    assert str(info.value) == (
        "the flexlink for employee_groups is larger than the size limit of 1500 bytes "
        "(DownloadSettings.max_bytes); raise the limit if the export really is this large"
    )
    assert str(DownloadSettings(max_bytes=3 * 1024 * 1024).max_bytes) == "3145728"


def test_redirect_to_a_login_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/Flex/"):
            target = "/Login?ReturnUrl=%2FFlex%2F991.xlsx%3Ft%3DMOCKTOKEN991"
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, html="<html><body>Sign in</body></html>")

    with _mock_client(handler) as client, pytest.raises(FlexlinkLinkError) as info:
        download_flexlink(_source(), client, DownloadSettings(attempts=1))
    assert str(info.value) == (
        "the flexlink for employee_groups returned an HTML page (HTTP 200), not an Excel file: "
        + DEAD_XLSX
    )


def test_unknown_extension_is_sniffed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"fields": [], "rows": []}')

    with _mock_client(handler) as client:
        payload = download_flexlink(
            _source("https://www.xledger.net/Flex/991?t=MOCKTOKEN991"), client, DownloadSettings()
        )
    assert payload.format == "json"
    assert payload.attempts == 1
    assert "MOCKTOKEN991" not in repr(payload)


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = DownloadSettings(backoff=2.0, max_backoff=10.0)
    assert [settings.wait_before(n) for n in (2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0]
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with _mock_client(handler) as client, pytest.raises(FlexlinkDownloadError):
        download_flexlink(_source(), client, settings, sleep=waits.append)
    assert waits == [2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"timeout": 0}, {"attempt_timeout": -1}, {"max_bytes": 0}]
)
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        DownloadSettings(**kwargs)  # type: ignore[arg-type]
