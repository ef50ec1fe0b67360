"""Operator jobs, launched from the UI's Jobs page (the same operations as ``xledger-assets state
...`` on the command line, for people who only have the UI):

- ``xledger_full_resync``: full loads of the API datasets; pick datasets in the launchpad (or the
  job's asset graph), or use ``<dataset>_full_resync`` for one dataset.
- ``xledger_state_show``: every dataset's sync state (cursor, mode, last success, last file).
- ``xledger_state_reset``: forget one dataset's state, so its next run is a full load; the
  config field ``confirm`` must repeat the dataset's name.
- ``xledger_import_legacy_state``: import the predecessor app's delta cursors (Azure App
  Configuration only) where no state exists yet.

None of them calls Xledger except the full resyncs.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from xledger_assets.catalog import ApiDataset, Catalog
from xledger_assets.errors import XledgerAssetsError
from xledger_assets.redact import redact
from xledger_assets.resources import LakeStoreResource
from xledger_assets.state.base import SyncState

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

FULL_RESYNC_JOB = "xledger_full_resync"
STATE_SHOW_JOB = "xledger_state_show"
STATE_RESET_JOB = "xledger_state_reset"
IMPORT_LEGACY_JOB = "xledger_import_legacy_state"
OPERATOR_TAGS = {"xledger/operator": "true"}


def full_config(datasets: Sequence[ApiDataset]) -> dict[str, Any]:
    return {"ops": {d.name: {"config": {"mode": "full"}} for d in datasets}}


def full_resync_job(dataset: ApiDataset, env: str) -> "UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        f"{dataset.name}_full_resync",
        selection=dg.AssetSelection.assets(dataset.name),
        config=full_config([dataset]),
        tags={"xledger/dataset": dataset.name, "xledger/env": env},
        description=f"Full reload of {dataset.name} (repairs anything the deltas missed); then "
        "its checks.",
    )


def full_resync_all_job(datasets: Sequence[ApiDataset], env: str) -> "UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        FULL_RESYNC_JOB,
        selection=dg.AssetSelection.assets(*[d.name for d in datasets]),
        config=full_config(datasets),
        tags={**OPERATOR_TAGS, "xledger/env": env},
        description="Full reload of the chosen API datasets (mode full), then their checks. "
        "Choose datasets with the asset selection in the launchpad or on the job's graph; "
        "without a choice every API dataset is reloaded.",
    )


def _fail(message: str) -> dg.Failure:
    return dg.Failure(description=redact(message), allow_retries=False)


def _state_rows(names: Sequence[str], states: dict[str, SyncState]) -> str:
    rows = ["| dataset | mode | version | last success | cursor | last file |", "|---" * 6 + "|"]
    for name in names:
        s = states.get(name)
        if s is None:
            rows.append(f"| {name} | - | - | - | - | - |")
        else:
            rows.append(
                f"| {name} | {s.mode} | {s.version} | {s.last_success} | {s.cursor or '-'} "
                f"| {s.last_file or '-'} |"
            )
    return "\n".join(rows)


class StateResetConfig(dg.Config):
    """Which dataset to reset; ``confirm`` must be the same name."""

    dataset: str
    confirm: str = ""


class ImportLegacyConfig(dg.Config):
    """Only this dataset; empty: every API dataset with a delta endpoint."""

    dataset: str = ""


def build_operator_jobs(catalog: Catalog, env: str) -> list[Any]:
    api_names = [d.name for d in catalog.api]
    all_names = api_names + [d.name for d in catalog.flexlinks]
    delta_names = [d.name for d in catalog.api if d.deltas_field]

    def known(name: str) -> str:
        name = name.strip()
        if name not in all_names:
            raise _fail(f"unknown dataset {name!r}; known datasets: {', '.join(all_names)}")
        return name

    @dg.op(name="show_sync_state", tags=OPERATOR_TAGS)
    def show_sync_state(context: dg.OpExecutionContext, lake_store: LakeStoreResource) -> dg.Output:
        try:
            store = lake_store.state_store()
            states = store.all()
        except XledgerAssetsError as exc:
            raise _fail(str(exc)) from None
        names = all_names + sorted(set(states) - set(all_names))
        table = _state_rows(names, states)
        context.log.info(f"sync state in {store.url}:\n{table}")
        return dg.Output(
            None,
            metadata={
                "state": dg.MetadataValue.md(table),
                "store": redact(store.url),
                "datasets_with_state": len(states),
                "json": dg.MetadataValue.json(
                    {n: (states[n].to_json() if n in states else None) for n in names}
                ),
            },
        )

    @dg.op(name="reset_sync_state", tags=OPERATOR_TAGS)
    def reset_sync_state(
        context: dg.OpExecutionContext, config: StateResetConfig, lake_store: LakeStoreResource
    ) -> dg.Output:
        dataset = known(config.dataset)
        if config.confirm.strip() != dataset:
            raise _fail(
                f"not reset: resetting forgets the delta cursor of {dataset}, so its next run "
                f"is a full load; to confirm, set confirm to {dataset!r} (got "
                f"{config.confirm.strip()!r})"
            )
        try:
            store = lake_store.state_store()
            before = store.get(dataset)
            existed = store.reset(dataset)
        except XledgerAssetsError as exc:
            raise _fail(str(exc)) from None
        message = (
            f"{dataset}: state reset; the next run is a full load"
            if existed
            else f"{dataset}: had no state; the next run is a full load"
        )
        context.log.info(message)
        context.log_event(
            dg.AssetObservation(
                asset_key=dataset,
                description=f"sync state reset by run {context.run_id}: the next run is a full "
                "load",
                metadata={"cursor_before_reset": (before.cursor if before else None) or "none"},
            )
        )
        return dg.Output(
            None,
            metadata={
                "dataset": dataset,
                "had_state": existed,
                "cursor_before": (before.cursor if before else None) or "none",
                "result": message,
            },
        )

    @dg.op(name="import_legacy_sync_state", tags=OPERATOR_TAGS)
    def import_legacy_sync_state(
        context: dg.OpExecutionContext, config: ImportLegacyConfig, lake_store: LakeStoreResource
    ) -> dg.Output:
        from xledger_assets.state.appconfig import AppConfigStateStore

        if config.dataset.strip():
            dataset = known(config.dataset)
            if dataset not in delta_names:
                raise _fail(f"{dataset} has no delta cursor (every run is a full load)")
            datasets = [dataset]
        else:
            datasets = delta_names
        try:
            store = lake_store.state_store()
        except XledgerAssetsError as exc:
            raise _fail(str(exc)) from None
        if not isinstance(store, AppConfigStateStore):
            raise _fail(
                "import-legacy reads the predecessor's keys from Azure App Configuration: set "
                "XLEDGER_STATE_URL to its endpoint or connection string"
            )
        outcomes: dict[str, str] = {}
        try:
            for name in datasets:
                result = store.import_legacy_state(name)
                if result.outcome == "imported":
                    assert result.state is not None and result.legacy is not None
                    outcomes[name] = (
                        f"imported cursor {result.state.cursor!r} from "
                        f"{result.legacy.source_key}; the next sync continues with changes"
                    )
                elif result.outcome == "exists":
                    version = result.state.version if result.state else "?"
                    outcomes[name] = f"already has state (version {version}); left as it is"
                elif result.legacy is None:
                    outcomes[name] = "no predecessor state"
                else:
                    outcomes[name] = f"predecessor state not imported ({result.legacy.reason})"
                context.log.info(f"{name}: {outcomes[name]}")
        except XledgerAssetsError as exc:
            raise _fail(str(exc)) from None
        table = "\n".join(
            ["| dataset | result |", "|---|---|", *(f"| {n} | {o} |" for n, o in outcomes.items())]
        )
        imported = sum(1 for o in outcomes.values() if o.startswith("imported"))
        return dg.Output(
            None,
            metadata={
                "result": dg.MetadataValue.md(table),
                "imported": imported,
                "store": f"{redact(store.url)} (label {store.label})",
            },
        )

    tags = {**OPERATOR_TAGS, "xledger/env": env}

    @dg.job(
        name=STATE_SHOW_JOB,
        tags=tags,
        description="Shows every dataset's sync state (delta cursor, mode, last success, last "
        "file) in the run's output metadata and log. Reads the state store only.",
    )
    def state_show() -> None:
        show_sync_state()

    @dg.job(
        name=STATE_RESET_JOB,
        tags=tags,
        description="Forgets one dataset's sync state, so its next run is a full load. Config: "
        "dataset, and confirm = the same name again.",
        config={"ops": {"reset_sync_state": {"config": {"dataset": "", "confirm": ""}}}},
    )
    def state_reset() -> None:
        reset_sync_state()

    @dg.job(
        name=IMPORT_LEGACY_JOB,
        tags=tags,
        description="Imports the predecessor app's delta cursors from Azure App Configuration "
        "where a dataset has no state yet (dataset empty: every dataset with deltas).",
    )
    def import_legacy() -> None:
        import_legacy_sync_state()

    return [
        full_resync_all_job(catalog.api, env),
        *[full_resync_job(d, env) for d in catalog.api],
        state_show,
        state_reset,
        import_legacy,
    ]
