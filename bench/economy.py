"""API economy: one month at hourly freshness, counted on the sandbox's request meter.

    .venv/bin/python bench/economy.py [--days 30] [--out FILE]

A :class:`xledger_assets.sandbox.server.SandboxServer` (over HTTP on 127.0.0.1, with a
simulated clock) gets changes following a business-hours pattern across the 8 datasets (see
``PATTERN``). Every simulated hour (720 ticks in 30 days):

1. **ours**: the real delta sensor (``xledger_assets.sensors.build_delta_sensor``, evaluated with
   ``dagster.build_sensor_context`` and the real resources) asks for every dataset's newest delta
   in one request; for each run it requests, the real :class:`SyncEngine` runs in ``auto`` mode
   (changes, or full when the delta window may have expired), plus the weekly full resyncs of the
   catalog's schedules.
2. **predecessor**: its algorithm replayed on the same change log: every entity polled every
   hour: its deltas, then the ADDED and the UPDATED records re-fetched in two separate requests.
3. **batched (what-if, bench only)**: what GraphQL allows beyond the product as it is: one request
   reading every dataset's deltas after its cursor (8 aliased root fields), then one request
   re-fetching the changed records of all datasets together (one root field per dataset).

Each side's requests and bytes are the sandbox meter's counts during that side's calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg

from xledger_assets.catalog import DEFAULT_CATALOG, ApiDataset
from xledger_assets.errors import XledgerApiError
from xledger_assets.lake import open_lake
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sandbox.core import Clock, Sandbox
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.sensors import build_delta_sensor
from xledger_assets.state import open_state_store
from xledger_assets.sync.batch import ChangesBatch, handoffs_from_run_config
from xledger_assets.sync.engine import SyncEngine
from xledger_assets.xledger import queries
from xledger_assets.xledger.client import XledgerClient

TOKEN = "economy-token"
START = datetime(2025, 6, 2)  # a Monday, 00:00 Xledger time (CEST = UTC+2 in June)
UTC_OFFSET = timedelta(hours=2)
SIZES = {
    "timesheets": 4000,
    "projects": 400,
    "employees": 150,
    "customers": 500,
    "suppliers": 400,
    "transactions": 5000,
    "ar_transactions": 2000,
    "ap_transactions": 2000,
}
# changes per hour: (weekday business hours, weekday evening 17-22, weekend), mix add/update/del
PATTERN: dict[str, tuple[float, float, float, tuple[float, float, float]]] = {
    "timesheets": (25.0, 1.0, 0.3, (0.70, 0.27, 0.03)),
    "transactions": (12.0, 0.0, 0.0, (0.90, 0.08, 0.02)),
    "ar_transactions": (2.0, 0.0, 0.0, (0.60, 0.40, 0.00)),
    "ap_transactions": (2.0, 0.0, 0.0, (0.60, 0.40, 0.00)),
    "projects": (0.3, 0.0, 0.0, (0.30, 0.70, 0.00)),
    "customers": (0.2, 0.0, 0.0, (0.40, 0.60, 0.00)),
    "suppliers": (0.1, 0.0, 0.0, (0.40, 0.60, 0.00)),
    "employees": (0.08, 0.0, 0.0, (0.30, 0.70, 0.00)),
}
NIGHTLY = {"transactions": (2, 40.0)}  # an integration's batch at 02:00 every weekday
# weekday business-hour weights, 08:00-17:00
HOUR_WEIGHT = {8: 0.6, 9: 1.2, 10: 1.3, 11: 1.0, 12: 0.5, 13: 1.1, 14: 1.2, 15: 1.1, 16: 1.0}


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def changes_for(rng: random.Random, name: str, local: datetime) -> tuple[int, int, int]:
    """(add, update, delete) happening in the hour that starts at ``local``."""
    business, evening, weekend, (pa_, pu, _) = PATTERN[name]
    h, weekday = local.hour, local.weekday() < 5
    if not weekday:
        lam = weekend
    elif h in HOUR_WEIGHT:
        lam = business * HOUR_WEIGHT[h]
    elif 17 <= h < 22:
        lam = evening
    else:
        lam = 0.0
    nightly = NIGHTLY.get(name)
    if nightly and weekday and h == nightly[0]:
        lam += nightly[1]
    n = poisson(rng, lam)
    adds = sum(rng.random() < pa_ for _ in range(n))
    updates = sum(rng.random() < pu / (1 - pa_) for _ in range(n - adds)) if pa_ < 1 else 0
    return adds, updates, n - adds - updates


class Metered:
    """Sandbox meter deltas per side."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.totals: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> Metered:
        m = self.sandbox.meter()
        self._before = (m["requests"], m["bytes"])
        self._clock = time.perf_counter()
        return self

    def add(self, side: str) -> tuple[int, int]:
        m = self.sandbox.meter()
        req, nbytes = m["requests"] - self._before[0], m["bytes"] - self._before[1]
        self.totals[f"{side}.requests"] += req
        self.totals[f"{side}.bytes"] += nbytes
        self._before = (m["requests"], m["bytes"])
        now = time.perf_counter()
        self.seconds[side] = self.seconds.get(side, 0.0) + now - self._clock
        self._clock = now
        return req, nbytes

    def __exit__(self, *exc: object) -> None:
        pass


class Predecessor:
    """Every entity, every hour: deltas, then ADDED and UPDATED re-fetched separately."""

    def __init__(self, client: XledgerClient) -> None:
        self.client = client
        self.cursors: dict[str, str | None] = {d.name: None for d in DEFAULT_CATALOG.api}
        self.expired = 0

    def poll(self) -> None:
        for d in DEFAULT_CATALOG.api:
            added, updated = [], []
            after = self.cursors[d.name]
            while True:
                q = (
                    f"query P($after: String) {{ page: {d.deltas_field}(first: 10000, "
                    "after: $after) { edges { cursor node { dbId mutationType } } "
                    "pageInfo { hasNextPage } } }"
                )
                try:
                    data = self.client.execute(q, {"after": after}, operation="pred deltas")
                except XledgerApiError as exc:
                    # A quiet entity's cursor ages out with its delta (3 days); an hourly
                    # poller has seen everything before it, so it reads on from the start.
                    if after is None or "expired" not in str(exc):
                        raise
                    self.expired += 1
                    after = None
                    continue
                page = data["page"]
                edges = page.get("edges") or []
                for e in edges:
                    kind = e["node"]["mutationType"]
                    (added if kind == "ADDED" else updated if kind == "UPDATED" else []).append(
                        e["node"]["dbId"]
                    )
                if edges:
                    after = edges[-1]["cursor"]
                if not page["pageInfo"]["hasNextPage"]:
                    break
            self.cursors[d.name] = after
            query = queries.refetch_query(d, owner_set=None, fixed_filter=None)
            for ids in (added, updated):
                if ids:
                    self.client.execute(
                        query, {"first": 10000, "after": None, "ids": ids}, operation="pred get"
                    )


class Batched:
    """What-if: all datasets' deltas in one request, all re-fetches in one request."""

    def __init__(self, client: XledgerClient, now: Any) -> None:
        self.client = client
        self.now = now
        self.cursors: dict[str, str | None] = {d.name: None for d in DEFAULT_CATALOG.api}
        self.moved: dict[str, datetime] = {d.name: now() for d in DEFAULT_CATALOG.api}
        self.datasets = list(DEFAULT_CATALOG.api)
        self.expired = 0
        self.retried = False

    def poll(self) -> None:
        now = self.now()
        for name, moved in self.moved.items():
            # A cursor whose delta may have aged out (kept 3 days) would fail the whole
            # combined request: read such a dataset from the start of its retained deltas.
            if now - moved > timedelta(hours=48):
                self.cursors[name] = None
                self.moved[name] = now
        pending = list(self.datasets)
        latest: dict[str, dict[Any, str]] = {d.name: {} for d in self.datasets}
        while pending:
            params = ", ".join(f"$a{i}: String" for i in range(len(pending)))
            parts = [
                f"d{i}: {d.deltas_field}(first: 10000, after: $a{i}) {{ edges {{ cursor node "
                "{ dbId mutationType } } pageInfo { hasNextPage } }"
                for i, d in enumerate(pending)
            ]
            try:
                data = self.client.execute(
                    f"query B({params}) {{ {' '.join(parts)} }}",
                    {f"a{i}": self.cursors[d.name] for i, d in enumerate(pending)},
                    operation="batched deltas",
                )
            except XledgerApiError as exc:
                if "expired" not in str(exc) or self.retried:
                    raise
                # which cursor aged out is not said: the quiet ones read from the start
                self.retried = True
                self.expired += 1
                for d in pending:
                    if now - self.moved[d.name] > timedelta(hours=2):
                        self.cursors[d.name] = None
                continue
            self.retried = False
            more = []
            for i, d in enumerate(pending):
                page = data[f"d{i}"]
                for e in page.get("edges") or []:
                    latest[d.name].pop(e["node"]["dbId"], None)
                    latest[d.name][e["node"]["dbId"]] = e["node"]["mutationType"]
                    self.cursors[d.name] = e["cursor"]
                    self.moved[d.name] = now
                if page["pageInfo"]["hasNextPage"]:
                    more.append(d)
            pending = more
        wanted = {
            d.name: [i for i, k in latest[d.name].items() if k != "DELETED"] for d in self.datasets
        }
        changed = [d for d in self.datasets if wanted[d.name]]
        if not changed:
            return
        params = ", ".join(f"$i{n}: [{d.id_list_type}]" for n, d in enumerate(changed))
        parts = [
            f"r{n}: {d.items_field}(first: 10000, filter: {{ dbId_in: $i{n} }}) {{ edges {{ "
            f"node {{ {queries.selection(d.fields)} }} }} }}"
            for n, d in enumerate(changed)
        ]
        self.client.execute(
            f"query R({params}) {{ {' '.join(parts)} }}",
            {f"i{n}": wanted[d.name] for n, d in enumerate(changed)},
            operation="batched refetch",
        )


def due_full(d: ApiDataset, utc: datetime) -> bool:
    """The weekly full resync's cron (``M H * * DOW``, UTC) fires in the hour ending at ``utc``."""
    if not d.full_schedule:
        return False
    _minute, hour, _dom, _month, dow = d.full_schedule.split()
    fired = utc - timedelta(hours=1)
    return int(hour) == fired.hour and int(dow) % 7 == (fired.weekday() + 1) % 7


def _reuse_tls_context() -> None:
    """The sensor builds a new HTTP client every tick, and httpx loads the CA bundle for each
    (~60 ms): harmless hourly, but 720 times it is most of this simulation's time. Requests and
    bytes do not change."""
    import functools

    import httpx._transports.default as transport

    transport.create_ssl_context = functools.lru_cache(maxsize=8)(transport.create_ssl_context)


def simulate(days: int, seed: int) -> dict[str, Any]:
    _reuse_tls_context()
    tmp = Path(tempfile.mkdtemp(prefix="xledger-economy-"))
    try:
        return _simulate(tmp, days, seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _simulate(tmp: Path, days: int, seed: int) -> dict[str, Any]:
    lake_url, state_url = str(tmp / "lake"), str(tmp / "state.json")
    os.environ.update(
        {
            "XLEDGER_API_TOKEN": TOKEN,
            "XLEDGER_ENV": "local",
            "XLEDGER_LAKE_URL": lake_url,
            "XLEDGER_STATE_URL": state_url,
        }
    )
    clock = Clock(start=START, running=False)
    sandbox = Sandbox(seed=seed, sizes=SIZES, token=TOKEN, clock=clock)
    rng = random.Random(seed)
    log_counts: Counter[str] = Counter()
    ours_modes: Counter[str] = Counter()
    ticks_with_change = 0
    with SandboxServer(sandbox=sandbox) as srv:
        sim_utc = lambda: (START + timedelta(seconds=clock._offset) - UTC_OFFSET).replace(  # noqa: E731
            tzinfo=UTC
        )
        client = XledgerClient(srv.url, TOKEN)
        lake, state = open_lake(lake_url), open_state_store(state_url, env_label="local")
        engine = SyncEngine(client, lake, state, utcnow=sim_utc, sleep=lambda s: None)
        for d in DEFAULT_CATALOG.api:  # the first load, before the month starts (not counted)
            engine.run(d, "full")
        sensor = build_delta_sensor(
            DEFAULT_CATALOG.api,
            interval_seconds=3600,
            default_status=dg.DefaultSensorStatus.STOPPED,
            env="local",
            utcnow=sim_utc,
        )
        resources = {
            "xledger": XledgerApiResource(api_url=srv.url),
            "lake_store": LakeStoreResource(lake_url=lake_url, state_url=state_url),
        }
        predecessor = Predecessor(XledgerClient(srv.url, TOKEN))
        batched = Batched(XledgerClient(srv.url, TOKEN), sandbox.now)
        sensor_cursor: str | None = None
        instance = dg.DagsterInstance.ephemeral()
        meter = Metered(sandbox)
        per_day: list[dict[str, int]] = []
        started = time.perf_counter()
        with meter:
            for tick in range(days * 24):
                local = START + timedelta(hours=tick)
                any_change = False
                for name in PATTERN:  # what happens during this hour
                    add, update, delete = changes_for(rng, name, local)
                    live = len(sandbox.ids(name))
                    delete = min(delete, max(0, live - 10))
                    update = min(update, live - delete)
                    if add or update or delete:
                        any_change = True
                        sandbox.mutate(name, add=add, update=update, delete=delete)
                        log_counts[f"{name}.ADDED"] += add
                        log_counts[f"{name}.UPDATED"] += update
                        log_counts[f"{name}.DELETED"] += delete
                ticks_with_change += any_change
                sandbox.advance_clock(3600)
                meter.add("setup")
                utc = sim_utc()
                for d in DEFAULT_CATALOG.api:  # the weekly full resync schedules
                    if due_full(d, utc):
                        engine.run(d, "full")
                        ours_modes["weekly full"] += 1
                meter.add("ours_weekly")
                with dg.build_sensor_context(
                    cursor=sensor_cursor, resources=resources, instance=instance
                ) as ctx:
                    result = sensor(ctx)
                    sensor_cursor = ctx.cursor
                meter.add("ours_sensor")
                if isinstance(result, dg.SensorResult):
                    sensor_cursor = result.cursor or sensor_cursor
                    for request in result.run_requests or []:
                        # what the sensor's run does, step after step, in one process
                        handoffs = handoffs_from_run_config(request.run_config, DEFAULT_CATALOG.api)
                        batch = ChangesBatch(DEFAULT_CATALOG.api, handoffs)
                        ours_modes["sensor runs"] += 1
                        for key in request.asset_selection:
                            name = key.path[0]
                            synced = engine.run(DEFAULT_CATALOG.api_dataset(name), "auto", batch)
                            kind = synced.mode
                            handoff = handoffs.get(name)
                            if handoff is not None and not handoff.complete:
                                kind += " (newest cursor handed over)"
                            elif handoff is not None and handoff.keep_alive:
                                kind += " (keep-alive)"
                            elif handoff is not None:
                                kind += " (deltas handed over)"
                            ours_modes[f"sensor run: {kind}"] += 1
                meter.add("ours_runs")
                predecessor.poll()
                meter.add("predecessor")
                batched.poll()
                meter.add("batched")
                if tick % 24 == 23:
                    per_day.append(dict(meter.totals))
        seconds = time.perf_counter() - started
        # sanity: the lake's current state equals the sandbox's truth
        from xledger_assets.lake.current import current_state

        mismatched = []
        for d in DEFAULT_CATALOG.api:
            table = current_state(lake, d.name)
            ids = sorted(table.column("dbId").to_pylist()) if table is not None else []
            if ids != sorted(sandbox.ids(d.name)):
                mismatched.append(d.name)
        client.close()
    t = meter.totals
    ours_req = t["ours_sensor.requests"] + t["ours_runs.requests"] + t["ours_weekly.requests"]
    ours_bytes = t["ours_sensor.bytes"] + t["ours_runs.bytes"] + t["ours_weekly.bytes"]
    out = {
        "days": days,
        "ticks": days * 24,
        "ticks_with_change": ticks_with_change,
        "sizes": SIZES,
        "changes": dict(log_counts),
        "ours": {
            "sensor_requests": t["ours_sensor.requests"],
            "sensor_bytes": t["ours_sensor.bytes"],
            "run_requests": t["ours_runs.requests"],
            "run_bytes": t["ours_runs.bytes"],
            "weekly_requests": t["ours_weekly.requests"],
            "weekly_bytes": t["ours_weekly.bytes"],
            "requests": ours_req,
            "bytes": ours_bytes,
            "requests_without_weekly": ours_req - t["ours_weekly.requests"],
            "bytes_without_weekly": ours_bytes - t["ours_weekly.bytes"],
            "modes": dict(ours_modes),
        },
        "predecessor": {
            "requests": t["predecessor.requests"],
            "bytes": t["predecessor.bytes"],
            "expired_cursors": predecessor.expired,
        },
        "batched": {
            "requests": t["batched.requests"],
            "bytes": t["batched.bytes"],
            "expired_cursors": batched.expired,
        },
        "lake_matches_sandbox": not mismatched,
        "mismatched": mismatched,
        "seconds": round(seconds, 1),
        "seconds_per_side": {k: round(v, 1) for k, v in meter.seconds.items()},
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    result = simulate(args.days, args.seed)
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
