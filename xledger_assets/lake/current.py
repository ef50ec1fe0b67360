"""Rebuild a dataset's current state from its files: the newest full_sync, then every later
sync_changes file applied by dbId (the latest row wins, DELETED rows remove the record)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from xledger_assets.arrow_types import MUTATION_COLUMN
from xledger_assets.lake.base import Lake
from xledger_assets.lake.naming import FULL_SYNC, LakeFile


def files_for_current_state(files: list[LakeFile]) -> list[LakeFile]:
    """The newest full_sync file and the sync_changes files after it, in apply order."""
    fulls = [i for i, f in enumerate(files) if f.kind == FULL_SYNC]
    if not fulls:
        return []
    return files[fulls[-1] :]


def current_state(lake: Lake, dataset: str) -> pa.Table | None:
    """The dataset as it is now, one row per live record ordered by dbId; None without files.

    Snapshot datasets (flexlinks: no ``dbId``/``mutationType``) return the newest full_sync file.
    """
    files = files_for_current_state(lake.list_files(dataset))
    if not files:
        return None
    tables = [lake.read_table(f) for f in files]
    first = tables[0]
    if "dbId" not in first.column_names or MUTATION_COLUMN not in first.column_names:
        return first
    return apply_changes(tables)


def apply_changes(tables: list[pa.Table]) -> pa.Table:
    """Tables in apply order (a full load first) folded into the current state."""
    schema = tables[0].schema
    combined = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
    if combined.num_rows == 0:
        return combined
    order = pa.array(range(combined.num_rows), type=pa.int64())
    keyed = combined.append_column("__order", order)
    # Sorted by dbId, then by apply order: the last row of each dbId is its latest state.
    by_id = pc.sort_indices(keyed, sort_keys=[("dbId", "ascending"), ("__order", "ascending")])
    ids = pc.take(combined.column("dbId"), by_id)
    n = len(ids)
    is_last = pa.concat_arrays(
        [
            pc.not_equal(ids.slice(0, n - 1), ids.slice(1)).combine_chunks(),
            pa.array([True]),
        ]
    )
    latest = combined.take(pc.filter(by_id, is_last))
    live = pc.not_equal(latest.column(MUTATION_COLUMN), "DELETED")
    return latest.filter(live)
