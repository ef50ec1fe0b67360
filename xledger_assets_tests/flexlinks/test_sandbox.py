"""The sandbox itself: deterministic data, real quirky xlsx files, Xledger-like answers."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from decimal import Decimal

import openpyxl
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.sandbox.flexlinks import (
    HTML_TYPE,
    JSON_TYPE,
    LOGIN_PAGE,
    NOT_FOUND_PAGE,
    SUBSIDIARIES,
    XLSX_TYPE,
    FlexlinkSandbox,
)


def _q(token: str) -> dict[str, list[str]]:
    return {"t": [token]}


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = FlexlinkSandbox(3), FlexlinkSandbox(3), FlexlinkSandbox(4)
    base = "http://127.0.0.1:9"
    assert a.env(base) == b.env(base)
    for dataset in DEFAULT_CATALOG.flexlinks:
        assert a.truth(dataset.name) == b.truth(dataset.name)
    assert a.env(base) != c.env(base)
    assert a.truth("employment_types") != c.truth("employment_types")


def test_env_names_and_shapes() -> None:
    sandbox = FlexlinkSandbox(1)
    env = sandbox.env("http://127.0.0.1:8123/", fmt="json")
    assert sorted(env) == sorted(d.env_var for d in DEFAULT_CATALOG.flexlinks)
    link = sandbox.link("employee_groups")
    assert env["XLEDGER_FLEXLINK_EMPLOYEE_GROUPS"] == (
        f"http://127.0.0.1:8123/Flex/{link.link_id}.json?t={link.token}"
    )
    per_subsidiary = json.loads(env["XLEDGER_FLEXLINK_PART_TIME_EMPLOYEES"])
    assert list(per_subsidiary) == list(SUBSIDIARIES)
    assert len({sandbox.link("part_time_employees", s).link_id for s in SUBSIDIARIES}) == 5


def test_truth_holds_typed_values_only() -> None:
    sandbox = FlexlinkSandbox(2)
    allowed = (str, int, Decimal, dt.date, type(None))
    for dataset in DEFAULT_CATALOG.flexlinks:
        rows = sandbox.truth(dataset.name)
        assert rows, dataset.name
        labels = [c.label for c in dataset.columns] + (["Subsidiary"] * dataset.per_subsidiary)
        for row in rows:
            assert list(row) == labels
            assert all(
                isinstance(v, allowed) and not isinstance(v, dt.datetime) for v in row.values()
            )
    names = " ".join(str(r["Employee Name"]) for r in sandbox.truth("part_time_employees"))
    assert any(ch in names for ch in "åäöÅÄÖ")
    assert sandbox.truth("part_time_employees", "Data Ductus Inc") == []


def test_xlsx_files_carry_the_quirks() -> None:
    sandbox = FlexlinkSandbox(7)

    def cells(dataset: str, subsidiary: str | None = None) -> list[tuple[object, ...]]:
        wb = openpyxl.load_workbook(io.BytesIO(sandbox.xlsx_bytes(dataset, subsidiary)))
        return [tuple(r) for r in wb.active.iter_rows(values_only=True)]  # type: ignore[union-attr]

    groups = cells("employee_groups")
    assert groups[0] == ("Owner", "Code", " Description ")  # a label with stray spaces
    assert ("Data Ductus AB", 100, "Tjänstemän Skellefteå") in groups  # a numeric code
    setups = cells("project_cost_setups")
    assert setups[0] == ("Project cost setups", None, None, None, None, None)  # a title row
    assert setups[2][0] == "Object"
    assert "1 234,50" in [r[5] for r in setups]  # a number stored as text
    assert any(isinstance(r[3], int) for r in setups[3:])  # a date stored as its serial
    assert "Last Modified By" in cells("cost_categories")[0]  # an extra column
    part_time = cells("part_time_employees", "Data Ductus AB")
    assert part_time[0][-1] == "Date  To"
    assert part_time[-1][0] == "  "  # trailing rows with nothing but blanks
    empty = cells("part_time_employees", "Data Ductus Inc")  # the header and blanks only
    assert empty[0] == part_time[0]
    assert all(not str(cell or "").strip() for row in empty[1:] for cell in row)


def test_json_variant_is_the_documented_shape() -> None:
    doc = json.loads(FlexlinkSandbox(7).json_bytes("employment_types"))
    assert doc["fields"] == [{"title": "Owner"}, {"title": "Code"}, {"title": "Description"}]
    assert all(len(row) == 3 for row in doc["rows"])


def test_handle_answers_like_xledger() -> None:
    sandbox = FlexlinkSandbox(7)
    link = sandbox.link("employee_groups")
    status, headers, body = sandbox.handle(link.path("xlsx"), _q(link.token), {})
    assert (status, headers["Content-Type"], body[:4]) == (200, XLSX_TYPE, b"PK\x03\x04")
    status, headers, body = sandbox.handle(f"{link.link_id}.json", _q(link.token), {})
    assert (status, headers["Content-Type"]) == (200, JSON_TYPE)
    assert json.loads(body)["fields"][0] == {"title": "Owner"}
    # A wrong or missing token: Xledger's page, with HTTP 200.
    assert sandbox.handle(link.path(), _q("wrong"), {}) == (
        200,
        {"Content-Type": HTML_TYPE},
        LOGIN_PAGE,
    )
    assert sandbox.handle(link.path(), {}, {}) == (200, {"Content-Type": HTML_TYPE}, LOGIN_PAGE)
    assert sandbox.handle("/Flex/1.xlsx", _q(link.token), {})[0] == 404
    assert sandbox.handle("/Flex/abc.csv", {}, {})[0] == 404
    assert sandbox.hits("employee_groups") == 4


def test_serving_modes_and_reset() -> None:
    sandbox = FlexlinkSandbox(7)
    link = sandbox.link("employment_types")
    ok = _q(link.token)
    sandbox.fail("employment_types", status=503, times=2)
    assert [sandbox.handle(link.path(), ok, {})[0] for _ in range(3)] == [503, 503, 200]
    sandbox.serve_html("employment_types")
    assert sandbox.handle(link.path(), ok, {})[2] == LOGIN_PAGE
    sandbox.serve_not_found("employment_types")
    assert sandbox.handle(link.path(), ok, {})[:3] == (
        404,
        {"Content-Type": HTML_TYPE},
        NOT_FOUND_PAGE,
    )
    sandbox.serve_body("employment_types", b"hello", "text/plain", status=201)
    assert sandbox.handle(link.path(), ok, {}) == (201, {"Content-Type": "text/plain"}, b"hello")
    sandbox.rename_column("employment_types", "Code", "Kod")
    old_token = link.token
    new_token = sandbox.expire("employment_types")
    assert new_token != old_token
    sandbox.reset()
    assert sandbox.link("employment_types").token == old_token
    status, _, body = sandbox.handle(link.path("json"), ok, {})
    assert status == 200 and json.loads(body)["fields"][1] == {"title": "Code"}


def test_rename_changes_the_served_label_only() -> None:
    sandbox = FlexlinkSandbox(7)
    sandbox.rename_column("cost_categories", "Created", "Skapad")
    doc = json.loads(sandbox.json_bytes("cost_categories"))
    assert [f["title"] for f in doc["fields"]] == [
        "Owner",
        "Code",
        "Description",
        "Last Modified By",
        "Skapad",
        "Modified",
    ]
    assert "Created" in sandbox.truth("cost_categories")[0]
    assert sandbox.extra_labels("cost_categories") == ["Last Modified By", "Skapad"]
    with pytest.raises(KeyError):
        sandbox.rename_column("cost_categories", "Nope", "x")


def test_slow_holds_the_answer() -> None:
    sandbox = FlexlinkSandbox(7)
    link = sandbox.link("employee_groups")
    sandbox.slow("employee_groups", seconds=0.2)
    started = time.monotonic()
    assert sandbox.handle(link.path(), _q(link.token), {})[0] == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    sandbox.handle(link.path(), _q(link.token), {})
    assert time.monotonic() - started < 0.2
