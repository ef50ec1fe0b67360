"""Fidelity property: after any sequence of changes, expiries and syncs, the current state rebuilt
from the lake equals the sandbox's truth for all 8 API datasets, with no duplicate and no loss.

Each seed draws a scenario: dataset sizes (some empty), a page size and a re-fetch chunk (small,
so pages and chunks have boundaries to cross), then rounds of changes followed by a sync of
every dataset in ``auto`` mode (now and then ``full`` or ``changes``). Changes are adds, updates,
deletes, add-then-delete and delete-then-readd-then-update inside one delta window, update-then-
delete, bursts of thousands of changes, changes made *while* a sync pages (the next quiet round
must catch up), the clock moving past the retention margin or the retention window, and deltas
dropped early (``expire_deltas``). After every quiet round every dataset is compared.

``XLEDGER_FIDELITY_SEEDS`` sets how many seeds the engine-level test draws (default 20;
``make test-long`` runs 200). A failure names the seed and the rounds so far; rerun one seed with
``-k 'test_engine_fidelity and [<seed>]'``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pytest

from xledger_assets.assets.api import IO_MANAGER_KEY, build_api_asset
from xledger_assets.errors import DeltaCursorExpiredError
from xledger_assets.io_manager import LakeIOManager
from xledger_assets.resources import LakeStoreResource, XledgerApiResource
from xledger_assets.sensors import build_delta_sensor
from xledger_assets.sync.batch import ChangesBatch, handoffs_from_run_config
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.conftest import HarnessFactory
from xledger_assets_tests.reliability.harness import API, API_NAMES, Harness, dataset, delta_seq

SEEDS = int(os.environ.get("XLEDGER_FIDELITY_SEEDS", "20"))
ROUNDS = int(os.environ.get("XLEDGER_FIDELITY_ROUNDS", "10"))
HOUR = 3600


@dataclass
class Scenario:
    seed: int
    rng: random.Random
    page_size: int
    refetch_chunk: int
    sizes: dict[str, int]
    log: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)  # deltas dropped since the dataset's last sync
    sensor_cursor: str | None = None  # the delta sensor's own cursor (sensor_syncer)
    handed: int = 0  # syncs that used deltas the sensor handed over (sensor_syncer)

    @staticmethod
    def draw(seed: int) -> Scenario:
        rng = random.Random(f"fidelity:{seed}")
        sizes = {n: rng.choice([0, 1, 2, 5, 13, 30, 41]) for n in API_NAMES}
        return Scenario(
            seed,
            rng,
            page_size=rng.choice([1, 2, 3, 5, 8, 13, 50, 10_000]),
            refetch_chunk=rng.choice([1, 2, 3, 7, 100, 1000]),
            sizes=sizes,
        )

    def where(self) -> str:
        return (
            f"seed {self.seed} (page_size {self.page_size}, refetch_chunk {self.refetch_chunk}, "
            f"sizes {self.sizes}), rounds: {' / '.join(self.log)}: "
        )


def _pick(rng: random.Random, ids: list[int], n: int) -> list[int]:
    return rng.sample(ids, min(n, len(ids)))


def change(h: Harness, sc: Scenario, *, allow_burst: bool = True) -> str:
    """Apply one random kind of change; returns its description."""
    rng, sb = sc.rng, h.sandbox
    name = rng.choice(API_NAMES)
    entity = dataset(name).items_field
    kind = rng.choice(
        ["mix", "mix", "mix", "add_delete", "delete_readd_update", "update_delete", "burst"]
    )
    if kind == "burst" and (not allow_burst or rng.random() < 0.6):
        kind = "mix"
    if kind == "mix":
        names = rng.sample(API_NAMES, rng.randint(1, len(API_NAMES)))
        for n in names:
            sb.mutate(
                dataset(n).items_field,
                add=rng.randint(0, 4),
                update=rng.randint(0, 4),
                delete=rng.randint(0, 2),
            )
        return f"mix({len(names)} datasets)"
    if kind == "add_delete":
        added = sb.add(entity, rng.randint(1, 4))
        sb.delete_ids(entity, added[: rng.randint(1, len(added))])
        return f"add-then-delete({name})"
    if kind == "delete_readd_update":
        victims = _pick(rng, sb.ids(entity), rng.randint(1, 3))
        sb.delete_ids(entity, victims)
        back = victims[: rng.randint(0, len(victims))]
        for v in back:
            sb.readd(entity, v)
        sb.update_ids(entity, back)
        return f"delete-readd-update({name}, {len(victims)}/{len(back)})"
    if kind == "update_delete":
        victims = _pick(rng, sb.ids(entity), rng.randint(1, 3))
        sb.update_ids(entity, victims)
        sb.delete_ids(entity, victims[:1])
        return f"update-then-delete({name})"
    n_add, n_upd, n_del = rng.randint(800, 2500), rng.randint(0, 400), rng.randint(0, 200)
    sb.mutate(entity, add=n_add, update=n_upd, delete=n_del)
    return f"burst({name} +{n_add} ~{n_upd} -{n_del})"


def time_passes(h: Harness, sc: Scenario) -> str:
    rng = sc.rng
    kind = rng.choice(["margin", "window", "early", "hours"])
    if kind == "margin":  # past the 48 h margin, inside Xledger's 3 days: auto reloads
        h.clock.advance(49 * HOUR)
        return "clock+49h"
    if kind == "window":  # past the retention window: the sandbox drops the deltas
        h.clock.advance(rng.choice([73, 120]) * HOUR)
        sc.expired.update(API_NAMES)
        return "clock past retention"
    if kind == "early":
        # Xledger drops deltas early: the stored cursor is refused and auto reloads. A dataset
        # whose last full load saw no delta at all has no cursor to be refused, so there is
        # nothing to detect (docs/reliability.md, known limits): not drawn for those.
        names = [n for n in API_NAMES if h.cursor(n) is not None]
        for n in names:
            h.sandbox.expire_deltas(dataset(n).items_field)
        sc.expired.update(names)
        return f"deltas expired early ({len(names)})"
    h.clock.advance(rng.randint(1, 30) * HOUR)
    return "clock+hours"


def during_sync(h: Harness, sc: Scenario) -> None:
    """Make changes while the next round pages: before a few of its requests."""
    rng = sc.rng
    due = set(rng.sample(range(1, 40), 3))

    def before(n: int, _body: dict[str, Any]) -> None:
        if n in due:
            change(h, sc, allow_burst=False)

    h.interceptor.count = 0
    h.interceptor.before = before


#: Syncs every dataset with its mode; returns the datasets whose sync failed as it must (changes
#: mode after the deltas were dropped), which are compared after their next successful sync.
Syncer = Callable[[Harness, Scenario, dict[str, str]], set[str]]


MAX_PAGES = 16


def sizes_for(h: Harness, sc: Scenario, names: list[str]) -> tuple[int, int]:
    """The scenario's page size and re-fetch chunk, grown so that no connection of these datasets
    needs more than about MAX_PAGES pages (bursts make datasets large; paging thousands of
    records one at a time would test nothing more, only slower)."""
    most = 1
    for name in names:
        entity = dataset(name).items_field
        most = max(most, len(h.sandbox.ids(entity)), len(h.sandbox.delta_log(entity)))
    least = -(-most // MAX_PAGES)
    return max(sc.page_size, least), max(sc.refetch_chunk, least)


def cursor_dropped(h: Harness, name: str) -> bool:
    """Whether the sandbox no longer holds the delta of the stored cursor (expired early, or
    aged out: a full load stores the newest delta's cursor, however old that delta is)."""
    cursor = h.cursor(name)
    log = h.sandbox.delta_log(dataset(name).items_field)
    return cursor is not None and cursor not in {d["cursor"] for d in log}


def _engine_sync(h: Harness, sc: Scenario, name: str, mode: str, refused: set[str]) -> None:
    page, chunk = sizes_for(h, sc, [name])
    dropped = cursor_dropped(h, name)
    before = h.state().get(name)
    try:
        result = h.sync(name, mode, page_size=page, refetch_chunk=chunk)
    except DeltaCursorExpiredError:
        assert mode == "changes" and dropped, (name, sc.where())
        assert h.state().get(name) == before
        refused.add(name)
        return
    sc.expired.discard(name)
    after = h.state().get(name)
    assert after is not None and after.version == (before.version if before else 0) + 1
    if result.mode == "changes":  # never backwards; a full load stores the newest delta
        assert delta_seq(after.cursor) >= delta_seq(result.cursor_before), (name, sc.where())


def engine_syncer(h: Harness, sc: Scenario, modes: dict[str, str]) -> set[str]:
    refused: set[str] = set()
    for name in API_NAMES:
        _engine_sync(h, sc, name, modes.get(name, "auto"), refused)
    return refused


def sensor_syncer(h: Harness, sc: Scenario, modes: dict[str, str]) -> set[str]:
    """The delta sensor's way: one tick (the real sensor, its one request), then its run: the
    datasets it names, with the deltas it handed over and one combined re-fetch (the steps of
    the sensor's in-process job, through the engine). Forced modes and first loads go through
    the engine as a user's or the schedule's runs would (the sensor leaves those alone)."""
    refused: set[str] = set()
    for name in API_NAMES:
        if name in modes or h.state().get(name) is None:
            _engine_sync(h, sc, name, modes.get(name, "auto"), refused)
    sensor = build_delta_sensor(
        API,
        interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.STOPPED,
        env="local",
        utcnow=h.clock.utcnow,
    )
    resources = {
        "xledger": XledgerApiResource(api_url=h.server.url),
        "lake_store": LakeStoreResource(lake_url=h.lake_url, state_url=h.state_url),
    }
    with dg.build_sensor_context(cursor=sc.sensor_cursor, resources=resources) as ctx:
        result = sensor(ctx)
        sc.sensor_cursor = ctx.cursor
    assert isinstance(result, dg.SensorResult), (result, sc.where())
    sc.sensor_cursor = result.cursor or sc.sensor_cursor
    for request in result.run_requests:
        handoffs = handoffs_from_run_config(request.run_config, API)
        batch = ChangesBatch(API, handoffs)
        names = [k.path[0] for k in request.asset_selection]
        page, chunk = sizes_for(h, sc, names)
        engine = h.engine(page_size=page, refetch_chunk=chunk)
        try:
            for name in names:
                before = h.state().get(name)
                synced = engine.run(dataset(name), "auto", batch)
                sc.expired.discard(name)
                assert synced.state.version == before.version + 1
                if synced.mode == "changes":
                    assert delta_seq(synced.cursor_after) >= delta_seq(before.cursor), sc.where()
                sc.handed += name in handoffs
        finally:
            engine.client.close()
    return refused


def run_scenario(
    h: Harness, sc: Scenario, syncer: Syncer, rounds: int = ROUNDS, *, noise: bool = True
) -> None:
    rng = sc.rng
    for _ in range(rounds):
        entries = [change(h, sc) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.25:
            entries.append(time_passes(h, sc))
        modes: dict[str, str] = {}
        if rng.random() < 0.2:
            modes[rng.choice(API_NAMES)] = "full"
        if rng.random() < 0.2:
            # changes mode on purpose; not where deltas were dropped and there is no cursor to
            # be refused (the same limit as above)
            candidate = rng.choice(API_NAMES)
            state = h.state().get(candidate)
            if state is not None and (state.cursor is not None or candidate not in sc.expired):
                modes[candidate] = "changes"
        noisy = rng.random() < 0.2 and noise
        if noisy:
            during_sync(h, sc)
            entries.append("changes while syncing")
        sc.log.append(", ".join(entries) or "no change")
        if modes:
            sc.log[-1] += f" [{', '.join(f'{k}={v}' for k, v in sorted(modes.items()))}]"
        refused = syncer(h, sc, modes)
        h.interceptor.before = None
        if noisy:  # what changed while paging is caught up by the next, quiet round
            sc.log.append("quiet")
            refused = syncer(h, sc, {})
        h.verify([n for n in API_NAMES if n not in refused], context=sc.where())


AZURITE_SEEDS = [1001, 1002]
DAGSTER_SEEDS = [2001, 2002]
#: seeds of the delta sensor's way (its handoffs and combined re-fetch); make test-long: 5x
SENSOR_SEEDS = range(3001, 3001 + max(6, SEEDS // 4))
SECTION = "fidelity"
KINDS = {
    "mix": "mixed",
    "add-then-delete": "add-then-delete",
    "delete-readd-update": "delete-readd-update",
    "update-then-delete": "update-then-delete",
    "burst": "bursts",
    "changes while syncing": "while syncing",
    "clock+49h": "past margin",
    "clock past retention": "past retention",
    "deltas expired early": "expired early",
}


def _summary(h: Harness, sc: Scenario) -> tuple[str, ...]:
    entries = [e.strip() for r in sc.log for e in r.split(" [")[0].split(", ")]
    counts = {
        label: sum(1 for e in entries if e.startswith(prefix)) for prefix, label in KINDS.items()
    }
    changes = ", ".join(f"{label} {n}" for label, n in counts.items() if n)
    rows = sum(len(h.rebuilt(n)) for n in API_NAMES)
    files = sum(len(h.files(n)) for n in API_NAMES)
    forced = sum(r.count("=full") + r.count("=changes") for r in sc.log)
    return (
        str(sc.page_size),
        str(sc.refetch_chunk),
        str(len([r for r in sc.log if r != "quiet"])),
        changes or "none",
        str(forced),
        f"{files} files, {rows} rows",
    )


report.section(
    SECTION,
    "Fidelity (seeded random sequences)",
    ("seed", "driver", "page size", "re-fetch chunk", "rounds", "changes", "forced modes", "lake"),
    __doc__.split("\n\n", 1)[1],
    [str(s) for s in range(SEEDS)]
    + [str(s) for s in AZURITE_SEEDS + DAGSTER_SEEDS]
    + [str(s) for s in SENSOR_SEEDS],
)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_engine_fidelity(make_harness: HarnessFactory, seed: int):
    sc = Scenario.draw(seed)
    h = make_harness(seed=seed, size=0, sizes=sc.sizes)
    run_scenario(h, sc, engine_syncer)
    report.record(SECTION, str(seed), str(seed), "engine, local lake", *_summary(h, sc))


@pytest.mark.parametrize("seed", SENSOR_SEEDS)
def test_sensor_fidelity(make_harness: HarnessFactory, seed: int, monkeypatch: pytest.MonkeyPatch):
    sc = Scenario.draw(seed)
    h = make_harness(seed=seed, size=0, sizes=sc.sizes)
    monkeypatch.setenv("XLEDGER_API_TOKEN", h.token)
    run_scenario(h, sc, sensor_syncer)
    report.record(
        SECTION, str(seed), str(seed), f"delta sensor ({sc.handed} handed over)", *_summary(h, sc)
    )


@pytest.mark.parametrize("seed", AZURITE_SEEDS)
def test_fidelity_on_azurite(make_harness: HarnessFactory, seed: int):
    sc = Scenario.draw(seed)
    h = make_harness(seed=seed, size=0, sizes=sc.sizes, lake="azurite")
    run_scenario(h, sc, engine_syncer, rounds=6)
    report.record(SECTION, str(seed), str(seed), "engine, Azurite", *_summary(h, sc))


def dagster_syncer(h: Harness, sc: Scenario, modes: dict[str, str]) -> set[str]:
    """All 8 API assets in one Dagster run per round, each with its mode."""
    page, chunk = sizes_for(h, sc, API_NAMES)
    os.environ["XLEDGER_PAGE_SIZE"] = str(page)  # restored by the test's monkeypatch
    os.environ["XLEDGER_REFETCH_CHUNK"] = str(chunk)
    dropped = {n for n in API_NAMES if cursor_dropped(h, n)}
    store = LakeStoreResource(lake_url=h.lake_url, state_url=h.state_url)
    result = dg.materialize(
        [build_api_asset(d) for d in API],
        resources={
            "xledger": XledgerApiResource(api_url=h.server.url),
            "lake_store": store,
            IO_MANAGER_KEY: LakeIOManager(store=store),
        },
        run_config={"ops": {n: {"config": {"mode": modes.get(n, "auto")}} for n in API_NAMES}},
        raise_on_error=False,
    )
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    for name in API_NAMES:
        if name in failed:
            assert modes.get(name) == "changes" and name in dropped, (name, sc.where())
        else:
            sc.expired.discard(name)
    return failed


@pytest.mark.parametrize("seed", DAGSTER_SEEDS)
def test_fidelity_through_dagster(
    make_harness: HarnessFactory, seed: int, monkeypatch: pytest.MonkeyPatch
):
    sc = Scenario.draw(seed)
    h = make_harness(seed=seed, size=0, sizes=sc.sizes)
    monkeypatch.setenv("XLEDGER_API_TOKEN", h.token)
    monkeypatch.setenv("XLEDGER_PAGE_SIZE", str(sc.page_size))
    monkeypatch.setenv("XLEDGER_REFETCH_CHUNK", str(sc.refetch_chunk))

    # Dagster runs use the real clock: the retention margin is not reached; deltas expire early.
    def no_clock(h: Harness, sc: Scenario) -> str:
        names = [n for n in API_NAMES if h.cursor(n) is not None]
        for n in names:
            h.sandbox.expire_deltas(dataset(n).items_field)
        sc.expired.update(names)
        return f"deltas expired early ({len(names)})"

    monkeypatch.setattr(f"{__name__}.time_passes", no_clock)
    run_scenario(h, sc, dagster_syncer, rounds=4, noise=False)  # Dagster's own client
    report.record(SECTION, str(seed), str(seed), "Dagster, local lake", *_summary(h, sc))
