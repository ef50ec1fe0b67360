"""One asset per Xledger API dataset, built from the catalog. The assets only stage a sync;
the lake IO manager publishes the file and stores the cursor."""

from typing import Literal

import dagster as dg

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.assets.failures import plain_failures
from xledger_assets.catalog import ApiDataset
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sync.engine import StagedSync, SyncEngine

API_GROUP = "xledger"
API_POOL = "xledger_api"
IO_MANAGER_KEY = "lake_io_manager"


class SyncConfig(dg.Config):
    """``auto``: full without state or when deltas may have expired, else changes."""

    mode: Literal["auto", "full", "changes"] = "auto"


def column_schema(dataset: ApiDataset) -> dg.TableSchema:
    cols = [
        dg.TableColumn(f.path, str(ARROW_TYPES[f.type]), description=f"Xledger {f.type}")
        for f in dataset.fields
    ]
    cols.append(dg.TableColumn("mutationType", "string", description="ADDED, UPDATED or DELETED"))
    return dg.TableSchema(columns=cols)


def build_api_asset(dataset: ApiDataset) -> dg.AssetsDefinition:
    deltas = dataset.deltas_field or "none (every run is a full load)"

    @dg.asset(
        name=dataset.name,
        group_name=API_GROUP,
        kinds={"xledger", "parquet"},
        description=f"{dataset.description}\n\nXledger root field `{dataset.items_field}`, "
        f"deltas `{deltas}`; files in `<lake>/{dataset.name}/`.",
        io_manager_key=IO_MANAGER_KEY,
        pool=API_POOL,
        owners=["team:data-platform"],
        tags={"xledger/source": "api"},
        metadata={
            "dagster/column_schema": column_schema(dataset),
            "xledger_root_field": dataset.items_field,
            "xledger_deltas_field": deltas,
        },
    )
    def _sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        xledger: XledgerApiResource,
        lake_store: LakeStoreResource,
    ) -> StagedSync:
        with plain_failures():
            client = xledger.client()
            try:
                engine = SyncEngine(
                    client,
                    lake_store.lake(),
                    lake_store.state_store(),
                    settings=xledger.sync_settings(),
                    log=context.log,
                )
                return engine.stage(dataset, config.mode)
            finally:
                client.close()

    return _sync
