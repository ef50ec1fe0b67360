"""Sync engine cases through Dagster: catalog variants, expired deltas, failures that write
nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG, ApiDataset
from xledger_assets.lake.local import LocalLake
from xledger_assets_tests.conftest import Product, metadata

SUPPLIERS = DEFAULT_CATALOG.api_dataset("suppliers")


def _failure(result) -> str:
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = event.step_failure_data
    assert data.user_failure_data is not None, data.error.message  # a plain Failure
    return data.user_failure_data.description


def test_entity_without_deltas_is_fully_synced_every_run(product: Product):
    snapshot = ApiDataset(
        "supplier_snapshot",
        "suppliers",
        None,
        "Int!",
        "Suppliers read whole on every run (an entity without a delta endpoint).",
        fields_file="suppliers.fields",
    )
    product.materialize(snapshot)
    product.sandbox.sandbox.delete("suppliers", 3)
    meta = metadata(product.materialize(snapshot), "supplier_snapshot")
    files = product.files("supplier_snapshot")
    assert [f.split("-")[0] for f in files] == ["full_sync", "full_sync"]
    assert meta["mode"] == "full" and meta["rows"] == 27 and meta["api_requests"] == 1
    assert product.rebuilt("supplier_snapshot") == product.truth(SUPPLIERS)
    failed = product.materialize(snapshot, "changes", raise_on_error=False)
    assert "has no delta endpoint, so it cannot sync changes" in _failure(failed)


def test_fixed_filter_applies_to_full_loads_and_refetches(product: Product):
    start = (datetime.now(UTC).date() - timedelta(days=20)).isoformat()
    preliminary = ApiDataset(
        "preliminary_timesheets",
        "timesheets",
        "timesheet_deltas",
        "Int64String!",
        "Timesheets from a fixed date (a catalog entry with a fixed filter).",
        fixed_filter=f'assignmentDate_gte: "{start}"',
        fields_file="timesheets.fields",
    )
    sb = product.sandbox.sandbox
    product.materialize(preliminary)
    [full] = product.files("preliminary_timesheets")
    table = product.read("preliminary_timesheets", full)
    expected = {int(r["dbId"]) for r in sb.truth("timesheets", {"assignmentDate_gte": start})}
    assert 0 < len(expected) < 30
    assert set(table.column("dbId").to_pylist()) == expected
    assert all(d.isoformat() >= start for d in table.column("assignmentDate").to_pylist())


def test_latest_mutation_wins_for_delete_then_readd(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("suppliers")
    victim = sb.ids("suppliers")[4]
    sb.delete_ids("suppliers", [victim])
    sb.readd("suppliers", victim)
    sb.update_ids("suppliers", [victim])
    product.materialize("suppliers")
    changes = product.read("suppliers", product.files("suppliers")[1])
    assert changes.column("dbId").to_pylist() == [victim]
    assert changes.column("mutationType").to_pylist() == ["UPDATED"]
    assert product.rebuilt("suppliers") == product.truth(SUPPLIERS)


def test_expired_deltas_reload_in_auto_and_fail_in_changes(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("suppliers")
    sb.add("suppliers", 2)
    product.materialize("suppliers")
    sb.update("suppliers", 2)
    sb.expire_deltas("suppliers")
    failed = product.materialize("suppliers", "changes", raise_on_error=False)
    assert not failed.success
    message = _failure(failed)
    assert "no longer accepts the stored delta cursor of suppliers" in message
    assert "Run with mode full" in message
    assert len(product.files("suppliers")) == 2

    meta = metadata(product.materialize("suppliers"), "suppliers")
    assert meta["mode"] == "full" and "a full load runs instead" in meta["reason"]
    assert product.rebuilt("suppliers") == product.truth(SUPPLIERS)


def test_stale_state_reloads_in_auto(product: Product):
    product.materialize("suppliers")
    path = Path(product.state_url)
    doc = json.loads(path.read_text())
    old = (datetime.now(UTC) - timedelta(hours=49)).isoformat()
    doc["datasets"]["suppliers"]["last_success"] = old
    path.write_text(json.dumps(doc))
    meta = metadata(product.materialize("suppliers"), "suppliers")
    assert meta["mode"] == "full"
    assert "more than the delta retention margin of 48 h" in meta["reason"]


def test_changes_without_state_is_refused(product: Product):
    failed = product.materialize("suppliers", "changes", raise_on_error=False)
    assert "has no sync state yet" in _failure(failed)
    assert product.files("suppliers") == []


def test_a_value_that_does_not_fit_writes_nothing(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("timesheets")
    cursor = product.state.get("timesheets").cursor
    [victim] = sb.update_ids(
        "timesheets", sb.ids("timesheets")[:1], {"workingHours": "1.0000000000000000001"}
    )
    failed = product.materialize("timesheets", raise_on_error=False)
    message = _failure(failed)
    assert (
        f"timesheets: column 'workingHours' of dbId {victim}: value '1.0000000000000000001'"
        in message
    )
    assert len(product.files("timesheets")) == 1
    assert product.state.get("timesheets").cursor == cursor
    if isinstance(product.lake, LocalLake):
        assert not list(product.lake.staging_dir().iterdir())


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("wrong-token-123", "Xledger refused the API token"),
        ("", "XLEDGER_API_TOKEN is not set"),
    ],
)
def test_token_problems_fail_with_a_plain_message(product: Product, monkeypatch, token, message):
    monkeypatch.setenv("XLEDGER_API_TOKEN", token)
    failed = product.materialize("employees", raise_on_error=False)
    text = _failure(failed)
    assert message in text
    if token:
        assert token not in text
    assert product.files("employees") == []
