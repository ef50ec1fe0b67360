"""Auth messages, every fault kind, and the meter — all over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from xledger_assets.sandbox import Fault

from .conftest import AUTH, Api

Q = "{ projects(first: 3) { edges { cursor node { dbId } } pageInfo { hasNextPage } } }"
BAD_FORMAT = 'Bad format for API Token. Expected header: "Authorization: token <your-token>"'


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer sandbox-token"},
        {"Authorization": "sandbox-token"},
        {"Authorization": "token"},
        {"Authorization": "Token sandbox-token"},
    ],
)
def test_bad_auth_format(api: Api, headers: dict[str, str]) -> None:
    response = api.post(Q, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"errors": [{"message": BAD_FORMAT}]}


def test_wrong_or_expired_token(api: Api) -> None:
    response = api.post(Q, headers={"Authorization": "token wrong"})
    assert response.status_code == 200
    message = response.json()["errors"][0]["message"]
    assert "invalid" in message.lower() and "expired" in message.lower()
    assert "data" not in response.json()
    api.sandbox.set_token("fresh-token")
    assert api.post(Q).json()["errors"][0]["message"] == message
    assert "data" in api.post(Q, headers={"Authorization": "token fresh-token"}).json()


def fire(api: Api, fault: dict, query: str = Q) -> httpx.Response:
    api.control("POST", "/faults", json=fault)
    return api.post(query)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("burst_rate_limit", "BAD_REQUEST.BURST_RATE_LIMIT_REACHED"),
        ("concurrency_limit", "BAD_REQUEST.CONCURRENCY_LIMIT_REACHED"),
    ],
)
def test_rate_limit_codes_sit_at_the_top_level(api: Api, kind: str, code: str) -> None:
    response = fire(api, {"kind": kind})
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["code"] == code and error["message"]
    assert "data" not in response.json()
    assert "errors" not in api.post(Q).json()  # times defaults to 1


def test_insufficient_credits_has_reset_at(api: Api) -> None:
    (error,) = fire(api, {"kind": "insufficient_credits"}).json()["errors"]
    assert error["code"] == "BAD_REQUEST.INSUFFICIENT_CREDITS"
    assert error["extensions"]["resetAt"].endswith("T00:00:00")
    reset_at = "2031-02-01T00:00:00Z"
    (error,) = fire(api, {"kind": "insufficient_credits", "reset_at": reset_at}).json()["errors"]
    assert error["extensions"] == {"resetAt": reset_at}


def test_any_graphql_error_code(api: Api) -> None:
    fault = {
        "kind": "graphql_error",
        "code": "BAD_REQUEST.SOMETHING_NEW",
        "message": "Nope",
        "extensions": {"hint": 1},
    }
    body = fire(api, fault).json()
    assert body == {
        "errors": [
            {"message": "Nope", "code": "BAD_REQUEST.SOMETHING_NEW", "extensions": {"hint": 1}}
        ]
    }


def test_query_timed_out(api: Api) -> None:
    body = fire(api, {"kind": "timeout"}).json()
    assert body == {"errors": [{"message": "Your query timed out."}]}


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_http_status(api: Api, status: int) -> None:
    response = fire(api, {"kind": "http_status", "status": status})
    assert response.status_code == status
    assert response.content
    custom = fire(
        api,
        {"kind": "http_status", "status": status, "body": "down", "headers": {"Retry-After": "2"}},
    )
    assert (custom.status_code, custom.text, custom.headers["retry-after"]) == (status, "down", "2")


def test_html_page_with_200(api: Api) -> None:
    response = fire(api, {"kind": "html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


def test_truncated_json(api: Api) -> None:
    full = api.post(Q).content
    response = fire(api, {"kind": "truncated_json", "cut": 0.5})
    assert response.status_code == 200
    assert response.content == full[: len(full) // 2]
    with pytest.raises(ValueError):
        response.json()
    api.control("POST", "/faults", json={"kind": "truncated_json", "full_length": True})
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(Q)
    assert "errors" not in api.post(Q).json()


def test_null_edges(api: Api) -> None:
    body = fire(api, {"kind": "null_edges"}).json()
    assert body == {"data": {"projects": {"edges": None, "pageInfo": {"hasNextPage": True}}}}
    assert api.post(Q).json()["data"]["projects"]["edges"]


def test_connection_reset(api: Api) -> None:
    api.control("POST", "/faults", json={"kind": "connection_reset"})
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        api.post(Q)
    assert "errors" not in api.post(Q).json()


def test_slow_response(api: Api) -> None:
    api.control("POST", "/faults", json={"kind": "slow", "delay": 0.6})
    started = time.perf_counter()
    assert "errors" not in api.post(Q).json()
    assert time.perf_counter() - started >= 0.6
    api.control("POST", "/faults", json={"kind": "slow", "delay": 2})
    with pytest.raises(httpx.ReadTimeout):
        api.client.post(api.url, json={"query": Q}, headers=AUTH, timeout=0.3)


def test_times_skip_root_field_and_control_calls(api: Api) -> None:
    api.control(
        "POST",
        "/faults",
        json={
            "faults": [
                {"kind": "http_status", "status": 503, "times": 2, "root_field": "timesheets"},
                {"kind": "timeout", "skip": 1, "root_field": "projects"},
            ]
        },
    )
    # control calls never trip faults
    assert api.control("GET", "/meter")["requests"] == 0
    assert len(api.control("GET", "/faults")["pending"]) == 2
    assert "errors" not in api.post(Q).json()  # projects: skipped once
    assert api.post(Q).json()["errors"][0]["message"] == "Your query timed out."
    assert "errors" not in api.post(Q).json()
    ts = "{ timesheets(first: 1) { edges { cursor } } }"
    assert api.post(ts).status_code == 503
    assert api.post(ts).status_code == 503
    assert api.post(ts).status_code == 200
    assert api.control("GET", "/faults")["pending"] == []
    api.sandbox.add_fault(Fault("burst_rate_limit", times=-1))
    for _ in range(3):
        assert api.post(Q).json()["errors"][0]["code"] == "BAD_REQUEST.BURST_RATE_LIMIT_REACHED"
    api.control("POST", "/faults/clear")
    assert "errors" not in api.post(Q).json()


def test_bad_fault_is_rejected(api: Api) -> None:
    response = api.client.post(api.base + "/_control/faults", json={"kind": "meteor"})
    assert response.status_code == 400 and "unknown fault kind" in response.json()["error"]
    response = api.client.post(api.base + "/_control/faults", json={"kind": "timeout", "tmes": 1})
    assert response.status_code == 400


def test_meter_counts_requests_bytes_and_root_fields(api: Api) -> None:
    r1 = api.post(Q)
    r2 = api.post(
        "{ a: projects(first: 1) { edges { cursor } } b: projects(last: 1) { edges { cursor } } "
        "t: timesheet_deltas(last: 1) { edges { cursor } } }"
    )
    r3 = api.post(Q, headers={})  # auth error: still metered
    api.control("POST", "/faults", json={"kind": "http_status", "status": 502})
    r4 = api.post("{ timesheets { edges { cursor } } }")
    api.control("POST", "/faults", json={"kind": "connection_reset"})
    with pytest.raises(httpx.TransportError):
        api.post(Q)
    r6 = api.client.post(api.url, content=b"{not json", headers=AUTH)
    assert r6.status_code == 400
    meter = api.control("GET", "/meter")
    sizes = [len(r.content) for r in (r1, r2, r3, r4, r6)]
    assert meter["requests"] == 6
    assert meter["bytes"] == sum(sizes)
    assert meter["faults"] == 2
    assert meter["errors"] == 4  # auth, 502, reset, bad body
    per = meter["by_root_field"]
    assert per["projects"]["requests"] == 4  # r1, r2 (aliases count once), r3, reset
    assert per["projects"]["bytes"] == sizes[0] + sizes[1] + sizes[2]
    assert per["projects"]["edges"] == 3 + 2
    assert per["timesheet_deltas"] == {"requests": 1, "bytes": sizes[1], "edges": 0}
    assert per["timesheets"]["requests"] == 1
    assert api.sandbox.meter() == meter
    api.control("POST", "/meter/reset")
    assert api.control("GET", "/meter")["requests"] == 0
