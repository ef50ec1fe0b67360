"""A full resync per dataset on its own cron (catalog), staggered so they never pile up."""

from __future__ import annotations

import dagster as dg

from xledger_assets.catalog import ApiDataset


def full_resync_schedule(
    dataset: ApiDataset, default_status: dg.DefaultScheduleStatus, env: str
) -> dg.ScheduleDefinition | None:
    if not dataset.full_schedule:
        return None
    job = dg.define_asset_job(
        f"{dataset.name}_full_resync",
        selection=dg.AssetSelection.assets(dataset.name),
        config={"ops": {dataset.name: {"config": {"mode": "full"}}}},
        tags={"xledger/dataset": dataset.name, "xledger/env": env},
        description=f"Full reload of {dataset.name} (repairs anything the deltas missed).",
    )
    return dg.ScheduleDefinition(
        name=f"{dataset.name}_weekly_full",
        job=job,
        cron_schedule=dataset.full_schedule,
        execution_timezone="UTC",
        default_status=default_status,
    )
