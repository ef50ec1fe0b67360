"""The flexlink token never shows: not in exceptions (or their chains), logs, or results."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from xledger_assets import redact as redact_module
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import ConfigurationError, FlexlinkError
from xledger_assets.flexlinks import DownloadSettings, read_flexlink
from xledger_assets.redact import (
    HTTP_LOGGERS,
    install_log_redaction,
    redact,
    redact_url,
    register_secret,
)
from xledger_assets.sandbox.flexlinks import FlexlinkSandbox

GROUPS = DEFAULT_CATALOG.flexlink("employee_groups")
PART_TIME = DEFAULT_CATALOG.flexlink("part_time_employees")


# --- the helpers ------------------------------------------------------------------------------


def test_t_query_values_are_masked_registered_or_not() -> None:
    assert redact("GET https://x.net/Flex/1.xlsx?t=abc123def&x=1") == (
        "GET https://x.net/Flex/1.xlsx?t=***&x=1"
    )
    assert redact("a?x=1&t=zzz#frag") == "a?x=1&t=***#frag"
    assert (
        redact("<a href='/Flex/1.xlsx?a=1&amp;t=qqq'>") == "<a href='/Flex/1.xlsx?a=1&amp;t=***'>"
    )
    assert redact("/Login?ReturnUrl=%2FFlex%2F1.xlsx%3Ft%3Dsecretish%26y%3D2") == (
        "/Login?ReturnUrl=%2FFlex%2F1.xlsx%3Ft%3D***%26y%3D2"
    )
    assert redact("no token: at=1, t = 2, dt=3") == "no token: at=1, t = 2, dt=3"
    assert redact(httpx.URL("https://x.net/Flex/1.xlsx?t=abc")) == "https://x.net/Flex/1.xlsx?t=***"


def test_registered_secrets_are_masked_anywhere() -> None:
    register_secret("Zq8-registered-secret")
    assert redact("token Zq8-registered-secret failed") == "token *** failed"
    assert redact("encoded Zq8-registered-secret") == "encoded ***"
    register_secret("sl/ash+plus")
    assert redact("q=sl%2Fash%2Bplus") == "q=***"  # the percent-encoded form too
    register_secret("abc")  # too short to be a credential: ignored
    register_secret("")
    register_secret(None)
    assert redact("abc") == "abc"


def test_redact_url_keeps_the_link_recognisable() -> None:
    url = "https://www.xledger.net/Flex/4711.xlsx?lang=sv&t=TOKENredactURL&x=%C3%A5"
    assert redact_url(url) == "https://www.xledger.net/Flex/4711.xlsx?lang=sv&t=***&x=%C3%A5"
    assert redact_url("https://www.xledger.net/Flex/4711.xlsx") == (
        "https://www.xledger.net/Flex/4711.xlsx"
    )


def test_install_log_redaction_is_idempotent() -> None:
    install_log_redaction()
    install_log_redaction(["xledger_assets.xledger"])
    install_log_redaction(["xledger_assets.xledger"])
    for name in (*HTTP_LOGGERS, "xledger_assets.xledger"):
        filters = logging.getLogger(name).filters
        assert filters.count(redact_module._FILTER) == 1, name


def test_log_filter_renders_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("httpx")
    try:
        raise ValueError("boom at https://x/Flex/1.xlsx?t=INTRACEBACK")
    except ValueError:
        log.exception("request %s failed", httpx.URL("https://x/Flex/1.xlsx?t=INARGS"))
    assert "INARGS" not in caplog.text and "INTRACEBACK" not in caplog.text
    assert "request https://x/Flex/1.xlsx?t=*** failed" in caplog.text
    assert "ValueError: boom at https://x/Flex/1.xlsx?t=***" in caplog.text


# --- end to end -------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        failures = getattr(current, "failures", {})
        todo.extend(failures.values())


def _assert_no_token(exc: BaseException, token: str) -> None:
    for link in _chain(exc):
        for text in (str(link), repr(link), repr(link.args), repr(vars(link))):
            assert token not in text, f"{type(link).__name__} leaks the token"


Scenario = Callable[[FlexlinkSandbox], None]

SCENARIOS: dict[str, Scenario] = {
    "html page": lambda sb: sb.serve_html("employee_groups"),
    "not found": lambda sb: sb.serve_not_found("employee_groups"),
    "renamed column": lambda sb: sb.rename_column("employee_groups", "Code", "Kod"),
    "persistent 5xx": lambda sb: sb.fail("employee_groups", 503, times=5),
    "slow": lambda sb: sb.slow("employee_groups", 0.5, times=5),
    "garbage": lambda sb: sb.serve_body("employee_groups", b"\x00\x01", "application/zip"),
    "bad value": lambda sb: sb.serve_body(
        "employee_groups",
        b'{"fields": [{"title": "Owner"}, {"title": "Code"}, {"title": "Description"}], '
        b'"rows": [["a", {"x": 1}, "c"]]}',
        "application/json",
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_token_in_exceptions_or_their_chains(
    scenario: str,
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = sandbox.link("employee_groups").token
    SCENARIOS[scenario](sandbox)
    settings = DownloadSettings(timeout=0.1, attempts=2, backoff=0.01)
    with pytest.raises(FlexlinkError) as info:
        read_flexlink(GROUPS, sandbox.env(base_url), client=client, settings=settings)
    _assert_no_token(info.value, token)
    assert token not in caplog.text
    assert all(token not in r.getMessage() for r in caplog.records)


def test_connection_errors_do_not_chain_the_request(client: httpx.Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "CONNTOKEN-never-shown-1234"
    env = {GROUPS.env_var: f"http://127.0.0.1:{port}/Flex/1.xlsx?t={token}"}
    with pytest.raises(FlexlinkError) as info:
        read_flexlink(GROUPS, env, client=client, settings=DownloadSettings(attempts=1))
    assert info.value.__cause__ is None and info.value.__context__ is None
    _assert_no_token(info.value, token)


def test_configuration_errors_do_not_chain_the_json_decoder(base_url: str) -> None:
    token = "CFGTOKEN-never-shown-5678"
    raw = '{"Tromb AB": "' + base_url + "/Flex/1.xlsx?t=" + token + '" "Data Ductus AB": 1}'
    with pytest.raises(ConfigurationError) as info:
        read_flexlink(PART_TIME, {PART_TIME.env_var: raw})
    _assert_no_token(info.value, token)
    assert redact(raw) == raw.replace(token, "***")  # registered before parsing failed


def test_httpx_log_records_are_masked(
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    fast: DownloadSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.fail("part_time_employees", 503, times=1, subsidiary="Tromb AB")
    result = read_flexlink(PART_TIME, sandbox.env(base_url), client=client, settings=fast)
    assert result.num_rows == 17
    tokens = [link.token for link in sandbox.links if link.dataset == "part_time_employees"]
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    # httpx did log every request URL (6: five links plus one retry), each masked.
    assert len(httpx_lines) == 6
    assert all("?t=*** " in line for line in httpx_lines), httpx_lines
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # DEBUG traffic captured
    for token in tokens:
        assert token not in caplog.text
        assert all(token not in r.getMessage() for r in caplog.records)
    # The retry warning names the subsidiary, not the URL.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "the flexlink for part_time_employees (subsidiary 'Tromb AB'): HTTP 503 (Service "
        "Unavailable) (attempt 1 of 3); retrying in 0.0 s"
    ]


def test_results_hold_no_url(
    sandbox: FlexlinkSandbox, base_url: str, client: httpx.Client, fast: DownloadSettings
) -> None:
    result = read_flexlink(PART_TIME, sandbox.env(base_url), client=client, settings=fast)
    text = json.dumps(result.summary(), ensure_ascii=False) + repr(result)
    assert "/Flex/" not in text and "?t=" not in text
    assert all(link.token not in text for link in sandbox.links)


def test_success_log_names_the_link_without_its_token(
    sandbox: FlexlinkSandbox,
    base_url: str,
    client: httpx.Client,
    fast: DownloadSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="xledger_assets.flexlinks")
    read_flexlink(GROUPS, sandbox.env(base_url), client=client, settings=fast)
    size = len(sandbox.xlsx_bytes("employee_groups"))
    link_id = sandbox.link("employee_groups").link_id
    mine = [r.getMessage() for r in caplog.records if r.name.startswith("xledger_assets")]
    assert mine == [
        f"the flexlink for employee_groups: downloaded {size} bytes from "
        f"{base_url}/Flex/{link_id}.xlsx?t=*** (xlsx, HTTP 200, attempt 1)"
    ]
