"""One benchmark candidate, run in its own process: ``python bench/candidates.py KIND --url URL
--rows N --workdir DIR --out FILE``. Writes one JSON object (rows, seconds of work, requests,
bytes, ...) to ``--out``; the parent measures the process (wall time, peak RSS).

Kinds:

- ``fetch``: the fetch bound. Download each page and ``orjson.loads`` it, nothing else.
- ``engine``: our full sync through :class:`xledger_assets.sync.engine.SyncEngine` into a
  local lake (staged parquet, published, cursor stored).
- ``dagster``: the same sync materialized through Dagster (``dagster.materialize`` of the
  timesheets asset with the code location's resources and IO manager).
- ``dlt``: dlt's REST client (``RESTClient.paginate`` with ``JSONResponseCursorPaginator``: the
  cursor goes into the GraphQL variables) in a ``dlt.resource``, loaded by a pipeline into the
  filesystem destination as parquet, with decimal/date/timestamp column hints.
- ``predecessor``: the predecessor's path: every page's nodes appended to one list of dicts,
  ``pandas.json_normalize`` (dotted column names), then ``DataFrame.to_parquet``, all in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "bench-token"
PAGE = 10_000


def items_query() -> str:
    from xledger_assets.catalog import DEFAULT_CATALOG
    from xledger_assets.xledger import queries

    dataset = DEFAULT_CATALOG.api_dataset("timesheets")
    return queries.items_query(dataset, owner_set=None, fixed_filter=None)


def run_fetch(url: str, workdir: Path) -> dict[str, Any]:
    import httpx
    import orjson

    query = items_query()
    headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    rows = requests = nbytes = 0
    started = time.perf_counter()
    with httpx.Client(timeout=120) as http:
        after = None
        while True:
            body = orjson.dumps({"query": query, "variables": {"first": PAGE, "after": after}})
            content = http.post(url, content=body, headers=headers).content
            requests += 1
            nbytes += len(content)
            connection = orjson.loads(content)["data"]["timesheets"]
            edges = connection["edges"] or []
            rows += len(edges)
            if not connection["pageInfo"]["hasNextPage"] or not edges:
                break
            after = edges[-1]["cursor"]
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "requests": requests,
        "bytes": nbytes,
    }


def _engine(url: str, workdir: Path):
    from xledger_assets.lake import open_lake
    from xledger_assets.state import open_state_store
    from xledger_assets.sync.engine import SyncEngine
    from xledger_assets.xledger.client import XledgerClient

    client = XledgerClient(url, TOKEN)
    lake = open_lake(str(workdir / "lake"))
    state = open_state_store(str(workdir / "state.json"), env_label="local")
    return client, SyncEngine(client, lake, state)


def run_engine(url: str, workdir: Path) -> dict[str, Any]:
    from xledger_assets.catalog import DEFAULT_CATALOG

    dataset = DEFAULT_CATALOG.api_dataset("timesheets")
    client, engine = _engine(url, workdir)
    started = time.perf_counter()
    result = engine.run(dataset, "full")
    seconds = time.perf_counter() - started
    client.close()
    return {
        "rows": result.rows,
        "seconds": seconds,
        "requests": result.requests,
        "bytes": int(result.megabytes * 1_000_000),
        "file_bytes": result.file_bytes,
        "row_groups": _row_groups(result.file_uri),
    }


def _row_groups(uri: str | None) -> int | None:
    if not uri:
        return None
    import pyarrow.parquet as pq

    path = uri.removeprefix("file://")
    return pq.ParquetFile(path).metadata.num_row_groups if os.path.exists(path) else None


def run_dagster(url: str, workdir: Path) -> dict[str, Any]:
    os.environ.update(
        {
            "XLEDGER_API_URL": url,
            "XLEDGER_API_TOKEN": TOKEN,
            "XLEDGER_LAKE_URL": str(workdir / "lake"),
            "XLEDGER_STATE_URL": str(workdir / "state.json"),
            "XLEDGER_ENV": "local",
            "DAGSTER_HOME": str(workdir / "dagster_home"),
        }
    )
    (workdir / "dagster_home").mkdir(exist_ok=True)
    import dagster as dg

    from xledger_assets.assets.api import IO_MANAGER_KEY, build_api_asset
    from xledger_assets.catalog import DEFAULT_CATALOG
    from xledger_assets.io_manager import LakeIOManager
    from xledger_assets.resources import LakeStoreResource, XledgerApiResource

    dataset = DEFAULT_CATALOG.api_dataset("timesheets")
    store = LakeStoreResource()
    resources = {
        "xledger": XledgerApiResource(),
        "lake_store": store,
        IO_MANAGER_KEY: LakeIOManager(store=store),
    }
    started = time.perf_counter()
    result = dg.materialize(
        [build_api_asset(dataset)],
        resources=resources,
        run_config={"ops": {dataset.name: {"config": {"mode": "full"}}}},
    )
    seconds = time.perf_counter() - started
    [mat] = result.asset_materializations_for_node(dataset.name)
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return {
        "rows": int(meta.get("rows", 0)),
        "seconds": seconds,
        "requests": meta.get("xledger_requests") or meta.get("requests"),
        "bytes": None,
    }


DLT_HINTS = {
    "created_at": {"data_type": "timestamp"},
    "modified_at": {"data_type": "timestamp"},
    "header_approved_at": {"data_type": "timestamp"},
    "assignment_date": {"data_type": "date"},
    "working_hours": {"data_type": "decimal", "precision": 38, "scale": 18},
    "hourly_revenue_currency": {"data_type": "decimal", "precision": 38, "scale": 18},
    "db_id": {"data_type": "bigint", "nullable": False},
    "owner__db_id": {"data_type": "bigint"},
}


def run_dlt(url: str, workdir: Path) -> dict[str, Any]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no network
    os.environ["RUNTIME__LOG_LEVEL"] = "ERROR"
    os.environ["DLT_DATA_DIR"] = str(workdir / "dlt_data")
    import dlt
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import APIKeyAuth
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

    query = items_query()
    client = RESTClient(
        base_url=url,
        auth=APIKeyAuth(name="Authorization", api_key=f"token {TOKEN}", location="header"),
        paginator=JSONResponseCursorPaginator(
            cursor_path="data.timesheets.edges[-1].cursor",
            cursor_body_path="variables.after",
            has_more_path="data.timesheets.pageInfo.hasNextPage",
        ),
        data_selector="data.timesheets.edges",
    )

    @dlt.resource(name="timesheets", write_disposition="replace", columns=DLT_HINTS)
    def timesheets():  # type: ignore[no-untyped-def]
        for page in client.paginate(
            "", method="POST", json={"query": query, "variables": {"first": PAGE, "after": None}}
        ):
            yield [edge["node"] for edge in page]

    pipeline = dlt.pipeline(
        pipeline_name="xledger_bench",
        pipelines_dir=str(workdir / "dlt_pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(workdir / "dlt_lake").as_uri()),
        dataset_name="xledger",
    )
    started = time.perf_counter()
    pipeline.run(timesheets(), loader_file_format="parquet")
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("timesheets", 0)
    files = list((workdir / "dlt_lake").rglob("*.parquet"))
    return {
        "rows": rows,
        "seconds": seconds,
        "requests": None,
        "bytes": None,
        "file_bytes": sum(f.stat().st_size for f in files),
    }


def run_predecessor(url: str, workdir: Path) -> dict[str, Any]:
    import pandas as pd
    import requests

    query = items_query()
    headers = {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    with requests.Session() as http:
        after = None
        while True:
            payload = {"query": query, "variables": {"first": PAGE, "after": after}}
            connection = http.post(url, json=payload, headers=headers).json()["data"]["timesheets"]
            edges = connection["edges"] or []
            records.extend(edge["node"] for edge in edges)
            if not connection["pageInfo"]["hasNextPage"] or not edges:
                break
            after = edges[-1]["cursor"]
    frame = pd.json_normalize(records)
    frame["mutationType"] = "ADDED"
    out = workdir / "predecessor.parquet"
    frame.to_parquet(out, index=False)
    seconds = time.perf_counter() - started
    return {
        "rows": len(frame),
        "seconds": seconds,
        "requests": None,
        "bytes": None,
        "file_bytes": out.stat().st_size,
    }


def run_changes(url: str, workdir: Path, changes: int = 10) -> dict[str, Any]:
    """A changes sync of ``changes`` changes on the replay server's dataset of N rows."""
    from datetime import UTC, datetime

    import httpx

    from xledger_assets.catalog import DEFAULT_CATALOG
    from xledger_assets.state.base import SyncState

    dataset = DEFAULT_CATALOG.api_dataset("timesheets")
    control = url.removesuffix("/graphql") + "/_control/mutate"
    httpx.post(control, json={"update": 1}).raise_for_status()  # a delta to hold a cursor at
    client, engine = _engine(url, workdir)
    cursor = engine._newest_delta_cursor(dataset)
    engine.state.commit(
        SyncState(
            dataset=dataset.name,
            cursor=cursor,
            mode="full",
            last_success=datetime.now(UTC).isoformat(),
            last_file=None,
        ),
        None,
    )
    adds, deletes = changes * 3 // 10, changes // 10
    updates = changes - adds - deletes
    httpx.post(control, json={"add": adds, "update": updates, "delete": deletes})
    started = time.perf_counter()
    result = engine.run(dataset, "changes")
    seconds = time.perf_counter() - started
    client.close()
    return {
        "rows": result.rows,
        "seconds": seconds,
        "requests": result.requests,
        "bytes": int(result.megabytes * 1_000_000),
        "counts": result.counts,
        "mode": result.mode,
    }


KINDS = {
    "changes": run_changes,
    "fetch": run_fetch,
    "engine": run_engine,
    "dagster": run_dagster,
    "dlt": run_dlt,
    "predecessor": run_predecessor,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = KINDS[args.kind](args.url, workdir)
    result["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
