"""The delta sensor through build_sensor_context, and the whole code location's conventions."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pytest

from xledger_assets.alerts import ALERT_SENSOR_NAME
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.checks import API_CHECKS, FLEXLINK_CHECKS, TOKEN_CHECK
from xledger_assets.definitions import build_definitions
from xledger_assets.errors import ConfigurationError
from xledger_assets.jobs import FULL_RESYNC_JOB, IMPORT_LEGACY_JOB, STATE_RESET_JOB, STATE_SHOW_JOB
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sensors import SENSOR_NAME
from xledger_assets.settings import Settings
from xledger_assets_tests.conftest import Product

API = [d.name for d in DEFAULT_CATALOG.api]
FLEX = [d.name for d in DEFAULT_CATALOG.flexlinks]
DAILY = {"timesheets", "transactions", "ar_transactions", "ap_transactions"}


def _skipped(result) -> str | None:
    """The skip message of a tick that started no run, else None."""
    if isinstance(result, dg.SkipReason):
        return result.skip_message
    if isinstance(result, dg.SensorResult) and not result.run_requests:
        assert result.skip_reason is not None
        return result.skip_reason.skip_message
    return None


def _token_checks(result) -> dict[str, bool]:
    events = result.asset_events if isinstance(result, dg.SensorResult) else []
    return {e.asset_key.path[0]: e.passed for e in events if e.check_name == TOKEN_CHECK}


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
    assert _skipped(result) == "no dataset has new deltas"
    assert sb.meter()["requests"] == 1
    assert _token_checks(result) == dict.fromkeys(API, True)  # from the same request

    sb.add("projects", 2)
    sb.delete("employees", 1)
    sb.add("customers", 1)  # no state yet: left to the schedule or a user
    sb.reset_meter()
    result, cursor = _tick(product, cursor)
    assert sb.meter()["requests"] == 1  # all datasets in one GraphQL request
    assert isinstance(result, dg.SensorResult)
    assert _token_checks(result) == dict.fromkeys(API, True)
    [run] = result.run_requests  # one run for every dataset that changed
    assert [k.path[0] for k in run.asset_selection] == ["employees", "projects"]
    newest = {n: sb.delta_log(n)[-1]["cursor"] for n in ("employees", "projects")}
    assert run.run_key == f"employees:{newest['employees']};projects:{newest['projects']}"
    assert run.tags["xledger/dataset"] == "several"
    assert run.tags["xledger/datasets"] == "employees,projects"
    assert sorted(run.run_config["ops"]) == ["employees", "projects"]
    handoff = json.loads(run.run_config["ops"]["projects"]["config"]["handoff"])
    added = [e["dbId"] for e in sb.delta_log("projects")[-2:]]
    assert handoff["changes"] == [[i, "ADDED"] for i in added]
    assert handoff["until"] == newest["projects"]
    cursor = result.cursor

    again, _ = _tick(product, cursor)  # same deltas again: no new run requests
    assert _skipped(again)

    product.materialize("projects")  # the run catches up: the stored cursor equals the newest
    after, _ = _tick(product, json.dumps({}))
    assert isinstance(after, dg.SensorResult)
    assert [[k.path[0] for k in r.asset_selection] for r in after.run_requests] == [["employees"]]
    assert after.run_requests[0].tags["xledger/dataset"] == "employees"


def test_sensor_skips_with_a_plain_message_on_a_bad_token(product: Product, monkeypatch):
    product.materialize("timesheets")
    product.sandbox.sandbox.add("timesheets", 1)  # a change that would otherwise start a run
    monkeypatch.setenv("XLEDGER_API_TOKEN", "wrong-token-xyz")
    product.sandbox.sandbox.reset_meter()
    result, _ = _tick(product, None)
    message = _skipped(result)  # no run that would fail
    assert message and "may have expired" in message
    assert message.startswith("Xledger rejected the API token: it may have expired")
    assert "wrong-token-xyz" not in message
    assert _token_checks(result) == dict.fromkeys(API, False)  # visible in the UI
    [event] = [e for e in result.asset_events if e.asset_key.path[0] == "timesheets"]
    assert event.description == message
    assert product.sandbox.sandbox.meter()["requests"] == 1  # the probe only


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
        assert {"xledger", "parquet", "azure"} <= node.kinds
        assert node.owners == ["team:data-platform"]
        assert node.metadata["dagster/column_schema"].columns, name
        assert node.metadata["dagster/code_references"].code_references, name
        assert node.pools == ({"xledger_api"} if name in API else set())
        days = 1 if name in DAILY else (7 if name in API else 2)
        assert node.freshness_policy == dg.FreshnessPolicy.time_window(
            fail_window=timedelta(days=days)
        ), name
        checks = {k.name for k in graph.asset_check_keys if k.asset_key == key}
        assert checks == ({*API_CHECKS, TOKEN_CHECK} if name in API else set(FLEXLINK_CHECKS))
    schedules = {s.name: s for s in defs.schedules}
    assert sorted(schedules) == sorted(
        [f"{n}_weekly_full" for n in API] + [f"{n}_daily" for n in FLEX]
    )
    crons = [schedules[f"{n}_weekly_full"].cron_schedule for n in API]
    assert len(set(crons)) == len(crons)  # staggered
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())
    sensors = {s.name: s for s in defs.sensors}
    assert sorted(sensors) == sorted([SENSOR_NAME, ALERT_SENSOR_NAME])
    sensor = sensors[SENSOR_NAME]
    assert sensor.minimum_interval_seconds == 3600
    assert {s.default_status for s in defs.sensors} == {dg.DefaultSensorStatus.RUNNING}
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    operator = {FULL_RESYNC_JOB, STATE_SHOW_JOB, STATE_RESET_JOB, IMPORT_LEGACY_JOB}
    assert operator | {f"{n}_full_resync" for n in API} <= jobs


def test_local_environment_starts_automation_stopped(monkeypatch):
    monkeypatch.setenv("XLEDGER_ENV", "local")
    defs = build_definitions()
    assert {s.default_status for s in defs.schedules} == {dg.DefaultScheduleStatus.STOPPED}
    assert {s.default_status for s in defs.sensors} == {dg.DefaultSensorStatus.STOPPED}


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


def test_bad_settings_can_be_collected_with_defaults():
    """How the definitions load despite bad values: each is noted, its default used."""
    problems: list[str] = []
    settings = Settings.from_env(
        {
            "XLEDGER_ENV": "prdo",
            "XLEDGER_OWNER_SET": "SOME",
            "XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS": "hourly",
            "XLEDGER_PAGE_SIZE": "500",
        },
        problems,
    )
    assert problems == [
        "XLEDGER_ENV='prdo' is not one of local, dev, prod",
        "XLEDGER_OWNER_SET='SOME' is not one of CURRENT, UPPER, LOWER, MINE, ALL",
        "XLEDGER_DELTA_SENSOR_INTERVAL_SECONDS='hourly' is not a number",
    ]
    assert (settings.env, settings.owner_set, settings.sensor_interval_seconds) == (
        "local",
        None,
        3600,
    )
    assert settings.page_size == 500
