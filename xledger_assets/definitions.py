"""The code location: assets and their checks, schedules, the delta sensor, the failure alert
and the operator jobs, built from the catalog.

``XLEDGER_ENV`` picks the environment (local, dev, prod); nothing else happens at import.

A malformed variable does not stop the code location from loading (Dagster would show an
import traceback around the message): it is logged as one plain line, its default is used, and
every run fails at start with the same message, which names the variable.
"""

import logging
import os

import dagster as dg

from xledger_assets.alerts import build_failure_alert_sensor
from xledger_assets.assets.api import IO_MANAGER_KEY, build_api_asset
from xledger_assets.assets.flexlinks import build_flexlink_asset, flexlink_schedule
from xledger_assets.catalog import DEFAULT_CATALOG, Catalog
from xledger_assets.checks import build_api_checks, build_flexlink_checks
from xledger_assets.io_manager import LakeIOManager
from xledger_assets.jobs import build_operator_jobs
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.schedules import full_resync_schedule
from xledger_assets.sensors import build_delta_sensor
from xledger_assets.settings import Settings

log = logging.getLogger("xledger_assets")


def build_definitions(
    catalog: Catalog = DEFAULT_CATALOG, settings: Settings | None = None
) -> dg.Definitions:
    if settings is None:
        problems: list[str] = []
        settings = Settings.from_env(os.environ, problems)
        for problem in problems:
            log.error("%s: runs fail at start until it is fixed", problem)
    running = settings.env in ("dev", "prod")
    schedule_status = (
        dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    )
    sensor_status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    assets = [build_api_asset(d, catalog.api) for d in catalog.api]
    assets += [build_flexlink_asset(d) for d in catalog.flexlinks]
    checks = [build_api_checks(d) for d in catalog.api]
    checks += [build_flexlink_checks(d) for d in catalog.flexlinks]
    schedules = [
        s for d in catalog.api if (s := full_resync_schedule(d, schedule_status, settings.env))
    ]
    schedules += [flexlink_schedule(d, schedule_status, settings.env) for d in catalog.flexlinks]
    sensors = [
        build_delta_sensor(
            catalog.api,
            interval_seconds=settings.sensor_interval_seconds,
            default_status=sensor_status,
            env=settings.env,
        ),
        build_failure_alert_sensor(settings.env, sensor_status),
    ]
    scheduled_jobs = {s.job_name for s in schedules}
    jobs = [j for j in build_operator_jobs(catalog, settings.env) if j.name not in scheduled_jobs]
    store = LakeStoreResource()
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        schedules=schedules,
        sensors=sensors,
        jobs=jobs,
        resources={
            "xledger": XledgerApiResource(),
            "lake_store": store,
            IO_MANAGER_KEY: LakeIOManager(store=store),
        },
    )


defs = build_definitions()
