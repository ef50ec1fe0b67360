"""The delta sensor's runs through Dagster: the deltas it read are handed over in the run
config, and the run's only Xledger request is one combined re-fetch of all its datasets.

Every case checks the sandbox's request meter, the rebuilt lake state against the sandbox's
truth, and the stored cursors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from xledger_assets.assets.api import build_api_asset
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.definitions import build_definitions
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sensors import DELTA_JOB, SENSOR_NAME, build_delta_sensor
from xledger_assets.sync.handoff import HANDOFF_LIMIT
from xledger_assets_tests.conftest import Product

ASSETS = [build_api_asset(d) for d in DEFAULT_CATALOG.api]


def _sensor(now: datetime | None = None) -> dg.SensorDefinition:
    """The code location's sensor, or the same sensor with a clock of its own."""
    if now is None:
        return build_definitions().get_sensor_def(SENSOR_NAME)
    return build_delta_sensor(
        DEFAULT_CATALOG.api,
        interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        env="local",
        utcnow=lambda: now,
    )


def _resources(product: Product) -> dict:
    return {
        "xledger": XledgerApiResource(api_url=product.sandbox.url),
        "lake_store": LakeStoreResource(lake_url=product.lake_url, state_url=product.state_url),
    }


def _tick(product: Product, cursor: str | None = None, now: datetime | None = None):
    with dg.build_sensor_context(cursor=cursor, resources=_resources(product)) as ctx:
        result = _sensor(now)(ctx)
    return result


def _run(product: Product, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=request.asset_selection,
        resources=product.resources(),
        run_config=request.run_config,
        tags=request.tags,
    )


def _one_request(result) -> dg.RunRequest:
    assert isinstance(result, dg.SensorResult), result
    [request] = result.run_requests
    return request


def _assert_current(product: Product, *names: str) -> None:
    sb = product.sandbox.sandbox
    for name in names:
        d = DEFAULT_CATALOG.api_dataset(name)
        assert product.rebuilt(name) == product.truth(d), name
        assert product.state.get(name).cursor == sb.delta_log(name)[-1]["cursor"], name


def test_one_combined_refetch_for_every_changed_dataset(product: Product):
    sb = product.sandbox.sandbox
    names = ("timesheets", "projects", "employees", "transactions")
    for name in names:
        product.materialize(name)
    sb.add("timesheets", 3)
    sb.update("timesheets", 2)
    sb.add("projects", 1)
    sb.delete("projects", 1)
    sb.update("employees", 2)
    added = sb.add("transactions", 2)
    sb.delete_ids("transactions", added[:1])  # added then deleted inside the window
    sb.reset_meter()
    request = _one_request(_tick(product))
    assert sb.meter()["requests"] == 1
    assert [k.path[0] for k in request.asset_selection] == sorted(names)
    sb.reset_meter()
    result = _run(product, request)
    assert result.success
    assert sb.meter()["requests"] == 1  # one re-fetch for all four datasets
    _assert_current(product, *names)
    kinds = {}
    for name in names:
        [changes] = [f for f in product.files(name) if f.startswith("sync_changes-")]
        table = product.read(name, changes, ["dbId", "mutationType"])
        kinds[name] = sorted(table.column("mutationType").to_pylist())
    assert kinds == {
        "timesheets": ["ADDED"] * 3 + ["UPDATED"] * 2,
        "projects": ["ADDED", "DELETED"],
        "employees": ["UPDATED"] * 2,
        "transactions": ["ADDED", "DELETED"],
    }
    # the run's metadata tells where the request went
    checks = {
        e.asset_key.path[0]: e.metadata["api_requests"].value
        for e in result.get_asset_check_evaluations()
    }
    assert sorted(checks.values()) == [0, 0, 0, 1]
    assert _tick(product, None).run_requests == []  # caught up


def test_only_deletes_cost_no_request(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("customers")
    gone = sb.delete("customers", 2)
    request = _one_request(_tick(product))
    sb.reset_meter()
    assert _run(product, request).success
    assert sb.meter()["requests"] == 0
    _assert_current(product, "customers")
    assert gone and not set(gone) & {r["dbId"] for r in product.rebuilt("customers")}


def test_a_handoff_behind_the_stored_cursor_is_not_used(product: Product):
    """Another sync moved the cursor between the tick and the run: the run reads the deltas."""
    sb = product.sandbox.sandbox
    product.materialize("suppliers")
    sb.add("suppliers", 1)
    request = _one_request(_tick(product))
    sb.update("suppliers", 1)
    product.materialize("suppliers")  # e.g. a user's run
    before = product.state.get("suppliers").cursor
    sb.delete("suppliers", 1)
    sb.reset_meter()
    assert _run(product, request).success
    assert sb.meter()["requests"] == 1  # its own deltas read (nothing to re-fetch: a delete)
    assert product.state.get("suppliers").cursor != before
    _assert_current(product, "suppliers")


def test_more_deltas_than_the_handoff_holds_are_read_by_the_run(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("projects")
    product.materialize("employees")
    sb.update("projects", 5)
    sb.add("employees", HANDOFF_LIMIT + 1)
    request = _one_request(_tick(product))
    config = request.run_config["ops"]
    assert json.loads(config["projects"]["config"]["handoff"])["complete"] is True
    employees = json.loads(config["employees"]["config"]["handoff"])
    assert (employees["complete"], employees["changes"]) == (False, [])  # the run reads them
    assert employees["until"] == sb.delta_log("employees")[-1]["cursor"]
    sb.reset_meter()
    assert _run(product, request).success
    # projects: the combined re-fetch; employees: its deltas, then 2 re-fetch chunks of 1000
    assert sb.meter()["requests"] == 1 + 1 + 2
    _assert_current(product, "projects", "employees")


def test_a_refused_cursor_makes_a_full_load_and_spares_the_other_datasets(product: Product):
    sb = product.sandbox.sandbox
    for name in ("projects", "customers"):
        product.materialize(name)
        sb.add(name, 1)
        product.materialize(name)  # a stored cursor
    sb.add("projects", 2)
    sb.expire_deltas("projects")  # the stored cursor's deltas are gone
    sb.add("projects", 1)
    sb.update("customers", 2)
    sb.reset_meter()
    request = _one_request(_tick(product))
    assert sb.meter()["requests"] == 1  # the refused field fails alone
    ops = request.run_config["ops"]
    assert ops["projects"]["config"]["mode"] == "full"
    handoff = json.loads(ops["projects"]["config"]["handoff"])
    assert (handoff["complete"], handoff["changes"]) == (False, [])
    assert handoff["until"] == sb.delta_log("projects")[-1]["cursor"]
    assert len(json.loads(ops["customers"]["config"]["handoff"])["changes"]) == 2
    sb.reset_meter()
    assert _run(product, request).success
    assert product.state.get("projects").mode == "full"
    # projects: its one page (the newest cursor came from the sensor); customers: the re-fetch
    assert sb.meter()["requests"] == 2
    _assert_current(product, "projects", "customers")


def test_a_request_refused_as_a_whole_is_asked_again_without_cursors(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("projects")
    sb.add("projects", 1)
    product.materialize("projects")
    sb.add("projects", 1)
    sb.add_fault(
        {"kind": "graphql_error", "message": "Field 'first' exceeds the limit", "times": 1}
    )
    sb.reset_meter()
    request = _one_request(_tick(product))
    assert sb.meter()["requests"] == 2
    handoff = json.loads(request.run_config["ops"]["projects"]["config"]["handoff"])
    assert handoff["complete"] is False
    assert _run(product, request).success
    _assert_current(product, "projects")


def test_a_quiet_dataset_gets_a_keep_alive_instead_of_a_reload(product: Product):
    sb = product.sandbox.sandbox
    product.materialize("suppliers")
    sb.add("suppliers", 1)
    product.materialize("suppliers")  # a cursor, no deltas after it
    state = product.state.get("suppliers")
    assert _tick(product).run_requests == []  # fresh: nothing to do
    later = state.last_success_at + timedelta(hours=25)  # half of the 48 h margin, and more
    result = _tick(product, now=later)
    request = _one_request(result)
    assert [k.path[0] for k in request.asset_selection] == ["suppliers"]
    handoff = json.loads(request.run_config["ops"]["suppliers"]["config"]["handoff"])
    assert handoff["changes"] == [] and handoff["after"] == state.cursor
    again = _tick(product, result.cursor, now=later)
    assert again.run_requests == []  # one keep-alive per state
    sb.reset_meter()
    files = product.files("suppliers")
    assert _run(product, request).success
    assert sb.meter()["requests"] == 0
    assert product.files("suppliers") == files  # no change, no file
    kept = product.state.get("suppliers")
    assert kept.cursor == state.cursor and kept.last_success_at > state.last_success_at
    assert kept.last_success_at <= datetime.now(UTC)


def test_a_malformed_handoff_fails_plainly(product: Product):
    product.materialize("projects")
    request = dg.RunRequest(
        asset_selection=[dg.AssetKey("projects")],
        run_config={"ops": {"projects": {"config": {"handoff": '{"v": 1, "dataset": "x"}'}}}},
    )
    result = dg.materialize(
        ASSETS,
        selection=request.asset_selection,
        resources=product.resources(),
        run_config=request.run_config,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert message == "the run config's handoff of projects is for the dataset 'x'"


def test_the_sensor_targets_an_in_process_job():
    defs = build_definitions()
    sensor = defs.get_sensor_def(SENSOR_NAME)
    assert sensor.job_name == DELTA_JOB
    job = defs.resolve_job_def(DELTA_JOB)
    assert job.executor_def.name == "in_process"
    keys = {k.path[0] for k in job.asset_layer.selected_asset_keys}
    assert keys == {d.name for d in DEFAULT_CATALOG.api if d.deltas_field}


@pytest.mark.parametrize("state_cursor", [None, "c-1"])
def test_handoff_config_round_trip(state_cursor):
    from xledger_assets.sync.handoff import DeltaHandoff

    h = DeltaHandoff(
        "projects", state_cursor, "c9", datetime(2026, 1, 2, tzinfo=UTC), ((1, "ADDED"),)
    )
    assert DeltaHandoff.from_config(h.to_config(), "projects") == h


def test_deltas_gone_behind_the_cursor_make_a_full_load(product: Product):
    """Xledger dropped the deltas (early, or the sensor was off): changes made before may be
    gone with them, so the sensor asks for a full load, even though no delta is newer."""
    sb = product.sandbox.sandbox
    product.materialize("employees")
    sb.add("employees", 1)
    product.materialize("employees")  # a stored cursor
    sb.update("employees", 3)
    sb.expire_deltas("employees")  # the updates' deltas are gone too
    sb.reset_meter()
    result = _tick(product)
    request = _one_request(result)
    config = request.run_config["ops"]["employees"]["config"]
    assert config["mode"] == "full"
    assert json.loads(config["handoff"])["until"] is None  # no delta left: none to store
    assert _tick(product, result.cursor).run_requests == []  # asked once
    sb.reset_meter()
    assert _run(product, request).success
    assert sb.meter()["requests"] == 1  # the page; no newest-delta request
    d = DEFAULT_CATALOG.api_dataset("employees")
    assert product.rebuilt("employees") == product.truth(d)  # the updates are in the lake
    assert product.state.get("employees").mode == "full"


def test_datasets_with_a_sync_in_flight_wait_for_the_next_tick(product: Product):
    """A queued or running run of a dataset (a schedule's, or an earlier sensor run) keeps the
    sensor from starting another one whose sync would find the dataset's lock taken."""
    sb = product.sandbox.sandbox
    for name in ("projects", "customers", "suppliers"):
        product.materialize(name)
        sb.add(name, 1)
    with dg.DagsterInstance.ephemeral() as instance:
        from dagster._core.remote_origin import (
            RegisteredCodeLocationOrigin,
            RemoteJobOrigin,
            RemoteRepositoryOrigin,
        )

        job = build_definitions().resolve_job_def(DELTA_JOB)
        origin = RemoteJobOrigin(
            RemoteRepositoryOrigin(
                RegisteredCodeLocationOrigin("xledger_assets"), "__repository__"
            ),
            job.name,
        )
        instance.create_run_for_job(
            job,
            tags={"xledger/dataset": "projects", "xledger/env": "local"},
            status=dg.DagsterRunStatus.QUEUED,
            remote_job_origin=origin,
        )
        instance.create_run_for_job(
            job,
            tags={
                "xledger/dataset": "several",
                "xledger/datasets": "customers,timesheets",
                "xledger/env": "local",
            },
            status=dg.DagsterRunStatus.STARTED,
            remote_job_origin=origin,
        )
        instance.create_run_for_job(  # finished: no obstacle
            job,
            tags={"xledger/dataset": "suppliers", "xledger/env": "local"},
            status=dg.DagsterRunStatus.SUCCESS,
            remote_job_origin=origin,
        )
        with dg.build_sensor_context(resources=_resources(product), instance=instance) as ctx:
            result = _sensor()(ctx)
    request = _one_request(result)
    assert [k.path[0] for k in request.asset_selection] == ["suppliers"]
    assert "projects" not in json.loads(result.cursor)  # asked for again on the next tick
