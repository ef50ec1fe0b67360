"""GraphQL query text, generated from a dataset's field paths.

The paths in ``queries/<dataset>.fields`` are the single source of both the selection sent to
Xledger and the lake's column names, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from xledger_assets.catalog import ApiDataset, Field


def selection(fields: Iterable[Field], indent: int = 0) -> str:
    """Nest dotted paths into a GraphQL selection set body (``a b { c d }``)."""
    tree: dict[str, dict] = {}
    for f in fields:
        node = tree
        for part in f.parts:
            node = node.setdefault(part, {})
    return _render(tree)


def _render(tree: dict[str, dict]) -> str:
    out = []
    for name, children in tree.items():
        out.append(f"{name} {{ {_render(children)} }}" if children else name)
    return " ".join(out)


def _edges(dataset: ApiDataset) -> str:
    return f"edges {{ cursor node {{ {selection(dataset.fields)} }} }} pageInfo {{ hasNextPage }}"


def _filter_args(extra: Sequence[str]) -> str:
    parts = [p for p in extra if p]
    return f", filter: {{ {', '.join(parts)} }}" if parts else ""


def items_query(dataset: ApiDataset, *, owner_set: str | None, fixed_filter: str | None) -> str:
    """Page the whole root field: ``first``/``after``."""
    owner = f", ownerSet: {owner_set}" if owner_set else ""
    return (
        f"query XledgerItems($first: Int!, $after: String) {{ "
        f"{dataset.items_field}(first: $first, after: $after{owner}"
        f"{_filter_args([fixed_filter or ''])}) {{ "
        f"{_edges(dataset)} }} }}"
    )


def refetch_query(dataset: ApiDataset, *, owner_set: str | None, fixed_filter: str | None) -> str:
    """Records by dbId (``filter: {dbId_in: $ids}``), with each entity's own id list type."""
    owner = f", ownerSet: {owner_set}" if owner_set else ""
    filters = _filter_args(["dbId_in: $ids", fixed_filter or ""])
    return (
        f"query XledgerRefetch($first: Int!, $after: String, $ids: [{dataset.id_list_type}]) {{ "
        f"{dataset.items_field}(first: $first, after: $after{owner}{filters}) {{ "
        f"{_edges(dataset)} }} }}"
    )


def deltas_query(dataset: ApiDataset) -> str:
    """Deltas after a cursor. ``newest`` rides along for free: paging must reach it."""
    assert dataset.deltas_field
    return (
        f"query XledgerDeltas($first: Int!, $after: String) {{ "
        f"page: {dataset.deltas_field}(first: $first, after: $after) {{ "
        f"edges {{ cursor node {{ dbId mutationType }} }} pageInfo {{ hasNextPage }} }} "
        f"newest: {dataset.deltas_field}(last: 1) {{ edges {{ cursor }} }} }}"
    )


def newest_delta_query(datasets: Sequence[ApiDataset]) -> str:
    """The newest delta cursor of each dataset, all in one request (one metered call)."""
    parts = [_newest(d) for d in datasets if d.deltas_field]
    return "query XledgerNewestDeltas { " + " ".join(parts) + " }"


def _newest(d: ApiDataset) -> str:
    """The newest delta of a dataset, under the dataset's name."""
    return (
        f"{d.name}: {d.deltas_field}(last: 1) {{ edges {{ cursor node {{ dbId mutationType }} }} }}"
    )


AFTER = "__after"  # alias suffix: a dataset's deltas after its stored cursor, in the sensor query


def sensor_query(
    datasets: Sequence[ApiDataset], cursors: Mapping[str, str | None], limit: int
) -> tuple[str, dict[str, str | None]]:
    """One request: each dataset's newest delta, and the deltas after its stored cursor (up to
    ``limit``) for the datasets in ``cursors`` (None: from the oldest delta). Returns the query
    and its variables."""
    params: list[str] = []
    parts: list[str] = []
    variables: dict[str, str | None] = {}
    for d in datasets:
        if not d.deltas_field:
            continue
        parts.append(_newest(d))
        if d.name in cursors:
            var = f"after_{d.name}"
            params.append(f"${var}: String")
            variables[var] = cursors[d.name]
            parts.append(
                f"{d.name}{AFTER}: {d.deltas_field}(first: {int(limit)}, after: ${var}) {{ "
                "edges { cursor node { dbId mutationType } } pageInfo { hasNextPage } }"
            )
    signature = f"({', '.join(params)})" if params else ""
    return f"query XledgerDeltaSensor{signature} {{ " + " ".join(parts) + " }", variables


def refetch_many_query(
    wanted: Sequence[tuple[ApiDataset, int, str | None]], *, owner_set: str | None
) -> str:
    """Records by dbId of several datasets in one request: one aliased root field per dataset
    (``<name>: <items field>(first: <n>, filter: {dbId_in: $ids_<name>, ...})``).

    ``wanted`` holds (dataset, how many ids, its fixed filter); the ids go in ``$ids_<name>``.
    """
    owner = f", ownerSet: {owner_set}" if owner_set else ""
    params = [f"$ids_{d.name}: [{d.id_list_type}]" for d, _, _ in wanted]
    parts = [
        f"{d.name}: {d.items_field}(first: {int(n)}{owner}"
        f"{_filter_args([f'dbId_in: $ids_{d.name}', fixed or ''])}) {{ {_edges(d)} }}"
        for d, n, fixed in wanted
    ]
    return f"query XledgerRefetchMany({', '.join(params)}) {{ " + " ".join(parts) + " }"
