"""A full load through ``full_batches`` (pages read by pyarrow.json where exact) against the way
it went before (``iter_pages`` without the hook, ``orjson.loads``, ``RecordConverter.batch``):
on every answer Xledger may give, the same batches or the same error, the same requests
(variables and count) and one meter record per HTTP request."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG, Field
from xledger_assets.sync import convert
from xledger_assets.sync.convert import RecordConverter
from xledger_assets.sync.pages import full_batches
from xledger_assets.xledger.client import XledgerClient
from xledger_assets.xledger.paging import iter_pages

ROOT = "items"
FIELDS = (
    Field("dbId", "id"),
    Field("t", "text"),
    Field("d", "decimal"),
    Field("o.dbId", "id"),
    Field("o.day", "date"),
)
Q = "query($first: Int!, $after: String) { items(first: $first, after: $after) { ... } }"


def node(i: int, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dbId": i,
        "t": f"Å{i}",
        "d": f"{i}.25",
        "o": {"dbId": 10 * i, "day": "2024-07-11"},
    }
    out.update(changes)
    return out


def page(
    nodes: list[Any], *, has_next: bool = True, start: int = 0, **extra: Any
) -> dict[str, Any]:
    edges = [{"cursor": f"k{start + i}", "node": n} for i, n in enumerate(nodes)]
    answer: dict[str, Any] = {
        "data": {ROOT: {"edges": edges, "pageInfo": {"hasNextPage": has_next}}}
    }
    answer.update(extra)
    return answer


def nodes(lo: int, hi: int, **changes: Any) -> list[Any]:
    return [node(i, **changes) for i in range(lo, hi)]


Reply = tuple[int, bytes]


def js(answer: Any, status: int = 200) -> Reply:
    return status, orjson.dumps(answer)


P1 = js(page(nodes(1, 4), start=0))
P2 = js(page(nodes(4, 7), start=3))
LAST = js(page(nodes(7, 9), has_next=False, start=6))
EMPTY_END = js(page([], has_next=False))
BURST = js({"errors": [{"message": "slow down", "code": "BAD_REQUEST.BURST_RATE_LIMIT_REACHED"}]})
TIMEOUT = js({"errors": [{"message": "Your query timed out."}]})


NO_PAGE_INFO = js({"data": {ROOT: {"edges": [{"cursor": "z", "node": node(1)}]}}})
NULL_END = js({"data": {ROOT: {"edges": None, "pageInfo": {"hasNextPage": False}}}})


def raw(body: bytes, status: int = 200) -> Reply:
    return status, body


def replace(reply: Reply, old: bytes, new: bytes) -> Reply:
    assert old in reply[1]
    return reply[0], reply[1].replace(old, new)


# Each scenario: the answers, in order, to the requests of one full load.
SCENARIOS: dict[str, list[Reply]] = {
    "three pages": [P1, P2, LAST],
    "one page": [js(page(nodes(1, 30), has_next=False))],
    "burst limit, then pages": [BURST, P1, BURST, P2, LAST],
    "unknown error code is retried": [
        js(page(nodes(1, 4), errors=[{"message": "x", "code": "MAINTENANCE"}])),
        P1,
        LAST,
    ],
    "errors null is no error": [js(page(nodes(1, 4), has_next=False, errors=None))],
    "errors empty is no error": [js(page(nodes(1, 4), has_next=False, errors=[]))],
    "error without code fails": [P1, js(page(nodes(1, 4), errors=[{"message": "Nope"}]))],
    "cursor error fails": [P1, js({"errors": [{"message": 'Invalid cursor "k2"'}]})],
    "timeout shrinks the page": [TIMEOUT, TIMEOUT, P1, LAST],
    "HTTP 500 then page": [raw(b"<html>500</html>", 500), P1, LAST],
    "HTTP 429": [raw(b"", 429), P1, LAST],
    "HTTP 400 with a page fails": [P1, js(page(nodes(4, 6)), status=400)],
    "HTTP 401 with a page fails": [js(page(nodes(4, 6)), status=401)],
    "HTTP 302 with a page is read": [js(page(nodes(4, 6), has_next=False), status=302)],
    "html page": [raw(b"<!DOCTYPE html><html>maintenance</html>"), P1, LAST],
    "truncated": [raw(P1[1][:100]), P1, raw(LAST[1][:-1]), LAST],
    "not JSON": [raw(b"nope"), raw(b""), raw(b"  "), P1, LAST],
    "a JSON list": [raw(b"[1]"), P1, LAST],
    "byte order mark": [raw(b"\xef\xbb\xbf" + P1[1]), P1, LAST],
    "two documents": [raw(P1[1] + b"\n" + P1[1]), P1, LAST],
    "invalid UTF-8": [replace(P1, "Å1".encode(), b"\xc5"), P1, LAST],
    "lone surrogate": [replace(P1, "Å1".encode(), b"\\ud800"), P1, LAST],
    "NaN": [replace(P1, b'"d":"1.25"', b'"d":NaN'), P1, LAST],
    "no data": [js({"other": 1}), P1, LAST],
    "data null": [js({"data": None}), P1, LAST],
    "connection null": [js({"data": {ROOT: None}}), P1, LAST],
    "connection null, always": [js({"data": {ROOT: None}})] * 4,
    "no pageInfo": [replace(P1, b',"pageInfo":{"hasNextPage":true}', b""), P1, LAST],
    "hasNextPage null": [replace(P1, b'"hasNextPage":true', b'"hasNextPage":null'), P1, LAST],
    "edges not a list": [
        js({"data": {ROOT: {"edges": 5, "pageInfo": {"hasNextPage": True}}}}),
        P1,
        LAST,
    ],
    "edges null at the end, confirmed": [P1, replace(EMPTY_END, b"[]", b"null"), EMPTY_END],
    "edges null at the end, then records": [
        P1,
        replace(EMPTY_END, b"[]", b"null"),
        LAST,
    ],
    "edges null on the first page": [replace(EMPTY_END, b"[]", b"null")] * 2,
    "empty page that says there is more": [js(page([])), js(page([])), P1, LAST],
    "empty pages that say there is more, always": [js(page([]))] * 4,
    "empty last page": [P1, EMPTY_END, EMPTY_END],
    # A good page resets the counts of malformed and empty answers and the confirmation.
    "malformed answers between pages": [NO_PAGE_INFO, P1] + [NO_PAGE_INFO] * 3 + [P2, LAST],
    "empty answers between pages": [js(page([])), P1] + [js(page([]))] * 3 + [P2, LAST],
    "edges null twice at the end": [P1, NULL_END, P2, NULL_END, EMPTY_END],
    "null edge": [replace(P1, b'"edges":[', b'"edges":[null,')],
    "edge without cursor": [replace(P1, b'"cursor":"k2",', b"")],
    "null cursor on the last edge": [replace(P1, b'"cursor":"k2"', b'"cursor":null')],
    "numeric cursor": [replace(P1, b'"cursor":"k2"', b'"cursor":77'), P2, LAST],
    "null cursor before the last": [replace(P1, b'"cursor":"k0"', b'"cursor":null'), LAST],
    "repeated cursor": [P1, P1],
    "null node": [js(page([node(1), None, node(3)], has_next=False))],
    "node not an object": [js(page([node(1), "x"], has_next=False))],
    "extra field": [js(page(nodes(1, 4, extra=1))), P2, LAST],
    "extensions": [raw(P1[1][:-1] + b',"extensions":{"cost":3}}'), P2, LAST],
    "duplicate key": [replace(P1, b'{"dbId":2,', b'{"dbId":9,"dbId":2,'), P2, LAST],
    "kinds change between pages": [
        js(page(nodes(1, 4, o=None))),
        js(page([node(i, dbId=str(i), o={"dbId": str(i)}) for i in range(4, 7)], start=3)),
        js(page([node(i, d=i) for i in range(7, 10)], start=6)),
        js(page([node(10), node(11, dbId="11")], start=9)),
        js(page([node(i, d=i / 4) for i in range(12, 15)], start=11)),  # float decimals
        js(page(nodes(15, 18), start=14)),
        js(page(nodes(18, 20), has_next=False, start=17)),
    ],
    "unfit value on a later page": [P1, P2, js(page([node(9, d="1e30")], has_next=False))],
    "unfit date on the first page": [js(page([node(1, o={"day": "2024-07-11T10:00:00"})]))],
    "missing dbId": [P1, js(page([node(9, dbId=None)], has_next=False))],
    "id beyond int64": [P1, js(page([node(9, dbId=2**63)], has_next=False))],
}

# The scenarios where every page is one pyarrow.json reads (of the first guess of the wire
# kinds: JSON integers for ids): the fast way must be taken for each.
ALL_FAST = {
    "three pages",
    "one page",
    "burst limit, then pages",
    "errors null is no error",
    "timeout shrinks the page",
    "HTTP 302 with a page is read",
}


class Transport:
    """Answers the requests in order, recording each request's variables."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(orjson.loads(request.content)["variables"])
        if len(self.requests) > len(self.replies):
            return httpx.Response(200, content=orjson.dumps(page([], has_next=False)))
        status, body = self.replies[len(self.requests) - 1]
        return httpx.Response(status, content=body)


def before(client: XledgerClient, converter: RecordConverter) -> Iterator[pa.RecordBatch]:
    """The full load as it was: every answer through orjson, every page through batch."""
    for p in iter_pages(client, Q, root=ROOT, page_size=10_000, operation=ROOT):
        if p.nodes:
            yield converter.batch(p.nodes, ["ADDED"] * len(p.nodes))


def now(client: XledgerClient, converter: RecordConverter) -> Iterator[pa.RecordBatch]:
    return full_batches(client, Q, root=ROOT, converter=converter, page_size=10_000)


def load(
    way: Callable[[XledgerClient, RecordConverter], Iterator[pa.RecordBatch]],
    replies: list[Reply],
    fields: tuple[Field, ...] = FIELDS,
) -> tuple[Any, list[dict[str, Any]], int, dict[str, int], list[float]]:
    transport = Transport(replies)
    sleeps: list[float] = []
    client = XledgerClient(
        "http://xledger.test/graphql",
        "token-for-tests",
        http=httpx.Client(transport=httpx.MockTransport(transport)),
        sleep=sleeps.append,
        rng=random.Random(0),
    )
    result: Any
    try:
        result = [(b.schema, b.to_pylist()) for b in way(client, RecordConverter("demo", fields))]
    except Exception as exc:
        result = (type(exc).__name__, str(exc))
    meter = client.meter
    assert meter.requests == len(transport.requests)  # one record per HTTP request
    return result, transport.requests, meter.bytes, meter.by_operation, sleeps


@pytest.fixture
def fast_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the pages that went through batch_from_struct."""
    seen: list[int] = []
    original = convert.RecordConverter.batch_from_struct

    def spy(self: RecordConverter, nodes: pa.StructArray, kinds: Any) -> pa.RecordBatch:
        seen.append(len(nodes))
        return original(self, nodes, kinds)

    monkeypatch.setattr(convert.RecordConverter, "batch_from_struct", spy)
    return seen


def paging(client: XledgerClient, converter: RecordConverter) -> Iterator[pa.RecordBatch]:
    """Paging alone, every page asked for whatever the pages hold."""
    for _ in iter_pages(client, Q, root=ROOT, page_size=10_000, operation=ROOT):
        pass
    return iter(())


def assert_same_load(got: Any, want: Any, replies: list[Reply]) -> None:
    if not isinstance(want[0], tuple):  # no error: everything is the same
        assert got == want
        return
    # A conversion error stops the load; the page after it may have been asked for already in
    # the background (as before: only the timing decides). The requests stay those of paging.
    result, requests, _, _, sleeps = got
    assert result == want[0]
    assert requests[: len(want[1])] == want[1] and len(requests) <= len(want[1]) + 2
    assert requests == load(paging, replies)[1][: len(requests)]
    assert sleeps[: len(want[4])] == want[4]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_load_goes_as_before(name: str, fast_pages: list[int]) -> None:
    replies = SCENARIOS[name]
    want = load(before, replies)
    assert not fast_pages
    got = load(now, replies)
    assert_same_load(got, want, replies)
    if name in ALL_FAST:
        assert isinstance(got[0], list) and len(fast_pages) == len(got[0]) > 0


def test_pages_after_a_change_of_kinds_are_read_by_arrow_again(fast_pages: list[int]) -> None:
    got = load(now, SCENARIOS["kinds change between pages"])
    assert got == load(before, SCENARIOS["kinds change between pages"])
    # Pages 1-3 and 6-7 have one JSON type per leaf (ids and decimals change between them);
    # page 4 has ids of two kinds, page 5 float decimals: those two take the careful way.
    assert fast_pages == [3, 3, 3, 3, 2]


def test_the_scenarios_cover_what_they_say() -> None:
    outcomes = {name: load(before, replies)[0] for name, replies in SCENARIOS.items()}
    errors = {name for name, result in outcomes.items() if isinstance(result, tuple)}
    assert {
        "error without code fails",
        "cursor error fails",
        "HTTP 400 with a page fails",
        "HTTP 401 with a page fails",
        "connection null, always",
        "empty pages that say there is more, always",
        "null edge",
        "edge without cursor",
        "null cursor on the last edge",
        "repeated cursor",
        "unfit value on a later page",
        "unfit date on the first page",
        "missing dbId",
        "id beyond int64",
    } <= errors
    assert "kinds change between pages" not in errors
    assert outcomes["edges null on the first page"] == []


@pytest.mark.parametrize("name", [d.name for d in DEFAULT_CATALOG.api])
def test_catalog_datasets_through_mock_http(name: str, fast_pages: list[int]) -> None:
    from xledger_assets.sandbox.core import Sandbox
    from xledger_assets_tests.unit.test_pages_arrow import project, tree_of

    d = DEFAULT_CATALOG.api_dataset(name)
    records = [project(r, tree_of(d.fields)) for r in Sandbox(seed=9, size=50).truth(d.items_field)]
    pages: list[Reply] = []
    for start in range(0, 50, 10):
        answer = page(records[start : start + 10], has_next=start < 40, start=start)
        answer["data"] = {d.items_field: answer["data"][ROOT]}
        pages.append(js(answer))

    def before_d(client: XledgerClient, converter: RecordConverter) -> Iterator[pa.RecordBatch]:
        for p in iter_pages(client, Q, root=d.items_field, page_size=10, operation=d.items_field):
            if p.nodes:
                yield converter.batch(p.nodes, ["ADDED"] * len(p.nodes))

    def now_d(client: XledgerClient, converter: RecordConverter) -> Iterator[pa.RecordBatch]:
        return full_batches(client, Q, root=d.items_field, converter=converter, page_size=10)

    want = load(before_d, pages, d.fields)
    got = load(now_d, pages, d.fields)
    assert got == want and isinstance(got[0], list) and len(got[0]) == 5
    assert fast_pages == [10] * 5


SANDBOX_FAULTS: list[dict[str, Any]] = [
    {"kind": "truncated_json", "skip": 1},
    {"kind": "truncated_json", "full_length": True, "skip": 2},
    {"kind": "null_edges", "skip": 3},
    {"kind": "html", "skip": 4},
    {"kind": "http_status", "status": 503, "skip": 5},
    {"kind": "burst_rate_limit", "skip": 6},
    {"kind": "timeout", "skip": 7},
]


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
@pytest.mark.parametrize("name", [d.name for d in DEFAULT_CATALOG.api])
def test_a_full_load_from_the_sandbox_over_http(
    name: str, faults: bool, fast_pages: list[int]
) -> None:
    from xledger_assets.sandbox.server import SandboxServer
    from xledger_assets.xledger import queries

    d = DEFAULT_CATALOG.api_dataset(name)
    query = queries.items_query(d, owner_set=None, fixed_filter=None)
    runs = []
    with SandboxServer(port=0, seed=11, size=40, token="sandbox-token") as srv:
        for way in ("before", "now"):
            srv.sandbox.clear_faults()
            srv.sandbox.reset_meter()
            for fault in SANDBOX_FAULTS if faults else []:
                srv.sandbox.add_fault({**fault, "root_field": d.items_field})
            client = XledgerClient(
                srv.url, "sandbox-token", sleep=lambda _: None, rng=random.Random(0)
            )
            converter = RecordConverter(d.name, d.fields)
            if way == "before":
                pages = iter_pages(client, query, root=d.items_field, page_size=9)
                batches = [
                    converter.batch(p.nodes, ["ADDED"] * len(p.nodes)) for p in pages if p.nodes
                ]
            else:
                batches = list(
                    full_batches(
                        client, query, root=d.items_field, converter=converter, page_size=9
                    )
                )
            meter = srv.sandbox.meter()
            # (A body cut short by a closed socket is counted by the sandbox, not the client.)
            counts = (meter["requests"], meter["bytes"], client.meter.requests, client.meter.bytes)
            runs.append((pa.Table.from_batches(batches), *counts))
    (want, *want_meter), (got, *got_meter) = runs
    assert got.equals(want) and got.num_rows == 40
    assert got_meter == want_meter
    assert fast_pages == [9, 9, 9, 9, 4]  # every page (a faulty answer's retry) via Arrow
