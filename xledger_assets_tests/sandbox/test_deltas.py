"""Delta logs: empty at start, one edge per mutation, resume, retention, expiry, determinism."""

from __future__ import annotations

from datetime import datetime

import pytest

from xledger_assets.sandbox import ENTITIES, Clock, Sandbox

from .conftest import Api

DQ = (
    "query D($first: Int, $after: String) { %s(first: $first, after: $after) { "
    "edges { cursor node { dbId mutationType } } pageInfo { hasNextPage } } }"
)


def deltas(api: Api, entity: str, after: str | None = None, first: int = 10000) -> list[dict]:
    field = ENTITIES[entity].deltas_field
    out: list[dict] = []
    while True:
        data = api.gql(DQ % field, {"first": first, "after": after})[field]
        out += data["edges"]
        if not data["pageInfo"]["hasNextPage"]:
            return out
        after = data["edges"][-1]["cursor"]


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_seeded_data_has_an_empty_delta_log(api: Api, entity: str) -> None:
    assert deltas(api, entity) == []
    field = ENTITIES[entity].deltas_field
    assert api.gql(f"{{ {field}(last: 1) {{ edges {{ cursor }} }} }}")[field]["edges"] == []


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_mutations_append_deltas(api: Api, entity: str) -> None:
    sb = api.sandbox
    before = {r["dbId"]: r for r in sb.truth(entity)}
    result = sb.mutate(entity, add=3, update=4, delete=2)
    edges = deltas(api, entity, first=2)
    got = [(int(e["node"]["dbId"]), e["node"]["mutationType"]) for e in edges]
    want = (
        [(i, "ADDED") for i in result["added"]]
        + [(i, "UPDATED") for i in result["updated"]]
        + [(i, "DELETED") for i in result["deleted"]]
    )
    assert got == want
    node_id_type = str if ENTITIES[entity].string_ids else int
    assert all(type(e["node"]["dbId"]) is node_id_type for e in edges)
    after = {r["dbId"]: r for r in sb.truth(entity)}
    key = node_id_type
    for i in result["added"]:
        assert key(i) not in before
        assert (key(i) in after) == (i not in result["deleted"])
    for i in result["deleted"]:
        assert key(i) not in after
    for i in set(result["updated"]) - set(result["deleted"]) - set(result["added"]):
        assert after[key(i)] != before[key(i)]
        assert after[key(i)]["modifiedAt"] >= before[key(i)]["modifiedAt"]


def test_resume_from_a_cursor_and_last_one(api: Api) -> None:
    sb = api.sandbox
    sb.add("timesheets", 2)
    newest = api.gql("{ timesheet_deltas(last: 1) { edges { cursor node { dbId } } } }")
    cursor = newest["timesheet_deltas"]["edges"][0]["cursor"]
    assert deltas(api, "timesheets", after=cursor) == []
    (updated,) = sb.update("timesheets", 1)
    (deleted,) = sb.delete("timesheets", 1)
    sb.readd("timesheets", deleted)
    sb.update_ids("timesheets", [deleted], {"workingHours": "1.25", "project": None})
    got = [
        (e["node"]["dbId"], e["node"]["mutationType"]) for e in deltas(api, "timesheets", cursor)
    ]
    assert got == [
        (str(updated), "UPDATED"),
        (str(deleted), "DELETED"),
        (str(deleted), "ADDED"),
        (str(deleted), "UPDATED"),
    ]
    record = sb.truth("timesheets", {"dbId_in": [deleted]})[0]
    assert record["workingHours"] == "1.25" and record["project"] is None


def test_expire_deltas_makes_old_cursors_fail(api: Api) -> None:
    sb = api.sandbox
    sb.add("projects", 2)
    cursor = deltas(api, "projects")[-1]["cursor"]
    assert sb.expire_deltas("projects") == 2
    errors = api.errors(DQ % "project_deltas", {"first": 10, "after": cursor})
    assert errors[0]["message"] == "Cursor has expired: deltas are kept for 3 days"
    # the log itself keeps working; new deltas arrive after the expiry
    sb.add("projects", 1)
    assert len(deltas(api, "projects")) == 1
    # other entities are untouched
    sb.add("employees", 1)
    employee_cursor = deltas(api, "employees")[-1]["cursor"]
    assert deltas(api, "employees", employee_cursor) == []


def test_retention_window_follows_the_sandbox_clock(api: Api) -> None:
    sb = api.sandbox
    sb.add("customers", 1)
    old_cursor = deltas(api, "customers")[-1]["cursor"]
    sb.advance_clock(2 * 86400)
    (fresh,) = sb.add("customers", 1)
    assert [e["node"]["dbId"] for e in deltas(api, "customers", old_cursor)] == [fresh]
    sb.advance_clock(86400 + 60)  # the first delta is now older than 3 days
    assert [e["node"]["dbId"] for e in deltas(api, "customers")] == [fresh]
    errors = api.errors(DQ % "customer_deltas", {"first": 10, "after": old_cursor})
    assert errors[0]["message"].startswith("Cursor has expired")


def test_invalid_delta_cursor(api: Api) -> None:
    errors = api.errors(DQ % "supplier_deltas", {"first": 10, "after": "garbage"})
    assert errors[0]["message"].startswith("Invalid cursor")


def test_reset_invalidates_cursors(api: Api) -> None:
    sb = api.sandbox
    sb.add("suppliers", 1)
    cursor = deltas(api, "suppliers")[-1]["cursor"]
    items_cursor = api.gql("{ suppliers(first: 1) { edges { cursor } } }")["suppliers"]["edges"][0][
        "cursor"
    ]
    sb.reset()
    assert api.errors(DQ % "supplier_deltas", {"first": 1, "after": cursor})[0][
        "message"
    ].startswith("Cursor has expired")
    q = "query($a: String) { suppliers(after: $a) { edges { cursor } } }"
    assert api.errors(q, {"a": items_cursor})[0]["message"].startswith("Invalid cursor")


def test_custom_retention_message() -> None:
    sb = Sandbox(size=2, retention_seconds=3600)
    sb.add("projects", 1)
    cursor = sb.delta_log("projects")[0]["cursor"]
    sb.advance_clock(3601)
    q = "query($a: String) { project_deltas(after: $a) { edges { cursor } } }"
    result = sb.execute(q, {"a": cursor})
    assert result["errors"][0]["message"] == "Cursor has expired: deltas are kept for 3600 seconds"


def test_same_seed_same_data_and_mutations() -> None:
    start = datetime(2024, 7, 11, 12, 0, 0)
    a = Sandbox(seed=11, size=20, clock=Clock(start, running=False))
    b = Sandbox(seed=11, size=20, clock=Clock(start, running=False))
    c = Sandbox(seed=12, size=20, clock=Clock(start, running=False))
    for entity in ENTITIES:
        assert a.truth(entity) == b.truth(entity)
        assert a.truth(entity) != c.truth(entity)
        assert a.mutate(entity, add=2, update=2, delete=2) == b.mutate(
            entity, add=2, update=2, delete=2
        )
        assert a.truth(entity) == b.truth(entity)
    # sizes of one entity do not change the others
    d = Sandbox(seed=11, size=20, sizes={"timesheets": 5}, clock=Clock(start, running=False))
    assert d.truth("projects") == Sandbox(
        seed=11, size=20, clock=Clock(start, running=False)
    ).truth("projects")
    assert len(d.truth("timesheets")) == 5


def test_mutating_unknown_ids_fails() -> None:
    sb = Sandbox(size=2)
    with pytest.raises(KeyError):
        sb.update_ids("projects", [1])
    with pytest.raises(KeyError):
        sb.delete_ids("projects", [1])
    with pytest.raises(KeyError):
        sb.readd("projects", sb.ids("projects")[0])
    with pytest.raises(KeyError):
        sb.add("nonsense", 1)
