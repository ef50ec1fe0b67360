"""One asset per Xledger API dataset, built from the catalog. The assets only stage a sync;
the lake IO manager publishes the file and stores the cursor.

Each asset also reports the ``xledger_token_health`` check from its own requests: passed after
a sync that Xledger answered, failed (with what to do) when Xledger refused the token.
"""

from collections.abc import Sequence
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from xledger_assets.arrow_types import ARROW_TYPES
from xledger_assets.assets.failures import plain_failures
from xledger_assets.assets.references import code_references
from xledger_assets.catalog import DEFAULT_CATALOG, ApiDataset
from xledger_assets.checks import TOKEN_OK, token_check_result, token_check_spec, token_problem
from xledger_assets.errors import XledgerAssetsError
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sync.batch import batch_for_run
from xledger_assets.sync.engine import StagedSync, SyncEngine

API_GROUP = "xledger"
API_POOL = "xledger_api"
IO_MANAGER_KEY = "lake_io_manager"
API_KINDS = {"xledger", "parquet", "azure"}
OWNERS = ["team:data-platform"]


class SyncConfig(dg.Config):
    """``auto``: full without state or when deltas may have expired, else changes."""

    mode: Literal["auto", "full", "changes"] = "auto"
    handoff: str = Field(
        default="",
        description="Set by the delta sensor: the deltas it already read (leave empty).",
    )


def column_schema(dataset: ApiDataset) -> dg.TableSchema:
    cols = [
        dg.TableColumn(f.path, str(ARROW_TYPES[f.type]), description=f"Xledger {f.type}")
        for f in dataset.fields
    ]
    cols.append(dg.TableColumn("mutationType", "string", description="ADDED, UPDATED or DELETED"))
    return dg.TableSchema(columns=cols)


def freshness_policy(days: float) -> dg.FreshnessPolicy:
    """Fails when the newest materialization is older than ``days`` (catalog)."""
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(days=days))


def fields_path(dataset: ApiDataset) -> Path:
    name = dataset.fields_file or f"{dataset.name}.fields"
    return Path(str(resources.files("xledger_assets.queries").joinpath(name)))


def build_api_asset(
    dataset: ApiDataset, catalog: Sequence[ApiDataset] | None = None
) -> dg.AssetsDefinition:
    """``catalog``: the API datasets a run may hold with this one (the delta sensor's runs
    share one re-fetch); the default catalog's by default."""
    deltas = dataset.deltas_field or "none (every run is a full load)"
    peers = [d for d in (catalog or DEFAULT_CATALOG.api) if d.name != dataset.name] + [dataset]

    @dg.asset(
        name=dataset.name,
        group_name=API_GROUP,
        kinds=API_KINDS,
        description=f"{dataset.description}\n\nXledger root field `{dataset.items_field}`, "
        f"deltas `{deltas}`; files in `<lake>/{dataset.name}/`. Fresh when materialized "
        f"within {dataset.freshness_days:g} day(s).",
        io_manager_key=IO_MANAGER_KEY,
        pool=API_POOL,
        owners=OWNERS,
        tags={"xledger/source": "api"},
        freshness_policy=freshness_policy(dataset.freshness_days),
        check_specs=[token_check_spec(dataset)],
        metadata={
            "dagster/column_schema": column_schema(dataset),
            "dagster/code_references": code_references(
                build_api_asset, "ApiDataset", dataset.name, fields_path(dataset)
            ),
            "xledger_root_field": dataset.items_field,
            "xledger_deltas_field": deltas,
            "freshness_days": dataset.freshness_days,
            "row_count_tolerance": dataset.row_count_tolerance,
        },
    )
    def _sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        xledger: XledgerApiResource,
        lake_store: LakeStoreResource,
    ):
        try:
            staged = _stage(context, dataset, config.mode, xledger, lake_store, peers)
        except XledgerAssetsError as exc:
            problem = token_problem(exc)
            if problem is not None:
                yield token_check_result(dataset.name, False, problem)
            with plain_failures():  # one plain message, no library traceback
                raise exc from None
        requests = staged.requests
        yield dg.Output(staged)
        yield token_check_result(
            dataset.name,
            True,
            f"{TOKEN_OK} ({requests} requests in this run)",
            {"api_requests": requests},
        )

    return _sync


def _stage(
    context: dg.AssetExecutionContext,
    dataset: ApiDataset,
    mode: str,
    xledger: XledgerApiResource,
    lake_store: LakeStoreResource,
    peers: Sequence[ApiDataset],
) -> StagedSync:
    client = xledger.client()
    try:
        engine = SyncEngine(
            client,
            lake_store.lake(),
            lake_store.state_store(),
            settings=xledger.sync_settings(),
            log=context.log,
        )
        batch = batch_for_run(context.run_id, context.run.run_config, peers)
        return engine.stage(dataset, mode, batch)
    finally:
        client.close()
