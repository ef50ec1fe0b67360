"""The lake IO manager: publishes what the assets staged, and reads the current state back.

Every materialization records what it wrote, so the asset's page in the UI answers "what is in
the lake and how did it get there": rows (``dagster/row_count``), the file's columns and types
(``dagster/column_schema``, read from the file itself), the file (``path``, ``dagster/uri``),
bytes, mode, cursor before and after, Xledger requests and MB, rows added/updated/deleted.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from xledger_assets.assets.failures import plain_failures
from xledger_assets.assets.flexlinks import FlexlinkSnapshot
from xledger_assets.checks import NO_FILE
from xledger_assets.lake.current import current_state
from xledger_assets.lake.naming import FULL_SYNC
from xledger_assets.resources import LakeStoreResource
from xledger_assets.sync.engine import StagedSync, SyncResult, commit_staged


def table_schema(schema: pa.Schema, described: dg.TableSchema | None = None) -> dg.TableSchema:
    """The UI's column list for an Arrow schema; descriptions come from ``described``."""
    notes = {c.name: c.description for c in described.columns} if described else {}
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, str(f.type), description=notes.get(f.name)) for f in schema]
    )


def file_metadata(uri: str | None) -> dict[str, Any]:
    if not uri:
        return {"path": NO_FILE}
    return {"path": dg.MetadataValue.path(uri), "dagster/uri": uri}


def sync_metadata(result: SyncResult, schema: dg.TableSchema | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dagster/row_count": result.rows,
        "rows": result.rows,
        "added": result.counts.get("ADDED", 0),
        "updated": result.counts.get("UPDATED", 0),
        "deleted": result.counts.get("DELETED", 0),
        "bytes": result.file_bytes,
        **file_metadata(result.file_uri),
        "mode": result.mode,
        "requested_mode": result.requested_mode,
        "reason": result.reason,
        "cursor_before": result.cursor_before or "none",
        "cursor_after": result.cursor_after or "none",
        "api_requests": result.requests,
        "api_megabytes": round(result.megabytes, 3),
        "duration_seconds": round(result.seconds, 3),
    }
    if schema is not None:
        out["dagster/column_schema"] = schema
    return out


def _defined_schema(context: dg.OutputContext) -> dg.TableSchema | None:
    try:
        metadata: Mapping[str, Any] = context.definition_metadata or {}
    except Exception:
        return None
    value = metadata.get("dagster/column_schema")
    value = getattr(value, "schema", value)
    return value if isinstance(value, dg.TableSchema) else None


class LakeIOManager(dg.ConfigurableIOManager):
    """Publishes staged files under their final lake names, then stores the sync state."""

    store: dg.ResourceDependency[LakeStoreResource]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        with plain_failures():
            self._handle_output(context, obj)

    def _handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        defined = _defined_schema(context)
        if isinstance(obj, StagedSync):
            # The columns as written: read from the staged file's footer before it is published.
            schema = defined
            if obj.staged_path is not None and obj.staged_path.exists():
                schema = table_schema(pq.read_schema(str(obj.staged_path)), defined)
            result = commit_staged(obj, self.store.lake(), self.store.state_store())
            context.add_output_metadata(sync_metadata(result, schema))
            return
        if isinstance(obj, FlexlinkSnapshot):
            lake = self.store.lake()
            table = obj.result.table
            file, size = lake.publish_table(table, obj.dataset, FULL_SYNC, obj.started_at)
            summary: dict[str, Any] = obj.result.summary()
            context.add_output_metadata(
                {
                    **summary,
                    "dagster/row_count": table.num_rows,
                    "dagster/column_schema": table_schema(table.schema, defined),
                    "rows": table.num_rows,
                    "bytes": size,
                    "mode": "full",
                    **file_metadata(lake.uri(file)),
                }
            )
            return
        raise TypeError(f"the lake IO manager cannot store a {type(obj).__name__}")

    def load_input(self, context: dg.InputContext) -> Any:
        dataset = context.asset_key.path[-1]
        with plain_failures():
            table = current_state(self.store.lake(), dataset)
        if table is None:
            raise dg.Failure(f"{dataset} has no files in the lake yet; materialize it first")
        return table
