"""A full resync per dataset on its own cron (catalog), staggered so they never pile up."""

import dagster as dg

from xledger_assets.catalog import ApiDataset
from xledger_assets.jobs import full_resync_job


def full_resync_schedule(
    dataset: ApiDataset, default_status: dg.DefaultScheduleStatus, env: str
) -> dg.ScheduleDefinition | None:
    if not dataset.full_schedule:
        return None
    return dg.ScheduleDefinition(
        name=f"{dataset.name}_weekly_full",
        job=full_resync_job(dataset, env),
        cron_schedule=dataset.full_schedule,
        execution_timezone="UTC",
        default_status=default_status,
    )
