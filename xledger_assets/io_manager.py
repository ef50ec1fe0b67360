"""The lake IO manager: publishes what the assets staged, and reads the current state back."""

from typing import Any

import dagster as dg

from xledger_assets.assets.failures import plain_failures
from xledger_assets.assets.flexlinks import FlexlinkSnapshot
from xledger_assets.lake.current import current_state
from xledger_assets.lake.naming import FULL_SYNC
from xledger_assets.resources import LakeStoreResource
from xledger_assets.sync.engine import StagedSync, SyncResult, commit_staged


def sync_metadata(result: SyncResult) -> dict[str, Any]:
    return {
        "dagster/row_count": result.rows,
        "rows": result.rows,
        "added": result.counts.get("ADDED", 0),
        "updated": result.counts.get("UPDATED", 0),
        "deleted": result.counts.get("DELETED", 0),
        "bytes": result.file_bytes,
        "path": dg.MetadataValue.path(result.file_uri) if result.file_uri else "none",
        "mode": result.mode,
        "requested_mode": result.requested_mode,
        "reason": result.reason,
        "cursor_before": result.cursor_before or "none",
        "cursor_after": result.cursor_after or "none",
        "api_requests": result.requests,
        "api_megabytes": round(result.megabytes, 3),
        "duration_seconds": round(result.seconds, 3),
    }


class LakeIOManager(dg.ConfigurableIOManager):
    """Publishes staged files under their final lake names, then stores the sync state."""

    store: dg.ResourceDependency[LakeStoreResource]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        with plain_failures():
            self._handle_output(context, obj)

    def _handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if isinstance(obj, StagedSync):
            result = commit_staged(obj, self.store.lake(), self.store.state_store())
            context.add_output_metadata(sync_metadata(result))
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
                    "rows": table.num_rows,
                    "bytes": size,
                    "path": dg.MetadataValue.path(lake.uri(file)),
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
