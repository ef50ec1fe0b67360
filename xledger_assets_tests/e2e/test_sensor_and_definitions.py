"""The delta sensor through build_sensor_context, and the whole code location's conventions."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.definitions import build_definitions
from xledger_assets.errors import ConfigurationError
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sensors import SENSOR_NAME
from xledger_assets.settings import Settings
from xledger_assets_tests.conftest import Product

API = [d.name for d in DEFAULT_CATALOG.api]
FLEX = [d.name for d in DEFAULT_CATALOG.flexlinks]


def _tick(product: Product, cursor: str | None):
    defs = build_definitions()
    sensor = defs.get_sensor_def(SENSOR_NAME)
    resources = {
        "xledger": XledgerApiResource(api_url=product.sandbox.url),
        "lake_store": LakeStoreResource(lake_url=product.lake_url, state_url=product.state_url),
    }
    with dg.build_sensor_context(cursor=cursor, resources=resources) as ctx:
        result = sensor(ctx)
        return result, ctx.cursor


def test_sensor_requests_runs_only_for_changed_datasets(product: Product):
    sb = product.sandbox.sandbox
    for name in ("timesheets", "projects", "employees"):
        product.materialize(name)
    sb.reset_meter()
    result, cursor = _tick(product, None)
    assert isinstance(result, dg.SkipReason)  # nothing changed yet
    assert sb.meter()["requests"] == 1

    sb.add("projects", 2)
    sb.delete("employees", 1)
    sb.add("customers", 1)  # no state yet: left to the schedule or a user
    sb.reset_meter()
    result, cursor = _tick(product, cursor)
    assert sb.meter()["requests"] == 1  # all datasets in one GraphQL request
    assert isinstance(result, dg.SensorResult)
    requested = {r.asset_selection[0].path[0]: r for r in result.run_requests}
    assert sorted(requested) == ["employees", "projects"]
    newest = {e["dbId"]: e for e in sb.delta_log("projects")}
    assert requested["projects"].run_key.startswith("projects:")
    assert requested["projects"].tags["xledger/dataset"] == "projects"
    assert len(newest) == 2
    cursor = result.cursor

    again, _ = _tick(product, cursor)  # same deltas again: no new run requests
    assert isinstance(again, dg.SkipReason)

    product.materialize("projects")  # the run catches up: the stored cursor equals the newest
    after, _ = _tick(product, json.dumps({}))
    assert isinstance(after, dg.SensorResult)
    assert [r.asset_selection[0].path[0] for r in after.run_requests] == ["employees"]


def test_sensor_skips_with_a_plain_message_on_a_bad_token(product: Product, monkeypatch):
    monkeypatch.setenv("XLEDGER_API_TOKEN", "wrong-token-xyz")
    result, _ = _tick(product, None)
    assert isinstance(result, dg.SkipReason)
    assert "token may have expired" in result.skip_message
    assert "wrong-token-xyz" not in result.skip_message


def test_the_code_location_loads_and_follows_conventions(monkeypatch):
    monkeypatch.setenv("XLEDGER_ENV", "prod")
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    keys = sorted(k.path[0] for k in graph.get_all_asset_keys())
    assert keys == sorted(API + FLEX)
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.path[0]
        assert len(key.path) == 1
        assert node.description and len(node.description) > 40, name
        assert node.group_name == ("xledger" if name in API else "xledger_flexlinks")
        assert "xledger" in node.kinds and "parquet" in node.kinds
        assert node.owners == ["team:data-platform"]
        assert node.metadata["dagster/column_schema"].columns, name
        assert node.pools == ({"xledger_api"} if name in API else set())
    schedules = {s.name: s for s in defs.schedules}
    assert sorted(schedules) == sorted(
        [f"{n}_weekly_full" for n in API] + [f"{n}_daily" for n in FLEX]
    )
    crons = [schedules[f"{n}_weekly_full"].cron_schedule for n in API]
    assert len(set(crons)) == len(crons)  # staggered
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())
    [sensor] = defs.sensors
    assert sensor.name == SENSOR_NAME and sensor.minimum_interval_seconds == 3600
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_local_environment_starts_automation_stopped(monkeypatch):
    monkeypatch.setenv("XLEDGER_ENV", "local")
    defs = build_definitions()
    assert {s.default_status for s in defs.schedules} == {dg.DefaultScheduleStatus.STOPPED}
    assert defs.sensors[0].default_status == dg.DefaultSensorStatus.STOPPED


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("XLEDGER_ENV", "staging", "XLEDGER_ENV='staging' is not one of local, dev, prod"),
        ("XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS", "hourly", "is not a number"),
        ("XLEDGER_OWNER_SET", "SOME", "XLEDGER_OWNER_SET='SOME' is not one of"),
    ],
)
def test_bad_settings_name_the_variable(var: str, value: str, message: str):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({var: value})
