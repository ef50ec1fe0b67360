"""One asset per flexlink (an Excel export link), built from the catalog. Every run reads the
whole export and the lake IO manager writes it as a full_sync file."""

from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.assets.api import IO_MANAGER_KEY, OWNERS, freshness_policy
from xledger_assets.assets.failures import plain_failures
from xledger_assets.assets.references import code_references
from xledger_assets.catalog import FlexlinkDataset
from xledger_assets.flexlinks import SUBSIDIARY_COLUMN, FlexlinkTable, read_flexlink
from xledger_assets.resources import LakeStoreResource

FLEXLINK_GROUP = "xledger_flexlinks"
FLEXLINK_KINDS = {"xledger", "excel", "parquet", "azure"}


@dataclass(frozen=True)
class FlexlinkSnapshot:
    """A flexlink read whole, waiting for the IO manager to publish it."""

    dataset: str
    started_at: datetime
    result: FlexlinkTable


def _column_schema(dataset: FlexlinkDataset) -> dg.TableSchema:
    cols = [dg.TableColumn(c.label, str(ARROW_TYPES[c.type])) for c in dataset.columns]
    if dataset.per_subsidiary:
        cols.append(dg.TableColumn(SUBSIDIARY_COLUMN, "string", description="the link's key"))
    return dg.TableSchema(columns=cols)


def build_flexlink_asset(dataset: FlexlinkDataset) -> dg.AssetsDefinition:
    variable = dataset.env_var
    how = (
        f"`{variable}` holds a JSON object of subsidiary name → link"
        if dataset.per_subsidiary
        else f"`{variable}` holds the link"
    )

    @dg.asset(
        name=dataset.name,
        group_name=FLEXLINK_GROUP,
        kinds=FLEXLINK_KINDS,
        description=f"{dataset.description}\n\n{how}; files in `<lake>/{dataset.name}/`. "
        f"Fresh when materialized within {dataset.freshness_days:g} day(s).",
        io_manager_key=IO_MANAGER_KEY,
        owners=OWNERS,
        tags={"xledger/source": "flexlink"},
        freshness_policy=freshness_policy(dataset.freshness_days),
        metadata={
            "dagster/column_schema": _column_schema(dataset),
            "dagster/code_references": code_references(
                build_flexlink_asset, "FlexlinkDataset", dataset.name
            ),
            "env_var": variable,
            "key_column": dataset.key_label,
            "freshness_days": dataset.freshness_days,
        },
    )
    def _read(lake_store: LakeStoreResource) -> FlexlinkSnapshot:
        with plain_failures():
            started = lake_store.lake().start_time(dataset.name)
            return FlexlinkSnapshot(dataset.name, started, read_flexlink(dataset))

    return _read


def flexlink_schedule(
    dataset: FlexlinkDataset, default_status: dg.DefaultScheduleStatus, env: str
) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(
        f"{dataset.name}_refresh",
        selection=dg.AssetSelection.assets(dataset.name),
        tags={"xledger/dataset": dataset.name, "xledger/env": env},
    )
    return dg.ScheduleDefinition(
        name=f"{dataset.name}_daily",
        job=job,
        cron_schedule=dataset.schedule,
        execution_timezone="UTC",
        default_status=default_status,
    )
