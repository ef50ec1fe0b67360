"""The production instance (``deploy/dagster.yaml``) on a real PostgreSQL over TLS.

One materialization, one schedule tick and one sensor tick go through Dagster with the production
configuration; then PostgreSQL itself (psycopg2 over verified TLS) and a fresh instance loaded
from the same file must show the runs, the asset events and the ticks. The schedule and sensor
are evaluated by Dagster's own daemon functions against the code server started the way the
container app starts it (``dagster code-server start``), reached through the production
``deploy/workspace.yaml``.

Only the ``compute_logs`` block differs from production: the same ``AzureBlobComputeLogManager``
with the storage emulator's account key instead of the managed identity, an ``endpoint_suffix``
that addresses Azurite over HTTPS, and a temporary staging folder. The run's stdout and stderr
reach Azurite through the manager's own upload code and come back through its download code.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
from azure.storage.blob import BlobServiceClient
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster_postgres.utils import pg_url_from_config

from xledger_assets.assets.api import API_POOL, IO_MANAGER_KEY, build_api_asset
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.io_manager import LakeIOManager
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets_tests.conftest import Product
from xledger_assets_tests.deploy.azurite_tls import AzuriteTls, resolve_to_loopback
from xledger_assets_tests.deploy.conftest import (
    DEPLOY,
    REPO,
    instance_config_for_test,
    production_instance_config,
    write_instance,
)
from xledger_assets_tests.deploy.postgres import PostgresServer
from xledger_assets_tests.deploy.processes import Service, free_port, grpc_serving

MARKER = "xledger-compute-log-marker-7d1c"
#: another dataset's than the sensor's: the sensor leaves a dataset with a queued run alone
TICKING_SCHEDULE = "projects_weekly_full"
COMPUTE_LOG_PREFIX = "_dagster/compute-logs/test"


def azurite_compute_logs(azurite: AzuriteTls, local_dir: Path) -> dict:
    """The production compute_logs block, pointed at Azurite (see the module docstring)."""
    block = production_instance_config()["compute_logs"]
    config = dict(block["config"])
    assert "default_azure_credential" in config  # production: the managed identity
    del config["default_azure_credential"]
    config["access_key_or_sas_token"] = azurite.account_key
    config["endpoint_suffix"] = azurite.endpoint_suffix
    config["local_dir"] = str(local_dir)
    return {**block, "config": config}


@pytest.fixture
def lake_env(tmp_path: Path) -> dict[str, str]:
    """A local lake: these tests are about the Dagster instance, not the lake."""
    return {
        "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
        "XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json"),
    }


@pytest.fixture
def production_env(
    product: Product,
    pg_env: dict[str, str],
    azurite_tls: AzuriteTls,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    resolve_to_loopback(monkeypatch)
    container = f"logs-{os.urandom(4).hex()}"
    BlobServiceClient(
        azurite_tls.account_url,
        credential={"account_name": azurite_tls.account, "account_key": azurite_tls.account_key},
        connection_verify=str(azurite_tls.ca_file),
    ).create_container(container)
    env = {
        **pg_env,
        "XLEDGER_ENV": "prod",  # schedules and the sensor start RUNNING, as in production
        "DAGSTER_COMPUTE_LOG_STORAGE_ACCOUNT": azurite_tls.account,
        "DAGSTER_COMPUTE_LOG_CONTAINER": container,
        "DAGSTER_COMPUTE_LOG_PREFIX": COMPUTE_LOG_PREFIX,
        "REQUESTS_CA_BUNDLE": str(azurite_tls.ca_file),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**product.env, **env}


def _print_marker() -> dg.AssetsDefinition:
    @dg.asset(name="compute_log_probe")
    def probe() -> None:
        print(MARKER, flush=True)

    return probe


def _resources(product: Product) -> dict:
    store = LakeStoreResource(lake_url=product.lake_url, state_url=product.state_url)
    return {
        "xledger": XledgerApiResource(api_url=product.sandbox.url),
        "lake_store": store,
        IO_MANAGER_KEY: LakeIOManager(store=store),
    }


def _query(pg_server: PostgresServer, env: dict[str, str], sql: str, args=()) -> list[tuple]:
    conn = pg_server.connect(
        env["DAGSTER_PG_DB"], user=env["DAGSTER_PG_USERNAME"], password=env["DAGSTER_PG_PASSWORD"]
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def test_production_instance_on_postgres_over_tls(
    product: Product,
    production_env: dict[str, str],
    pg_server: PostgresServer,
    azurite_tls: AzuriteTls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    home = write_instance(
        tmp_path / "home",
        instance_config_for_test(azurite_compute_logs(azurite_tls, tmp_path / "staging")),
    )
    timesheets = DEFAULT_CATALOG.api_dataset("timesheets")

    # The code server, started as its container app starts it; it loads while step 1 runs.
    port = free_port()
    code_server = Service(
        "code-server",
        [
            sys.executable,
            "-m",
            "dagster",
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "xledger_assets.definitions",
            "--location-name",
            "xledger_assets",
        ],
        {**os.environ, "DAGSTER_HOME": str(home)},
        tmp_path,
        cwd=REPO,
    )
    try:
        # 1. A materialization on the production instance (its pool slot, events and logs).
        with dg.DagsterInstance.from_config(str(home)) as instance:
            result = dg.materialize(
                [build_api_asset(timesheets), _print_marker()],
                instance=instance,
                resources=_resources(product),
                run_config={"ops": {"timesheets": {"config": {"mode": "full"}}}},
            )
            assert result.success
            materialization_run = result.run_id

        # 2. A schedule tick and a sensor tick, evaluated by the code server through the
        #    production workspace file, as the daemon container does.
        product.sandbox.sandbox.add("timesheets", 2)  # the delta sensor must see a new cursor
        code_server.wait_until(lambda: grpc_serving(port), 90, "gRPC health")
        monkeypatch.setenv("DAGSTER_CODE_SERVER_HOST", "127.0.0.1")
        monkeypatch.setenv("DAGSTER_CODE_SERVER_PORT", str(port))
        log = logging.getLogger("xledger_assets_tests.deploy")
        with (
            dg.DagsterInstance.from_config(str(home)) as instance,
            create_test_daemon_workspace_context(
                WorkspaceFileTarget([str(DEPLOY / "workspace.yaml")]), instance
            ) as workspace,
        ):
            entries = workspace.create_request_context().get_code_location_entries()
            assert list(entries) == ["xledger_assets"]
            location = entries["xledger_assets"].code_location
            assert location is not None, entries["xledger_assets"].load_error
            [repo] = location.get_repositories().values()
            schedules = {s.name: s for s in repo.get_schedules()}
            assert len(schedules) == len(DEFAULT_CATALOG.api) + len(DEFAULT_CATALOG.flexlinks)
            now = datetime.now(UTC)
            list(launch_scheduled_runs(workspace, log, now, {}))  # first sight: state only
            states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
            assert len(states) == len(schedules)  # XLEDGER_ENV=prod: all RUNNING by default
            for name, schedule in schedules.items():  # keep one, as a user could in the UI
                if name != TICKING_SCHEDULE:
                    instance.stop_schedule(
                        schedule.get_remote_origin_id(), schedule.selector_id, schedule
                    )
            list(launch_scheduled_runs(workspace, log, now + timedelta(days=8), {}))
            list(execute_sensor_iteration(workspace, log, None, None))
    finally:
        code_server.stop()

    # 3. PostgreSQL holds it all (read with psycopg2 over TLS, as the Dagster login).
    ssl_on = _query(
        pg_server, production_env, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    )
    assert ssl_on == [(True,)]
    runs = dict(_query(pg_server, production_env, "SELECT run_id, status FROM runs"))
    assert runs[materialization_run] == "SUCCESS"
    queued = [r for r, status in runs.items() if status == "QUEUED"]
    assert len(queued) == 2  # the schedule's run and the sensor's run
    materialized = _query(
        pg_server,
        production_env,
        "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = %s AND run_id = %s",
        ("ASSET_MATERIALIZATION", materialization_run),
    )
    assert sorted(k for (k,) in materialized) == ['["compute_log_probe"]', '["timesheets"]']
    ticks = _query(pg_server, production_env, "SELECT type, status FROM job_ticks ORDER BY id")
    assert ("SENSOR", "SUCCESS") in ticks
    assert [t for t in ticks if t[0] == "SCHEDULE"] == [("SCHEDULE", "SUCCESS")]
    pool = _query(
        pg_server,
        production_env,
        'SELECT concurrency_key, "limit", using_default_limit FROM concurrency_limits '
        "WHERE concurrency_key = %s",
        (API_POOL,),
    )
    assert pool == [(API_POOL, 2, True)]  # pools.default_limit of deploy/dagster.yaml

    # 4. A fresh instance from the same file sees the same (Dagster's own API), and its compute
    #    log manager reads the run's output back from Azurite.
    fresh_config = instance_config_for_test(
        azurite_compute_logs(azurite_tls, tmp_path / "fresh-staging")
    )
    with dg.DagsterInstance.from_config(
        str(write_instance(tmp_path / "fresh", fresh_config))
    ) as fresh:
        assert type(fresh.run_storage).__name__ == "PostgresRunStorage"
        assert type(fresh.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(fresh.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(fresh.compute_log_manager).__name__ == "AzureBlobComputeLogManager"
        run = fresh.get_run_by_id(materialization_run)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        latest = fresh.get_latest_materialization_event(dg.AssetKey("timesheets"))
        assert latest is not None and latest.run_id == materialization_run
        meta = latest.asset_materialization.metadata  # type: ignore[union-attr]
        assert meta["rows"].value == len(product.sandbox.sandbox.truth("timesheets")) - 2
        sensor_runs = fresh.get_runs(
            dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.QUEUED], tags={"xledger/dataset": "timesheets"}
            )
        )
        sensor_keys = [r.tags.get("dagster/run_key") for r in sensor_runs]
        assert any(k and k.startswith("timesheets:") for k in sensor_keys), sensor_keys
        [scheduled] = fresh.get_runs(
            dg.RunsFilter(tags={"dagster/schedule_name": TICKING_SCHEDULE})
        )
        assert scheduled.status == dg.DagsterRunStatus.QUEUED
        assert scheduled.tags["xledger/dataset"] == "projects"
        assert fresh.event_log_storage.get_concurrency_info(API_POOL).slot_count == 2

        manager = fresh.compute_log_manager
        [capture] = fresh.all_logs(materialization_run, of_type=dg.DagsterEventType.LOGS_CAPTURED)
        file_key = capture.dagster_event.logs_captured_data.file_key  # type: ignore[union-attr]
        log_key = manager.build_log_key_for_run(materialization_run, file_key)
        assert manager.cloud_storage_has_logs(log_key, ComputeIOType.STDOUT)  # type: ignore[attr-defined]
        assert manager.cloud_storage_has_logs(log_key, ComputeIOType.STDERR)  # type: ignore[attr-defined]
        data = manager.get_log_data(log_key)
        assert MARKER in (data.stdout or b"").decode()
        assert "timesheets" in (data.stderr or b"").decode()

    container = BlobServiceClient(
        azurite_tls.account_url,
        credential={"account_name": azurite_tls.account, "account_key": azurite_tls.account_key},
        connection_verify=str(azurite_tls.ca_file),
    ).get_container_client(production_env["DAGSTER_COMPUTE_LOG_CONTAINER"])
    names = [b.name for b in container.list_blobs()]
    prefix = f"{COMPUTE_LOG_PREFIX}/storage/{materialization_run}/compute_logs/"
    assert {n.rsplit(".", 1)[1] for n in names if n.startswith(prefix)} == {"out", "err"}


def test_postgres_refuses_plain_connections_and_unverified_servers(
    pg_server: PostgresServer, pg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
):
    """hostssl only on the server; verify-full in deploy/dagster.yaml checks the certificate
    against PGSSLROOTCERT, so a server signed by another CA is refused."""
    import sqlalchemy

    with pytest.raises(psycopg2.OperationalError, match="no encryption"):
        psycopg2.connect(
            host=pg_env["DAGSTER_PG_HOST"],
            port=int(pg_env["DAGSTER_PG_PORT"]),
            dbname=pg_env["DAGSTER_PG_DB"],
            user=pg_env["DAGSTER_PG_USERNAME"],
            password=pg_env["DAGSTER_PG_PASSWORD"],
            sslmode="disable",
        )
    db = production_instance_config()["storage"]["postgres"]["postgres_db"]
    resolved = {
        k: (pg_env[v["env"]] if isinstance(v, dict) and "env" in v else v) for k, v in db.items()
    }
    url = pg_url_from_config({"postgres_db": resolved})
    assert url.startswith("postgresql+psycopg2://")
    assert "sslmode=verify-full" in url
    for key, value in pg_env.items():
        monkeypatch.setenv(key, value)
    with sqlalchemy.create_engine(url).connect() as conn:  # PGSSLROOTCERT = the server's CA
        assert conn.exec_driver_sql("SHOW ssl").scalar() == "on"
    monkeypatch.setenv("PGSSLROOTCERT", "/etc/ssl/certs/ca-certificates.crt")
    if not Path("/etc/ssl/certs/ca-certificates.crt").exists():
        pytest.skip("no system CA bundle to verify against")
    with pytest.raises(sqlalchemy.exc.OperationalError, match="certificate verify failed"):
        sqlalchemy.create_engine(url).connect()
