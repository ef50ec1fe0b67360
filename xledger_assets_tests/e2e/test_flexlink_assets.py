"""The six flexlink datasets through Dagster against the sandbox's links over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.flexlinks import flexlink_schema
from xledger_assets_tests.conftest import Product, metadata

FLEX = [d.name for d in DEFAULT_CATALOG.flexlinks]


def _norm(rows):
    return [
        {k: (v.normalize() if isinstance(v, Decimal) else v) for k, v in r.items()} for r in rows
    ]


@pytest.mark.parametrize("name", FLEX)
def test_each_flexlink_lands_cell_by_cell(product: Product, name: str):
    d = DEFAULT_CATALOG.flexlink(name)
    meta = metadata(product.materialize(name), name)
    meta2 = metadata(product.materialize(name), name)  # every run writes a new full_sync file
    files = product.files(name)
    assert len(files) == 2 and all(f.startswith("full_sync-") for f in files)
    table = product.read(name, files[1])
    assert table.schema.equals(flexlink_schema(d), check_metadata=False)
    assert _norm(table.to_pylist()) == _norm(product.flexlinks.truth(name))
    assert meta["rows"] == meta2["rows"] == table.num_rows > 0
    assert meta["source_format"] == "xlsx"
    text = str(meta)
    assert "t=" not in text and "/Flex/" not in text


def test_part_time_employees_tag_every_subsidiary(product: Product):
    meta = metadata(product.materialize("part_time_employees"), "part_time_employees")
    per = meta["rows_per_source"]
    assert list(per) == [
        "Data Ductus AB",
        "Data Ductus Holding AB",
        "Data Ductus Luleå AB",
        "Tromb AB",
        "Data Ductus Inc",
    ]
    assert per["Data Ductus Inc"] == 0 and all(
        v > 0 for k, v in per.items() if k != "Data Ductus Inc"
    )
    [f] = product.files("part_time_employees")
    subs = product.read("part_time_employees", f).column("Subsidiary")
    assert sorted(set(subs.to_pylist())) == sorted(k for k, v in per.items() if v)


def test_an_expired_link_fails_plainly_and_writes_nothing(product: Product):
    product.flexlinks.serve_html("employee_groups")
    result = product.materialize("employee_groups", raise_on_error=False)
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = event.step_failure_data.user_failure_data.description
    assert message.startswith("the flexlink for employee_groups returned an HTML page (HTTP 200)")
    assert "XLEDGER_FLEXLINK_EMPLOYEE_GROUPS" in message and "t=" not in message
    assert product.files("employee_groups") == []
