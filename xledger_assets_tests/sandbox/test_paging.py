"""Relay paging: first/after oldest -> newest, last, hasNextPage, filters, cursors, 10k pages."""

from __future__ import annotations

import time

import httpx
import pytest

from xledger_assets.sandbox import ENTITIES, SandboxServer

from .conftest import AUTH, Api, page_all, page_query


@pytest.mark.parametrize("entity", list(ENTITIES))
@pytest.mark.parametrize("first", [1, 7, 30, 100])
def test_paging_covers_every_record_once(api: Api, entity: str, first: int) -> None:
    field = ENTITIES[entity].items_field
    pages = page_all(api, field, first)
    ids = [int(e["node"]["dbId"]) for page in pages for e in page]
    assert ids == api.sandbox.ids(entity)  # every record once, oldest -> newest
    assert all(len(p) == first for p in pages[:-1])
    assert len(pages) == max(1, -(-30 // first))


def test_cursors_are_opaque_strings(api: Api) -> None:
    edges = api.gql(page_query("projects"), {"first": 5})["projects"]["edges"]
    for edge in edges:
        assert isinstance(edge["cursor"], str)
        assert edge["cursor"] != str(edge["node"]["dbId"])


def test_last_returns_the_newest(api: Api) -> None:
    q = "{ timesheets(last: 1) { edges { cursor node { dbId } } pageInfo { hasNextPage } } }"
    data = api.gql(q)["timesheets"]
    assert [e["node"]["dbId"] for e in data["edges"]] == [str(api.sandbox.ids("timesheets")[-1])]
    assert data["pageInfo"]["hasNextPage"] is False
    q3 = "{ projects(last: 3) { edges { node { dbId } } } }"
    assert [e["node"]["dbId"] for e in api.gql(q3)["projects"]["edges"]] == api.sandbox.ids(
        "projects"
    )[-3:]
    (new,) = api.sandbox.add("timesheets", 1)
    assert api.gql(q)["timesheets"]["edges"][0]["node"]["dbId"] == str(new)


def test_after_the_last_cursor_is_an_empty_page(api: Api) -> None:
    last = api.gql("{ projects(last: 1) { edges { cursor } } }")["projects"]["edges"][0]["cursor"]
    data = api.gql(page_query("projects"), {"first": 10, "after": last})["projects"]
    assert data == {"edges": [], "pageInfo": {"hasNextPage": False}}


def test_paging_survives_deletes_and_adds_between_pages(api: Api) -> None:
    first = api.gql(page_query("projects"), {"first": 10})["projects"]
    cursor = first["edges"][-1]["cursor"]
    last_seen = first["edges"][-1]["node"]["dbId"]
    api.sandbox.delete_ids("projects", [last_seen])
    added = api.sandbox.add("projects", 2)
    rest = page_all_after(api, "projects", cursor)
    assert rest[-2:] == added
    assert last_seen not in rest
    assert rest == [i for i in api.sandbox.ids("projects") if i > last_seen]


def page_all_after(api: Api, field: str, after: str) -> list[int]:
    out: list[int] = []
    while True:
        data = api.gql(page_query(field), {"first": 7, "after": after})[field]
        out += [e["node"]["dbId"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return out
        after = data["edges"][-1]["cursor"]


@pytest.mark.parametrize("cursor", ["nonsense", "bm9wZTox", "cHJvamVjdHM6MTo5"])
def test_invalid_cursor_is_an_error(api: Api, cursor: str) -> None:
    errors = api.errors(page_query("projects"), {"first": 5, "after": cursor})
    assert errors[0]["message"].startswith("Invalid cursor")
    assert errors[0]["path"] == ["projects"]


def test_a_cursor_of_another_field_is_rejected(api: Api) -> None:
    cursor = api.gql("{ timesheets(first: 1) { edges { cursor } } }")["timesheets"]["edges"][0][
        "cursor"
    ]
    errors = api.errors(page_query("projects"), {"first": 5, "after": cursor})
    assert errors[0]["message"].startswith("Invalid cursor")


def test_dbid_in_filter(api: Api) -> None:
    ids = api.sandbox.ids("employees")
    wanted = [ids[20], ids[3], 999999999999999, ids[11]]
    q = "query($ids: [Int!]) { employees(filter: {dbId_in: $ids}) { edges { node { dbId } } } }"
    got = [e["node"]["dbId"] for e in api.gql(q, {"ids": wanted})["employees"]["edges"]]
    assert got == sorted([ids[3], ids[11], ids[20]])  # unknown ids ignored, oldest first
    assert api.gql(q, {"ids": []})["employees"]["edges"] == []
    # filter + paging
    q2 = (
        "query($ids: [Int!], $after: String) { employees(first: 2, after: $after, "
        "filter: {dbId_in: $ids}) { edges { cursor node { dbId } } pageInfo { hasNextPage } } }"
    )
    page = api.gql(q2, {"ids": ids[:5]})["employees"]
    assert page["pageInfo"]["hasNextPage"] is True
    page2 = api.gql(q2, {"ids": ids[:5], "after": page["edges"][-1]["cursor"]})["employees"]
    assert [e["node"]["dbId"] for e in page2["edges"]] == ids[2:4]


def test_date_filters(api: Api) -> None:
    truth = api.sandbox.truth("timesheets")
    dates = sorted(r["assignmentDate"] for r in truth)
    cut = dates[len(dates) // 2]
    q = (
        f'{{ timesheets(filter: {{assignmentDate_gte: "{cut}"}}) '
        "{ edges { node { dbId } } } }"
    )
    got = {e["node"]["dbId"] for e in api.gql(q)["timesheets"]["edges"]}
    assert got == {r["dbId"] for r in truth if r["assignmentDate"] >= cut}
    assert got == {r["dbId"] for r in api.sandbox.truth("timesheets", {"assignmentDate_gte": cut})}
    (updated,) = api.sandbox.update("projects", 1)
    stamp = api.sandbox.truth("projects", {"dbId_in": [updated]})[0]["modifiedAt"]
    q2 = '{ projects(filter: {modifiedAt_gte: "%s"}) { edges { node { dbId modifiedAt } } } }'
    edges = api.gql(q2 % stamp)["projects"]["edges"]
    assert updated in [e["node"]["dbId"] for e in edges]
    assert all(e["node"]["modifiedAt"] >= stamp for e in edges)


def test_null_empty_edges_option() -> None:
    with SandboxServer(port=0, size=3, null_empty_edges=True) as srv, httpx.Client() as client:
        q = "{ project_deltas(first: 10) { edges { cursor } pageInfo { hasNextPage } } }"
        body = client.post(srv.url, json={"query": q}, headers=AUTH).json()
        assert body == {
            "data": {"project_deltas": {"edges": None, "pageInfo": {"hasNextPage": False}}}
        }


@pytest.mark.parametrize("total", [10000, 10001])
def test_full_pages_of_10000(total: int) -> None:
    started = time.perf_counter()
    with SandboxServer(port=0, seed=2, size=5, sizes={"timesheets": total}) as srv:
        generated = time.perf_counter() - started
        assert generated < 3, f"generating {total} records took {generated:.2f}s"
        with httpx.Client(timeout=30) as client:
            api = Api(srv, client)
            node = "dbId workingHours employee { dbId description } project { code }"
            t0 = time.perf_counter()
            pages = page_all(api, "timesheets", 10000, node=node)
            elapsed = time.perf_counter() - t0
    assert [len(p) for p in pages] == ([10000] if total == 10000 else [10000, 1])
    ids = [e["node"]["dbId"] for p in pages for e in p]
    assert len(set(ids)) == total
    assert elapsed < 5, f"paging {total} timesheets took {elapsed:.2f}s"
