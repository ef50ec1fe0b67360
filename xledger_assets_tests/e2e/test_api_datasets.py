"""Every API dataset through Dagster against the sandbox over HTTP: full, changes, rebuild."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets_tests.conftest import Product, metadata

DATASETS = [d.name for d in DEFAULT_CATALOG.api]
NAME = re.compile(r"(full_sync|sync_changes)-\d{8}_\d{2}_\d{2}_\d{2}-(\w+)\.parquet")


def _schema(name: str) -> pa.Schema:
    d = DEFAULT_CATALOG.api_dataset(name)
    return pa.schema(
        [pa.field(f.path, ARROW_TYPES[f.type], nullable=f.path != "dbId") for f in d.fields]
        + [pa.field("mutationType", pa.string(), nullable=False)]
    )


@pytest.mark.parametrize("name", DATASETS)
def test_full_then_changes_rebuilds_the_truth(product: Product, name: str):
    d = DEFAULT_CATALOG.api_dataset(name)
    sb = product.sandbox.sandbox

    first = product.materialize(name)
    meta = metadata(first, name)
    [full] = product.files(name)
    assert (
        NAME.fullmatch(full) and full.startswith("full_sync-") and full.endswith(f"-{name}.parquet")
    )
    assert meta["mode"] == "full" and meta["rows"] == 30 and meta["added"] == 30
    assert meta["api_requests"] == 2  # newest delta cursor + one page
    full_table = product.read(name, full)
    assert full_table.schema.equals(_schema(name), check_metadata=False)
    assert set(full_table.column("mutationType").to_pylist()) == {"ADDED"}
    assert product.rebuilt(name) == product.truth(d)

    existing = sb.ids(d.items_field)
    added = sb.add(d.items_field, 3)
    updated = sb.update_ids(d.items_field, existing[3:8])
    deleted = sb.delete_ids(d.items_field, existing[10:12])
    # the same record added, updated, then deleted in one window; another updated twice
    churn = sb.add(d.items_field, 1)
    sb.update_ids(d.items_field, churn)
    sb.delete_ids(d.items_field, churn)
    sb.update_ids(d.items_field, updated[:1])

    second = product.materialize(name)
    meta = metadata(second, name)
    files = product.files(name)
    assert len(files) == 2 and files[1].startswith("sync_changes-")
    changes = product.read(name, files[1])
    assert changes.schema.equals(_schema(name), check_metadata=False)
    kinds = dict(
        zip(
            changes.column("dbId").to_pylist(),
            changes.column("mutationType").to_pylist(),
            strict=True,
        )
    )
    assert len(kinds) == changes.num_rows == 11  # one row per dbId
    assert kinds == {
        **{i: "ADDED" for i in added},
        **{i: "UPDATED" for i in updated},
        **{i: "DELETED" for i in deleted},
        **{i: "DELETED" for i in churn},
    }
    for row in changes.to_pylist():
        if row["mutationType"] == "DELETED":
            assert [v for k, v in row.items() if k not in ("dbId", "mutationType")] == [None] * (
                len(row) - 2
            )
    assert meta["mode"] == "changes" and (meta["added"], meta["updated"], meta["deleted"]) == (
        3,
        5,
        3,
    )
    assert meta["cursor_before"] != meta["cursor_after"]
    assert product.rebuilt(name) == product.truth(d)

    third = product.materialize(name)  # nothing new: no file, cursor kept
    meta3 = metadata(third, name)
    assert product.files(name) == files
    assert meta3["rows"] == 0 and meta3["path"] == "none"
    assert meta3["cursor_after"] == meta["cursor_after"]
    assert meta3["api_requests"] == 1
    assert product.state.get(name).cursor == meta["cursor_after"]

    product.materialize(name, "full")  # a second full load: no duplicates, same truth
    files = product.files(name)
    assert len(files) == 3 and files[2].startswith("full_sync-")
    latest = product.read(name, files[2])
    ids = latest.column("dbId").to_pylist()
    assert len(ids) == len(set(ids)) == len(product.truth(d))
    assert product.rebuilt(name) == product.truth(d)
