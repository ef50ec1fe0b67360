"""The client against the sandbox over HTTP: auth messages, retries, waits, paging guards.
Waits are recorded, not slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xledger_assets.errors import (
    PagingError,
    XledgerApiError,
    XledgerAuthError,
    XledgerRateLimitError,
    XledgerTransientError,
)
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.xledger.client import RetryPolicy, XledgerClient
from xledger_assets.xledger.paging import iter_pages
from xledger_assets_tests.conftest import TOKEN

Q = "{ suppliers(first: 5) { edges { cursor node { dbId } } pageInfo { hasNextPage } } }"


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(srv: SandboxServer, token: str = TOKEN, **policy) -> tuple[XledgerClient, Recorder]:
    sleeps = Recorder()
    return XledgerClient(srv.url, token, sleep=sleeps, policy=RetryPolicy(**policy)), sleeps


def test_wrong_token_says_it_may_have_expired(sandbox: SandboxServer):
    c, _ = client(sandbox, "not-the-token")
    with pytest.raises(XledgerAuthError) as err:
        c.execute(Q)
    text = str(err.value)
    assert "token may have expired or been revoked" in text and "XLEDGER_API_TOKEN" in text
    assert "not-the-token" not in text


def test_bad_header_format_is_reported(sandbox: SandboxServer):
    import httpx

    r = httpx.post(sandbox.url, json={"query": Q}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json()["errors"][0]["message"] == (
        'Bad format for API Token. Expected header: "Authorization: token <your-token>"'
    )


@pytest.mark.parametrize(("kind", "wait"), [("burst_rate_limit", 5.0), ("concurrency_limit", 1.0)])
def test_rate_limits_are_waited_out(sandbox: SandboxServer, kind: str, wait: float):
    sandbox.sandbox.add_fault({"kind": kind, "times": 2})
    c, sleeps = client(sandbox)
    data = c.execute(Q)
    assert len(data["suppliers"]["edges"]) == 5
    assert sleeps.waits == [wait, wait]
    assert c.meter.requests == 3


def test_credits_wait_until_reset_when_near(sandbox: SandboxServer):
    reset = (datetime.now(UTC) + timedelta(seconds=120)).isoformat()
    sandbox.sandbox.add_fault({"kind": "insufficient_credits", "reset_at": reset})
    c, sleeps = client(sandbox)
    c.execute(Q)
    assert len(sleeps.waits) == 1 and 110 < sleeps.waits[0] <= 120


def test_credits_far_away_fail_plainly(sandbox: SandboxServer):
    sandbox.sandbox.add_fault({"kind": "insufficient_credits", "reset_at": "2099-01-01T00:00:00Z"})
    c, sleeps = client(sandbox)
    with pytest.raises(
        XledgerRateLimitError, match="monthly API credits are spent until 2099-01-01"
    ):
        c.execute(Q)
    assert sleeps.waits == []


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_status", "status": 500},
        {"kind": "http_status", "status": 502},
        {"kind": "http_status", "status": 503},
        {"kind": "http_status", "status": 529},
        {"kind": "html"},
        {"kind": "truncated_json"},
        {"kind": "connection_reset"},
        {"kind": "graphql_error", "code": "INTERNAL.SOMETHING"},
    ],
)
def test_transient_failures_back_off_and_recover(sandbox: SandboxServer, fault: dict):
    sandbox.sandbox.add_fault({**fault, "times": 3})
    c, sleeps = client(sandbox)
    assert len(c.execute(Q)["suppliers"]["edges"]) == 5
    # exponential with jitter: each wait within [ceiling/2, ceiling] of 1, 2, 4 s
    assert len(sleeps.waits) == 3
    for wait, ceiling in zip(sleeps.waits, (1, 2, 4), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_retry_budget_is_bounded(sandbox: SandboxServer):
    sandbox.sandbox.add_fault({"kind": "http_status", "status": 503, "times": -1})
    c, sleeps = client(sandbox, max_attempts=4)
    with pytest.raises(XledgerTransientError, match=r"HTTP 503\) after 4 attempts"):
        c.execute(Q)
    assert len(sleeps.waits) == 3


def test_slow_answers_time_out_and_are_retried(sandbox: SandboxServer):
    sandbox.sandbox.add_fault({"kind": "slow", "delay": 1.5})
    c, sleeps = client(sandbox, timeout=0.5)
    assert len(c.execute(Q)["suppliers"]["edges"]) == 5
    assert len(sleeps.waits) == 1


def test_validation_errors_are_not_retried(sandbox: SandboxServer):
    c, sleeps = client(sandbox)
    bad = (
        "query($ids: [Int!]) { timesheets(first: 1, filter: {dbId_in: $ids}) { edges { cursor } } }"
    )
    with pytest.raises(XledgerApiError, match="Xledger rejected"):
        c.execute(bad, {"ids": [1]})
    assert sleeps.waits == [] and c.meter.requests == 1


def test_paging_covers_every_record_once_and_edges_null_at_the_end(sandbox: SandboxServer):
    sb = sandbox.sandbox
    q = (
        "query($first: Int!, $after: String) { suppliers(first: $first, after: $after) "
        "{ edges { cursor node { dbId } } pageInfo { hasNextPage } } }"
    )
    c, _ = client(sandbox)
    ids = [n["dbId"] for p in iter_pages(c, q, root="suppliers", page_size=7) for n in p.nodes]
    assert ids == sb.ids("suppliers")
    assert c.meter.requests == 5  # 30 records in pages of 7


def test_a_repeated_cursor_stops_paging(sandbox: SandboxServer):
    class Looping(XledgerClient):
        def execute(self, query, variables=None, *, operation="query"):
            return {
                "x": {"edges": [{"cursor": "same", "node": {}}], "pageInfo": {"hasNextPage": True}}
            }

    c = Looping(sandbox.url, TOKEN)
    with pytest.raises(PagingError, match="repeated the cursor 'same'"):
        list(iter_pages(c, "q", root="x"))


PARTIAL = (
    "query P($bad: String) { a: suppliers(first: 1) { edges { cursor } } "
    "b: supplier_deltas(first: 5, after: $bad) { edges { cursor } } }"
)


def test_an_optional_field_may_fail_alone(sandbox: SandboxServer):
    c, _ = client(sandbox)
    data, failed = c.execute_partial(PARTIAL, {"bad": "nonsense"}, optional=["b"])
    assert len(data["a"]["edges"]) == 1 and data["b"] is None
    assert failed == {"b": 'Invalid cursor "nonsense": not a cursor of supplier_deltas'}
    assert c.meter.requests == 1
    assert c.execute_partial(PARTIAL, {"bad": None}, optional=["b"])[1] == {}


def test_other_failures_go_the_usual_way(sandbox: SandboxServer):
    c, sleeps = client(sandbox)
    with pytest.raises(XledgerApiError, match="not a cursor of supplier_deltas"):
        c.execute_partial(PARTIAL, {"bad": "nonsense"}, optional=["a"])  # b is not optional
    sandbox.sandbox.add_fault({"kind": "burst_rate_limit", "times": 1})
    data, failed = c.execute_partial(PARTIAL, {"bad": None}, optional=["a", "b"])
    assert sleeps.waits == [5.0] and failed == {} and data["a"]["edges"]
