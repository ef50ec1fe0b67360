"""Asset checks through Dagster on a real lake: what the UI shows next to each dataset."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pyarrow as pa
import pytest

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.assets.api import build_api_asset
from xledger_assets.assets.flexlinks import build_flexlink_asset
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.checks import (
    API_CHECKS,
    KEY_NOT_EMPTY,
    LABELS,
    ROW_COUNT,
    SCHEMA,
    TOKEN_CHECK,
    TOMBSTONES,
    UNIQUE_IDS,
    build_api_checks,
    build_flexlink_checks,
    evaluate_api_checks,
    evaluate_flexlink_checks,
)
from xledger_assets.flexlinks import flexlink_schema
from xledger_assets.lake import FULL_SYNC, SYNC_CHANGES, LocalLake
from xledger_assets_tests.conftest import Product

WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def _run(
    product: Product,
    instance: dg.DagsterInstance,
    name: str,
    mode: str = "auto",
    *,
    checks_only: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize ``name`` with all its checks (as the UI and the schedules do), or run only
    its lake checks."""
    if name in {d.name for d in DEFAULT_CATALOG.flexlinks}:
        d = DEFAULT_CATALOG.flexlink(name)
        defs: list = [build_flexlink_asset(d), build_flexlink_checks(d)]
        config: dict = {}
    else:
        api = DEFAULT_CATALOG.api_dataset(name)
        defs = [build_api_asset(api), build_api_checks(api)]
        config = {"ops": {name: {"config": {"mode": mode}}}}
    selection = None
    if checks_only:
        selection = dg.AssetSelection.checks_for_assets(name) - dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey(name), TOKEN_CHECK)
        )
        config = {}
    return dg.materialize(
        defs,
        resources=product.resources(),
        run_config=config,
        instance=instance,
        selection=selection,
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _meta(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def test_api_checks_follow_full_changes_and_no_change_runs(product: Product):
    instance = dg.DagsterInstance.ephemeral()
    sb = product.sandbox.sandbox
    full = _run(product, instance, "projects")
    assert full.success
    checks = _checks(full)
    assert sorted(checks) == sorted([*API_CHECKS, TOKEN_CHECK])
    assert all(c.passed for c in checks.values()), {k: c.description for k, c in checks.items()}
    [full_file] = product.files("projects")
    assert full_file.startswith("full_sync-")
    assert checks[UNIQUE_IDS].description.startswith(f"{full_file}: 30 rows, every dbId once")
    assert "the first full load" in checks[ROW_COUNT].description
    assert _meta(checks[UNIQUE_IDS])["file"].endswith(full_file)
    assert checks[TOKEN_CHECK].description.startswith("Xledger accepted the API token")

    # the materialization itself carries the file's columns, not only the definition
    [mat] = full.asset_materializations_for_node("projects")
    schema = mat.metadata["dagster/column_schema"].schema
    fields = DEFAULT_CATALOG.api_dataset("projects").fields
    assert [c.name for c in schema.columns] == [f.path for f in fields] + ["mutationType"]
    assert [c.type for c in schema.columns][:2] == ["int64", "string"]
    assert mat.metadata["dagster/uri"].value.endswith(full_file)
    assert mat.metadata["mode"].value == "full"

    touched = {*sb.add("projects", 2), *sb.update("projects", 2)}
    deleted = set(sb.delete("projects", 3))
    changes = _run(product, instance, "projects")
    checks = _checks(changes)
    assert changes.success and all(c.passed for c in checks.values())
    changes_file = product.files("projects")[-1]
    assert changes_file.startswith("sync_changes-")
    assert checks[TOMBSTONES].description == f"{changes_file}: 3 tombstones, each only a dbId"
    assert _meta(checks[TOMBSTONES])["deleted"] == 3
    rows = len(touched | deleted)
    assert checks[UNIQUE_IDS].description == f"{changes_file}: {rows} rows, every dbId once"
    assert _meta(checks[ROW_COUNT])["file"].endswith(full_file)  # the full loads are compared

    sb.reset_meter()
    nothing = _run(product, instance, "projects")  # changes, nothing changed: no file
    assert nothing.success
    assert len(product.files("projects")) == 2
    checks = _checks(nothing)
    assert all(c.passed for c in checks.values())
    assert checks[SCHEMA].description.startswith(
        f"the latest run wrote no file (no changes); newest file {changes_file}"
    )
    assert sb.meter()["requests"] == 1  # the sync's own delta request; checks ask Xledger nothing

    sb.reset_meter()
    only = _run(product, instance, "projects", checks_only=True)
    assert only.success and sorted(_checks(only)) == sorted(API_CHECKS)
    assert sb.meter()["requests"] == 0


@pytest.mark.parametrize("lake_env", ["local"], indirect=True)
def test_a_shrinking_full_load_warns_but_does_not_fail_the_run(product: Product):
    instance = dg.DagsterInstance.ephemeral()
    assert _run(product, instance, "customers").success
    product.sandbox.sandbox.delete("customers", 12)  # 30 → 18 records: -40 %
    result = _run(product, instance, "customers", "full")
    assert result.success  # a warning, not an error
    check = _checks(result)[ROW_COUNT]
    assert not check.passed and check.severity == WARN
    assert "18 rows, -40.0% against 30" in check.description
    assert "more than the 25% tolerance" in check.description
    meta = _meta(check)
    assert (meta["rows"], meta["previous_rows"], meta["change"]) == (18, 30, "-40.0%")


@pytest.mark.parametrize("lake_env", ["local"], indirect=True)
def test_flexlink_checks(product: Product):
    instance = dg.DagsterInstance.ephemeral()
    result = _run(product, instance, "part_time_employees")
    assert result.success
    checks = _checks(result)
    assert sorted(checks) == [LABELS, KEY_NOT_EMPTY]
    assert all(c.passed for c in checks.values()), checks
    assert "'Employee #' set in all" in checks[KEY_NOT_EMPTY].description
    assert "all 8 expected labels present" in checks[LABELS].description


# -- bad files, written straight into a lake ----------------------------------------------------

T0 = datetime(2024, 7, 11, 21, 17, 9)


def _api_table(name: str, ids: list[int], kinds: list[str], **values: list) -> pa.Table:
    d = DEFAULT_CATALOG.api_dataset(name)
    cols = {}
    for f in d.fields:
        data = ids if f.path == "dbId" else values.get(f.path, [None] * len(ids))
        cols[f.path] = pa.array(data, ARROW_TYPES[f.type])
    cols["mutationType"] = pa.array(kinds, pa.string())
    return pa.table(cols)


def test_bad_api_files_fail_the_checks(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    d = DEFAULT_CATALOG.api_dataset("suppliers")
    good = _api_table("suppliers", [1, 2, 3, 4], ["ADDED"] * 4)
    lake.publish_table(good, "suppliers", FULL_SYNC, T0)
    assert all(o.passed for o in evaluate_api_checks(d, lake).values())

    dupes = _api_table("suppliers", [1, 2, 2, 5], ["ADDED", "ADDED", "DELETED", "ADDED"])
    lake.publish_table(dupes, "suppliers", FULL_SYNC, T0 + timedelta(hours=1))
    out = evaluate_api_checks(d, lake)
    assert not out[UNIQUE_IDS].passed and out[UNIQUE_IDS].severity == ERROR
    assert "1 dbIds appear more than once (e.g. [2])" in out[UNIQUE_IDS].description
    assert not out[TOMBSTONES].passed
    assert "1 are DELETED" in out[TOMBSTONES].description
    assert out[ROW_COUNT].passed  # 4 against 4

    leaky = _api_table("suppliers", [7, 8], ["UPDATED", "DELETED"], description=["x", "still here"])
    lake.publish_table(leaky, "suppliers", SYNC_CHANGES, T0 + timedelta(hours=2))
    out = evaluate_api_checks(d, lake, [TOMBSTONES, UNIQUE_IDS])
    assert sorted(out) == sorted([TOMBSTONES, UNIQUE_IDS])
    assert not out[TOMBSTONES].passed
    assert "DELETED rows must hold only the dbId, but have values in description" in (
        out[TOMBSTONES].description
    )
    assert out[UNIQUE_IDS].passed

    drifted = good.drop_columns(["notes"]).append_column("_extra", pa.array([1, 2, 3, 4]))
    drifted = drifted.set_column(
        drifted.schema.get_field_index("number"), "number", pa.array(["1", "2", "3", "4"])
    )
    lake.publish_table(drifted, "suppliers", SYNC_CHANGES, T0 + timedelta(hours=3))
    out = evaluate_api_checks(d, lake, [SCHEMA])
    assert not out[SCHEMA].passed
    assert "missing notes" in out[SCHEMA].description
    assert "number is string (expected int64)" in out[SCHEMA].description
    assert "_extra" not in out[SCHEMA].description  # `_...` columns may follow


def test_checks_without_files_say_so(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    out = evaluate_api_checks(DEFAULT_CATALOG.api_dataset("employees"), lake)
    assert {o.passed for o in out.values()} == {False}
    assert {o.severity for o in out.values()} == {WARN}
    assert "no file in the lake yet" in out[SCHEMA].description


def test_flexlink_key_and_labels(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    d = DEFAULT_CATALOG.flexlink("employee_groups")
    schema = flexlink_schema(d)
    rows = {"Owner": ["A", "B", "C"], "Code": ["K1", " ", None], "Description": ["x", "y", "z"]}
    lake.publish_table(pa.table(rows, schema=schema), d.name, FULL_SYNC, T0)
    out = evaluate_flexlink_checks(d, lake)
    assert out[LABELS].passed
    assert not out[KEY_NOT_EMPTY].passed and out[KEY_NOT_EMPTY].severity == WARN
    assert "'Code' is empty in 2 rows" in out[KEY_NOT_EMPTY].description

    empty = pa.table({"Owner": ["A"], "Code": [None], "Description": ["x"]}, schema=schema)
    lake.publish_table(empty.drop_columns(["Description"]), d.name, FULL_SYNC, T0 + timedelta(1))
    out = evaluate_flexlink_checks(d, lake)
    assert not out[LABELS].passed and "labels missing: Description" in out[LABELS].description
    assert not out[KEY_NOT_EMPTY].passed and out[KEY_NOT_EMPTY].severity == ERROR


def test_only_unique_db_ids_blocks():
    checks = build_api_checks(DEFAULT_CATALOG.api_dataset("timesheets"))
    blocking = {s.name for s in checks.check_specs if s.blocking}
    assert blocking == {UNIQUE_IDS}


def test_a_refused_token_fails_the_token_check_of_the_run(product: Product, monkeypatch):
    monkeypatch.setenv("XLEDGER_API_TOKEN", "expired-token-123")
    result = _run(product, dg.DagsterInstance.ephemeral(), "timesheets")
    assert not result.success
    token = _checks(result)[TOKEN_CHECK]
    assert not token.passed
    assert token.description.startswith("Xledger rejected the API token: it may have expired")
    assert "update the secret XLEDGER_API_TOKEN" in token.description
    assert "expired-token-123" not in token.description
    assert product.files("timesheets") == []
