"""A replay server for the benchmarks: pre-rendered Xledger pages of N timesheets over HTTP.

Every page body (``{"data": {"timesheets": {"edges": [...], "pageInfo": ...}}}``, 10,000 edges)
is rendered once at start-up, so answering a request is a dictionary look-up and a socket
write: the server costs almost nothing next to its client (the benchmark reports its CPU share).
The records are the sandbox's own timesheets (``xledger_assets.sandbox.data``: Nordic texts,
string dbIds, decimals as strings, naive date-times), cycled from a pool of 10,000 with unique
dbIds and cursors, projected on the contract's 21 fields.

One server holds several datasets, one per size: ``http://127.0.0.1:<port>/rows/<N>/graphql``.
The GraphQL text is not executed; the request is recognised by its shape:

- ``<x>_deltas(last: 1)`` only (the newest delta cursor): the last delta, if any;
- ``page: ..._deltas(first, after)`` plus ``newest: ...(last: 1)``: deltas after a cursor;
- ``dbId_in``: the records with those dbIds (re-fetch of a changes sync);
- anything else: the items page after ``variables.after``.

``POST /rows/<N>/_control/mutate {"update": 10, "add": 0, "delete": 0}`` records changes (they
show in the deltas and the re-fetch; the pre-rendered full pages stay as they were), and
``GET /_control/meter`` returns requests and bytes per size. Loopback only; it stops on SIGTERM.

Run: ``python bench/replay.py --rows 100000,1000000 --port-file PATH``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.sandbox.data import ENTITIES, Generator, Pools

PAGE = 10_000
POOL = 10_000
ID_BASE = 112706067815138
ID_STEP = 7
TOKEN = "bench-token"
DATASET = DEFAULT_CATALOG.api_dataset("timesheets")
_PATH = re.compile(r"^/rows/(\d+)/(graphql|_control/mutate)$")


def _project(record: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in tree.items():
        value = record.get(name)
        if sub and isinstance(value, dict):
            out[name] = _project(value, sub)
        else:
            out[name] = value
    return out


def _selection_tree() -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for f in DATASET.fields:
        node = tree
        for part in f.parts:
            node = node.setdefault(part, {})
    return tree


def record_pool(seed: int = 1) -> list[dict[str, Any]]:
    """POOL timesheet nodes as the sandbox makes them, reduced to the selected fields."""
    today = datetime(2025, 6, 2).date()
    gen = Generator(ENTITIES["timesheets"], Pools(seed, today), seed)
    anchor = datetime(2025, 6, 2)
    tree = _selection_tree()
    out = []
    for i in range(POOL):
        created = anchor - timedelta(seconds=(POOL - i) * 397)
        out.append(_project(gen.make(gen.new_id(), created), tree))
    return out


def db_id(index: int) -> int:
    return ID_BASE + index * ID_STEP


class Dataset:
    """N timesheets as pre-rendered pages, plus a small change log for changes syncs."""

    def __init__(self, rows: int, pool: list[dict[str, Any]], shared: list[bytes]) -> None:
        self.rows = rows
        self.pool = pool
        self.pages: list[bytes] = []
        self.next_page: dict[str | None, int] = {None: 0}
        n_pages = max(1, -(-rows // PAGE))
        for p in range(n_pages):
            last = p == n_pages - 1
            # a smaller dataset shares the bigger one's pages, all but its last
            body = shared[p] if shared and not last else self._render(p, has_next=not last)
            self.pages.append(body)
            self.next_page[str(db_id(min(rows, (p + 1) * PAGE) - 1))] = p + 1
        self.overrides: dict[int, dict[str, Any] | None] = {}  # dbId -> node (None: deleted)
        self.deltas: list[tuple[int, int, str]] = []  # (seq, dbId, mutationType)
        self.added = 0
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()

    def node(self, index: int) -> dict[str, Any]:
        return {**self.pool[index % POOL], "dbId": str(db_id(index))}

    def _render(self, p: int, *, has_next: bool) -> bytes:
        lo, hi = p * PAGE, min(self.rows, (p + 1) * PAGE)
        edges = [{"cursor": str(db_id(i)), "node": self.node(i)} for i in range(lo, hi)]
        return orjson.dumps(
            {"data": {"timesheets": {"edges": edges, "pageInfo": {"hasNextPage": has_next}}}}
        )

    # -- changes

    def mutate(self, add: int, update: int, delete: int) -> dict[str, list[int]]:
        with self.lock:
            out: dict[str, list[int]] = {"added": [], "updated": [], "deleted": []}
            stamp = datetime(2025, 6, 2, 12).isoformat()
            live = [i for i in range(0, self.rows, max(1, self.rows // 997))]
            for k in range(update):
                i = live[(k * 31) % len(live)]
                node = {**self.node(i), "modifiedAt": stamp, "workingHours": "7.50"}
                self.overrides[db_id(i)] = node
                out["updated"].append(db_id(i))
            for k in range(delete):
                i = live[(k * 17 + 5) % len(live)]
                self.overrides[db_id(i)] = None
                out["deleted"].append(db_id(i))
            for _ in range(add):
                i = self.rows + self.added
                self.added += 1
                self.overrides[db_id(i)] = self.node(i)
                out["added"].append(db_id(i))
            for kind, ids in (("ADDED", out["added"]), ("UPDATED", out["updated"])):
                for i in ids:
                    self.deltas.append((len(self.deltas) + 1, i, kind))
            for i in out["deleted"]:
                self.deltas.append((len(self.deltas) + 1, i, "DELETED"))
            return out

    def _delta_edges(self, entries: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
        return [
            {"cursor": f"d{seq}", "node": {"dbId": str(i), "mutationType": kind}}
            for seq, i, kind in entries
        ]

    def answer(self, payload: dict[str, Any]) -> bytes:
        query: str = payload.get("query") or ""
        variables: dict[str, Any] = payload.get("variables") or {}
        if "_deltas" in query and "page:" not in query:  # newest delta cursor(s)
            alias = query.split("{", 1)[1].split(":", 1)[0].strip()
            edges = self._delta_edges(self.deltas[-1:])
            return orjson.dumps({"data": {alias: {"edges": edges}}})
        if "page:" in query:  # deltas after a cursor, and the newest one
            after = variables.get("after")
            first = int(variables.get("first") or PAGE)
            start = 0 if after is None else int(str(after)[1:])
            chunk = self.deltas[start : start + first]
            return orjson.dumps(
                {
                    "data": {
                        "page": {
                            "edges": self._delta_edges(chunk),
                            "pageInfo": {"hasNextPage": start + first < len(self.deltas)},
                        },
                        "newest": {"edges": self._delta_edges(self.deltas[-1:])},
                    }
                }
            )
        if "dbId_in" in query:
            edges = []
            for raw in variables.get("ids") or []:
                i = int(raw)
                if i in self.overrides:
                    node = self.overrides[i]
                else:
                    index, rest = divmod(i - ID_BASE, ID_STEP)
                    node = self.node(index) if not rest and 0 <= index < self.rows else None
                if node is not None:
                    edges.append({"cursor": str(i), "node": node})
            return orjson.dumps(
                {"data": {"timesheets": {"edges": edges, "pageInfo": {"hasNextPage": False}}}}
            )
        after = variables.get("after")
        page = self.next_page.get(None if after is None else str(after))
        if page is None or page >= len(self.pages):
            return orjson.dumps({"errors": [{"message": f'Invalid cursor "{after}"'}]})
        return self.pages[page]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/_control/meter":
            meter = {
                str(n): {"requests": d.requests, "bytes": d.bytes}
                for n, d in self.server.datasets.items()
            }
            self._send(200, orjson.dumps(meter))
        else:
            self._send(404, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = orjson.loads(self.rfile.read(length) or b"{}")
        match = _PATH.match(self.path)
        dataset = self.server.datasets.get(int(match.group(1))) if match else None
        if dataset is None or match is None:
            self._send(404, b'{"errors": [{"message": "no such dataset"}]}')
            return
        if match.group(2) != "graphql":
            changed = dataset.mutate(
                int(payload.get("add", 0)),
                int(payload.get("update", 0)),
                int(payload.get("delete", 0)),
            )
            self._send(200, orjson.dumps(changed))
            return
        if self.headers.get("Authorization") != f"token {TOKEN}":
            self._send(200, b'{"errors": [{"message": "Bad format for API Token"}]}')
            return
        body = dataset.answer(payload)
        with dataset.lock:
            dataset.requests += 1
            dataset.bytes += len(body)
        self._send(200, body)


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, datasets: dict[int, Dataset]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.datasets = datasets


def build(rows: list[int]) -> dict[int, Dataset]:
    pool = record_pool()
    out: dict[int, Dataset] = {}
    shared: list[bytes] = []
    for n in sorted(rows, reverse=True):  # the biggest first: smaller ones reuse its pages
        out[n] = Dataset(n, pool, shared)
        if not shared:
            shared = out[n].pages
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args(argv)
    datasets = build([int(x) for x in args.rows.split(",")])
    server = ReplayServer(datasets)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    tmp = args.port_file + ".tmp"
    Path(tmp).write_text(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
