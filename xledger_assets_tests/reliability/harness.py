"""The reliability suites' harness: the sync engine against a real sandbox server on 127.0.0.1,
a lake and a state store, with one clock shared by the engine, the client and the sandbox.

Waits are recorded, never slept: :meth:`SharedClock.sleep` moves the shared clock forward
instead, so retry budgets (``max_elapsed``) and the delta-retention margin behave as they would
in real time, in no time.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa

from xledger_assets.catalog import DEFAULT_CATALOG, ApiDataset
from xledger_assets.lake import Lake, open_lake
from xledger_assets.lake.current import current_state
from xledger_assets.lake.local import LocalLake
from xledger_assets.sandbox.server import SandboxServer
from xledger_assets.state import StateStore, open_state_store
from xledger_assets.sync.convert import RecordConverter
from xledger_assets.sync.engine import SyncEngine, SyncResult, SyncSettings
from xledger_assets.xledger.client import RetryPolicy, XledgerClient
from xledger_assets_tests.expected import comparable, expected_rows

API = DEFAULT_CATALOG.api
API_NAMES = [d.name for d in API]


def dataset(name: str) -> ApiDataset:
    return DEFAULT_CATALOG.api_dataset(name)


class Interceptor(httpx.BaseTransport):
    """An httpx transport in front of the real one: ``before(n, request_json)`` runs before the
    n-th GraphQL request (n from 1) and may change the sandbox; ``after(n, request_json,
    response_json)`` may return a replacement response body (a dict) to simulate answers the
    sandbox's own faults do not cover."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.count = 0
        self.before: Callable[[int, dict[str, Any]], None] | None = None
        self.after: Callable[[int, dict[str, Any], Any], Any] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        n = self.count
        body = orjson.loads(request.content) if request.content else {}
        if self.before is not None:
            self.before(n, body)
        response = self._inner.handle_request(request)
        if self.after is None:
            return response
        response.read()
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return response
        replaced = self.after(n, body, payload)
        if replaced is None:
            return response
        return httpx.Response(
            response.status_code,
            headers={"Content-Type": "application/json"},
            content=orjson.dumps(replaced),
        )

    def close(self) -> None:
        self._inner.close()


@dataclass
class SharedClock:
    """UTC time for the engine, monotonic time for the client, and the sandbox's clock: all
    three move together. Sleeping moves time instead of waiting. ``sleeps`` records the client's
    waits (retries); ``engine_sleep`` (the engine waiting for a new second to name a file) is
    not recorded. Monotonic time is purely virtual, so retry budgets come out the same on a
    loaded machine."""

    server: SandboxServer
    offset: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def utcnow(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return self.offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def engine_sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.server.sandbox.advance_clock(seconds)


@dataclass
class Harness:
    """One sandbox, one lake, one state store; engines made on demand."""

    server: SandboxServer
    token: str
    lake_url: str
    state_url: str
    env: dict[str, str]
    clock: SharedClock
    #: One connection pool for every client of the harness (an httpx.Client per engine would
    #: build an SSL context each time, which costs more than a whole small sync).
    interceptor: Interceptor = field(default_factory=Interceptor)
    http: httpx.Client = field(init=False)
    sound_files: set[str] = field(default_factory=set)
    _verified: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.Client(transport=self.interceptor, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    @property
    def sandbox(self) -> Any:
        return self.server.sandbox

    def lake(self) -> Lake:
        if self.lake_url.startswith("abfs"):
            from xledger_assets.lake.azure import AzureLake

            return AzureLake(self.lake_url, env=self.env)
        return open_lake(self.lake_url)

    def state(self) -> StateStore:
        return open_state_store(self.state_url)

    def client(
        self,
        *,
        policy: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        token: str | None = None,
    ) -> XledgerClient:
        return XledgerClient(
            self.server.url,
            token or self.token,
            policy=policy or RetryPolicy(),
            http=http or self.http,
            sleep=self.clock.sleep,
            now=self.clock.monotonic,
            rng=random.Random(0),
        )

    def engine(
        self,
        *,
        page_size: int = 10_000,
        refetch_chunk: int = 1000,
        client: XledgerClient | None = None,
        lake: Lake | None = None,
    ) -> SyncEngine:
        return SyncEngine(
            client or self.client(),
            lake or self.lake(),
            self.state(),
            settings=SyncSettings(page_size=page_size, refetch_chunk=refetch_chunk),
            utcnow=self.clock.utcnow,
            sleep=self.clock.engine_sleep,
        )

    def sync(self, name: str, mode: str = "auto", **engine_options: Any) -> SyncResult:
        engine = self.engine(**engine_options)
        try:
            return engine.run(dataset(name), mode)
        finally:
            engine.client.close()

    # -- what the lake holds ------------------------------------------------------------------

    def rebuilt(self, name: str, lake: Lake | None = None) -> list[dict]:
        table = current_state(lake or self.lake(), name)
        return comparable(table.to_pylist()) if table is not None else []

    def truth(self, name: str) -> list[dict]:
        d = dataset(name)
        fields = [(f.path, f.type) for f in d.fields]
        return comparable(expected_rows(fields, self.sandbox.truth(d.items_field)))

    def files(self, name: str, lake: Lake | None = None) -> list[str]:
        return [f.name for f in (lake or self.lake()).list_files(name)]

    def fingerprint(self, name: str, lake: Lake) -> tuple[Any, ...]:
        """Changes whenever the dataset's lake files or its records in the sandbox change (every
        mutation appends a delta with a new, larger sequence number)."""
        log = self.sandbox.delta_log(dataset(name).items_field)
        return (tuple(self.files(name, lake)), log[-1]["seq"] if log else None)

    def verify(self, names: Iterable[str] = API_NAMES, context: str = "") -> None:
        """Rebuilt state equals the truth for every dataset, and every file is sound. A dataset
        whose files and records did not change since it was last verified is not compared again
        (the comparison would be the same)."""
        lake = self.lake()
        assert_files_sound(lake, names, checked=self.sound_files)
        for name in names:
            key = self.fingerprint(name, lake)
            if self._verified.get(name) == key:
                continue
            problem = truth_mismatch(self.truth(name), self.rebuilt(name, lake))
            assert problem is None, f"{context}{name}: {problem}"
            self._verified[name] = key

    def cursor(self, name: str) -> str | None:
        s = self.state().get(name)
        return s.cursor if s else None


def delta_seq(cursor: str | None) -> int:
    """The position of a sandbox delta cursor (base64 ``<field>:<epoch>:<seq>``); -1 for none."""
    if cursor is None:
        return -1
    return int(base64.b64decode(cursor).decode().split(":")[2])


def truth_mismatch(expected: list[dict], actual: list[dict]) -> str | None:
    """None when equal, else a short description of the first differences."""
    if expected == actual:
        return None
    want = {r["dbId"]: r for r in expected}
    have = {r["dbId"]: r for r in actual}
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = [i for i in sorted(set(want) & set(have)) if want[i] != have[i]]
    parts = [f"{len(expected)} expected rows, {len(actual)} rebuilt"]
    if missing:
        parts.append(f"missing dbIds {missing[:5]}{'...' if len(missing) > 5 else ''}")
    if extra:
        parts.append(f"extra dbIds {extra[:5]}{'...' if len(extra) > 5 else ''}")
    if changed:
        i = changed[0]
        diff = {k: (want[i][k], have[i].get(k)) for k in want[i] if want[i][k] != have[i].get(k)}
        parts.append(f"{len(changed)} differ, e.g. dbId {i}: {diff}")
    if len(actual) != len(have):
        parts.append("duplicate dbIds in the rebuilt state")
    return "; ".join(parts)


def assert_matches_truth(h: Harness, names: Iterable[str] = API_NAMES, context: str = "") -> None:
    lake = h.lake()
    for name in names:
        problem = truth_mismatch(h.truth(name), h.rebuilt(name, lake))
        assert problem is None, f"{context}{name}: {problem}"


def assert_files_sound(
    lake: Lake,
    names: Iterable[str] = API_NAMES,
    checked: set[str] | None = None,
    *,
    staging: bool = True,
) -> None:
    """Every file under a final name is a whole parquet file with the dataset's exact schema,
    each dbId at most once, ADDED only in full loads; no staging leftovers in a local lake.
    Files named in ``checked`` are skipped (files never change); checked ones are added."""
    checked = set() if checked is None else checked
    for name in names:
        schema = RecordConverter(name, dataset(name).fields).schema
        for file in lake.list_files(name):
            if file.relative_path in checked:
                continue
            checked.add(file.relative_path)
            table: pa.Table = lake.read_table(file)  # a partial file does not parse
            assert table.schema.equals(schema, check_metadata=False), file.name
            ids = table.column("dbId").to_pylist()
            dupes = [i for i, n in Counter(ids).items() if n > 1]
            assert not dupes, f"{file.name}: dbIds {dupes[:5]} appear more than once"
            kinds = set(table.column("mutationType").to_pylist())
            if file.kind == "full_sync":
                assert kinds <= {"ADDED"}, (file.name, kinds)
            else:
                assert kinds <= {"ADDED", "UPDATED", "DELETED"}, (file.name, kinds)
    if staging and isinstance(lake, LocalLake):
        staging_dir = lake.root / ".staging"
        leftovers = sorted(p.name for p in staging_dir.iterdir()) if staging_dir.is_dir() else []
        assert leftovers == [], f"staging leftovers: {leftovers}"


def local_env(tmp_path: Path) -> dict[str, str]:
    return {
        "XLEDGER_LAKE_URL": str(tmp_path / "lake"),
        "XLEDGER_STATE_URL": str(tmp_path / "state" / "state.json"),
    }
