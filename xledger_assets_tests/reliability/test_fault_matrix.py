"""Fault injection matrix: every failure Xledger (or the network) is known to produce, injected
into a real sync of ``timesheets`` at a chosen request.

For each fault the sync either recovers (the rebuilt state equals the truth) or fails with a
plain message; either way every file under a final name is whole, no staging file is left, the
state does not move past data the lake holds, and the next run (fault gone) recovers. Waits are
recorded, not slept. Each test records what happened; ``docs/reliability.md`` is that table
(``make reliability-doc``).

Shape of the syncs (pages of 5): a **full** load of 23 records is request 1 ``timesheet_deltas
(last: 1)`` and requests 2-6 the five pages; a **changes** sync after +4 ~3 -2 changes is
requests 1-2 the delta pages and 3-4 the re-fetch pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from xledger_assets.errors import (
    PagingError,
    XledgerApiError,
    XledgerAuthError,
    XledgerRateLimitError,
    XledgerTransientError,
)
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.conftest import HarnessFactory
from xledger_assets_tests.reliability.harness import (
    Harness,
    assert_files_sound,
    dataset,
    truth_mismatch,
)

NAME = "timesheets"
PAGE = 5
SIZE = 23
SECTION = "faults"


def fault(kind: str, *, at: str = "timesheets", skip: int = 0, times: int = 1, **extra: Any):
    """Queue a sandbox fault on requests selecting ``at`` (after ``skip`` of them). A callable
    value is called when the fault is queued."""

    def inject(h: Harness) -> None:
        values = {k: v() if callable(v) else v for k, v in extra.items()}
        h.sandbox.add_fault(
            {"kind": kind, "root_field": at, "skip": skip, "times": times, **values}
        )

    return inject


def on_request(n: int, action: Callable[[Harness, dict[str, Any]], None]):
    """Run ``action`` just before the n-th request of the sync."""

    def inject(h: Harness) -> None:
        def before(i: int, _body: dict[str, Any]) -> None:
            if i == n:
                action(h, _body)

        h.interceptor.before = before

    return inject


def rewrite(n: int | None, change: Callable[[dict[str, Any], dict[str, Any]], None]):
    """Rewrite the answer to the n-th request (every answer when None) with
    ``change(request, payload)``."""

    def inject(h: Harness) -> None:
        def after(i: int, body: dict[str, Any], payload: Any) -> Any:
            if (n is None or i == n) and isinstance(payload, dict) and "data" in payload:
                change(body, payload)
                return payload
            return None

        h.interceptor.after = after

    return inject


def repeat_cursor(body: dict[str, Any], payload: dict[str, Any]) -> None:
    """The page's last edge carries the cursor the request was sent with."""
    payload["data"][NAME]["edges"][-1]["cursor"] = body["variables"]["after"]


def drop_page_info(_body: dict[str, Any], payload: dict[str, Any]) -> None:
    payload["data"][NAME].pop("pageInfo", None)


def expire_token(h: Harness, _body: dict[str, Any]) -> None:
    h.sandbox.set_token("rotated-token-2b9d")


def drop_deltas(h: Harness, _body: dict[str, Any]) -> None:
    h.sandbox.expire_deltas(NAME)


def credits_at(seconds: float) -> Callable[[], str]:
    return lambda: (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@dataclass(frozen=True)
class Case:
    key: str
    what: str  # the fault, for the table
    phase: str  # "full" or "changes"
    where: str  # which request, for the table
    inject: Callable[[Harness], None]
    error: type[Exception] | None = None  # None: the sync recovers
    message: str = ""  # part of the error message (or of the sync's reason)
    client_timeout: float | None = None
    page_size: int = PAGE
    extra: dict[str, Any] = field(default_factory=dict)


# fmt: off
CASES: list[Case] = [
    Case(
        "burst", "`BAD_REQUEST.BURST_RATE_LIMIT_REACHED` twice", "full", "page 2",
        fault("burst_rate_limit", skip=1, times=2),
    ),
    Case(
        "burst-forever", "`BURST_RATE_LIMIT_REACHED` on every request", "full", "page 1 on",
        fault("burst_rate_limit", times=-1), XledgerRateLimitError,
        "Xledger kept failing (burst rate limit reached) after 181 attempts",
    ),
    Case(
        "concurrency", "`BAD_REQUEST.CONCURRENCY_LIMIT_REACHED` twice", "changes",
        "delta page 1", fault("concurrency_limit", at="timesheet_deltas", times=2),
    ),
    Case(
        "credits-near", "`BAD_REQUEST.INSUFFICIENT_CREDITS`, `resetAt` in 2 minutes",
        "changes", "re-fetch page 1",
        fault("insufficient_credits", reset_at=credits_at(120.7)),
    ),
    Case(
        "credits-far", "`BAD_REQUEST.INSUFFICIENT_CREDITS`, `resetAt` 2099-01-01", "full",
        "request 1 (newest delta)",
        fault("insufficient_credits", at="timesheet_deltas", reset_at="2099-01-01T00:00:00Z"),
        XledgerRateLimitError, "monthly API credits are spent until 2099-01-01 00:00 UTC",
    ),
    Case(
        "unknown-code", "an unknown error code, 3 times", "full", "page 3",
        fault("graphql_error", code="INTERNAL.MAINTENANCE", message="Down for maintenance",
              skip=2, times=3),
    ),
    Case(
        "unknown-code-forever", "an unknown error code on every request", "changes",
        "delta page 1 on",
        fault("graphql_error", at="timesheet_deltas", code="INTERNAL.MAINTENANCE",
              message="Down for maintenance", times=-1),
        XledgerTransientError,
        "Xledger kept failing (error INTERNAL.MAINTENANCE: Down for maintenance) after 10 "
        "attempts",
    ),
    Case(
        "error-without-code", "a GraphQL error without a code", "full", "page 2",
        fault("graphql_error", message="Field 'x' is not defined", skip=1),
        XledgerApiError, "Xledger rejected timesheets: Field 'x' is not defined",
    ),
    Case("http-500", "HTTP 500, twice", "full", "page 1",
         fault("http_status", status=500, times=2)),
    Case("http-502", "HTTP 502", "changes", "delta page 2",
         fault("http_status", at="timesheet_deltas", status=502, skip=1)),
    Case("http-503", "HTTP 503", "changes", "re-fetch page 2",
         fault("http_status", status=503, skip=1)),
    Case("http-529", "HTTP 529 (site overloaded)", "full", "page 5",
         fault("http_status", status=529, skip=4)),
    Case(
        "http-503-forever", "HTTP 503 on every request", "full", "page 1 on",
        fault("http_status", status=503, times=-1), XledgerTransientError,
        "Xledger kept failing (HTTP 503) after 10 attempts",
    ),
    Case(
        "read-timeout", "no answer within the read timeout", "full", "page 2",
        fault("slow", delay=0.6, skip=1), client_timeout=0.25,
    ),
    Case("connection-reset", "connection reset, twice", "changes", "delta page 2",
         fault("connection_reset", at="timesheet_deltas", skip=1, times=2)),
    Case("truncated-json", "JSON cut in half", "full", "page 4",
         fault("truncated_json", skip=3)),
    Case(
        "truncated-body", "body shorter than its Content-Length, socket closed", "changes",
        "re-fetch page 1", fault("truncated_json", cut=0.3, full_length=True),
    ),
    Case("html-200", "an HTML maintenance page with HTTP 200", "full", "page 1",
         fault("html")),
    Case("query-timeout-small", "`Your query timed out.` (pages of 5)", "full", "page 2",
         fault("timeout", skip=1)),
    Case("query-timeout-large", "`Your query timed out.` (pages of 400)", "full", "page 1",
         fault("timeout"), page_size=400),
    Case("null-edges-only", "`edges: null` on a one-page load", "full", "page 1",
         fault("null_edges"), page_size=400),
    Case("null-edges-first", "`edges: null`", "full", "page 1", fault("null_edges")),
    Case("null-edges-middle", "`edges: null`", "full", "page 3", fault("null_edges", skip=2)),
    Case("null-edges-last", "`edges: null`", "full", "page 5 (the last)",
         fault("null_edges", skip=4)),
    Case("null-edges-deltas", "`edges: null`", "changes", "delta page 1",
         fault("null_edges", at="timesheet_deltas")),
    Case("null-edges-deltas-last", "`edges: null`", "changes", "delta page 2 (the last)",
         fault("null_edges", at="timesheet_deltas", skip=1)),
    Case("null-edges-refetch", "`edges: null`", "changes", "re-fetch page 1",
         fault("null_edges")),
    Case(
        "repeated-cursor", "a page ending with the cursor it was asked after", "full",
        "page 3", rewrite(4, repeat_cursor), PagingError,
        "Xledger repeated the cursor",
    ),
    Case("no-page-info", "a page without `pageInfo`", "full", "page 2",
         rewrite(3, drop_page_info)),
    Case(
        "no-page-info-ever", "no page has `pageInfo`", "full", "page 1 on",
        rewrite(None, drop_page_info), PagingError, "without pageInfo.hasNextPage",
    ),
    Case(
        "token-expires", "the API token expires mid-sync", "full", "before page 3",
        on_request(4, expire_token), XledgerAuthError,
        "Xledger refused the API token (Invalid API token: the token is unknown or has "
        "expired.): the token may have expired or been revoked",
    ),
    Case(
        "deltas-dropped", "the deltas expire while they are paged", "changes",
        "before delta page 2", on_request(2, drop_deltas),
        message="no longer accepts the stored delta cursor",
    ),
]
# fmt: on

report.section(
    SECTION,
    "Fault injection matrix",
    ("fault", "sync", "injected at", "outcome", "requests", "waits (s)", "message or reason"),
    __doc__.split("\n\n", 1)[1],
    [c.key for c in CASES],
)


def _setup(h: Harness, case: Case) -> None:
    if case.phase == "changes":
        h.sync(NAME, page_size=case.page_size)
        h.sandbox.mutate(NAME, add=4, update=3, delete=2)


def _client(h: Harness, case: Case):
    if case.client_timeout is None:
        return h.client()
    http = httpx.Client(transport=h.interceptor, timeout=case.client_timeout)
    return h.client(http=http)


def _waits(sleeps: list[float]) -> str:
    if not sleeps:
        return "none"
    if len(sleeps) > 4:
        return f"{len(sleeps)} waits, {sum(sleeps):.0f} in all"
    return ", ".join(f"{s:.0f}" if s >= 10 else f"{s:.1f}" for s in sleeps)


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_fault(make_harness: HarnessFactory, case: Case):
    h = make_harness(seed=5, size=1, sizes={NAME: SIZE})
    _setup(h, case)
    lake = h.lake()
    files_before = h.files(NAME, lake)
    state_before = h.state().get(NAME)
    h.clock.sleeps.clear()
    h.interceptor.count = 0
    case.inject(h)

    client = _client(h, case)
    engine = h.engine(page_size=case.page_size, client=client)
    error: Exception | None = None
    try:
        result = engine.run(dataset(NAME), "auto")
    except Exception as exc:  # the outcome is what is under test
        error = exc
    requests = client.meter.requests
    h.interceptor.before = h.interceptor.after = None
    h.sandbox.clear_faults()

    assert_files_sound(lake, [NAME])
    if case.error is None:
        assert error is None, f"{case.key}: expected to recover, got {error!r}"
        outcome = f"recovered ({result.mode}, {result.rows} rows)"
        text = result.reason
        assert case.message in text
        assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME, lake)) is None
        log = h.sandbox.delta_log(NAME)
        assert h.cursor(NAME) == (log[-1]["cursor"] if log else None)
    else:
        assert isinstance(error, case.error), f"{case.key}: {error!r}"
        text = str(error)
        assert case.message in text, text
        outcome = f"failed: `{type(error).__name__}`"
        assert h.files(NAME, lake) == files_before, "a failed sync published a file"
        assert h.state().get(NAME) == state_before, "a failed sync moved the state"
        assert h.token not in text

    report.record(
        SECTION,
        case.key,
        case.what,
        case.phase,
        case.where,
        outcome,
        str(requests),
        _waits(h.clock.sleeps),
        text,
    )

    # The next run, the fault gone, recovers (a rotated token is put in place first).
    if case.key == "token-expires":
        h.token = "rotated-token-2b9d"
    h.sync(NAME, page_size=case.page_size)
    assert_files_sound(lake, [NAME])
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME, lake)) is None
    client.close()
