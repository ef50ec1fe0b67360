"""Concurrency: two syncs of one dataset at once.

- Engine: while one process holds a dataset's sync (paused at a checkpoint, so nothing depends
  on timing), a second process is refused with "another sync of <dataset> is running", on the
  local state file (``flock``) and on App Configuration (a lease). The first then finishes: one
  file, the cursor moves forward once, the rebuilt state equals the truth.
- A run that lost the race (its App Configuration lease expired and another run took over and
  committed) publishes nothing that breaks the rebuild and never moves the cursor back.
- Dagster: the run queue of ``dagster.yaml`` (loaded from the repository, not a copy of its
  values; and the production ``deploy/dagster.yaml``'s run queue and concurrency blocks) starts
  one run per ``xledger/dataset`` tag at a time, and the ``xledger_api`` pool hands out 2 slots.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import StateConflictError, SyncError
from xledger_assets.sandbox.appconfig import AppConfigEmulator
from xledger_assets.state.appconfig import AppConfigStateStore
from xledger_assets_tests.conftest import REPO
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.conftest import HarnessFactory
from xledger_assets_tests.reliability.harness import Harness, dataset, truth_mismatch
from xledger_assets_tests.reliability.processes import spawn_sync

NAME = "projects"
PAGE = 4
SECTION = "concurrency"
SECRET = "Y29uY3VycmVuY3ktdGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ=="  # base64, test only

report.section(
    SECTION,
    "Concurrency",
    ("case", "what happened"),
    __doc__.split("\n\n", 1)[1],
    ["local-state", "appconfig-state", "lost-lease", "run-queue", "pool"],
)


@pytest.fixture
def appconfig() -> Iterator[AppConfigEmulator]:
    with AppConfigEmulator(credential_id="reliability", secret_b64=SECRET) as emu:
        yield emu


def _harness(make_harness: HarnessFactory, store: str, request: pytest.FixtureRequest) -> Harness:
    h = make_harness(seed=31, size=1, sizes={NAME: 14})
    if store == "appconfig":
        emu: AppConfigEmulator = request.getfixturevalue("appconfig")
        h.state_url = h.env["XLEDGER_STATE_URL"] = emu.connection_string
    return h


@pytest.mark.parametrize("store", ["local", "appconfig"])
def test_a_second_sync_is_refused_while_one_runs(
    make_harness: HarnessFactory, store: str, request: pytest.FixtureRequest
):
    h = _harness(make_harness, store, request)
    h.sync(NAME, page_size=PAGE)
    h.sandbox.mutate(NAME, add=5, update=4, delete=2)
    before = h.state().get(NAME)
    assert before is not None

    first = spawn_sync(h, NAME, "auto", PAGE, XLEDGER_PAUSE_AT="sync.page_read:2")
    paused = first.wait_for("PAUSED ")
    assert paused is not None, first.seen
    second = spawn_sync(h, NAME, "auto", PAGE)
    status, _ = second.finish()
    [failed] = [x for x in second.seen if x.startswith("FAILED ")]
    assert status == 3
    assert failed.startswith(f"FAILED SyncError: another sync of {NAME} is running")
    with pytest.raises(SyncError, match=f"another sync of {NAME} is running"):
        h.sync(NAME, page_size=PAGE)  # and in this process
    assert h.state().get(NAME) == before and len(h.files(NAME)) == 1

    first.resume()
    status, stderr = first.finish()
    assert status == 0, stderr[-2000:]
    after = h.state().get(NAME)
    assert after is not None and after.version == before.version + 1
    assert after.cursor == h.sandbox.delta_log(NAME)[-1]["cursor"]
    assert [f.split("-")[0] for f in h.files(NAME)] == ["full_sync", "sync_changes"]

    again = h.sync(NAME, page_size=PAGE)  # the lock was released: nothing left to do
    assert again.file_uri is None and h.state().get(NAME).cursor == after.cursor
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME)) is None
    report.record(
        SECTION,
        f"{store}-state",
        "two processes, state in "
        + ("a local JSON file" if store == "local" else "App Configuration"),
        f"the second: `{failed.split(': ', 1)[1].split(' (')[0]} (...)`; the first finished: one "
        f"sync_changes file, version {before.version} → {after.version}, rebuild equals the truth",
    )


def test_a_run_that_lost_its_lease_never_moves_the_cursor_back(
    make_harness: HarnessFactory, request: pytest.FixtureRequest
):
    h = _harness(make_harness, "appconfig", request)
    d = dataset(NAME)
    h.sync(NAME, page_size=PAGE)
    h.sandbox.mutate(NAME, add=3, update=3, delete=1)

    slow = h.engine(page_size=PAGE)
    staged = slow.stage(d, "full")  # holds the lease, then hangs (its renewals stop)
    try:
        later = datetime.now(UTC) + timedelta(minutes=10)
        taker = h.engine(page_size=PAGE)
        taker.state = AppConfigStateStore(h.state_url, utcnow=lambda: later)
        h.sandbox.mutate(NAME, update=2)
        winner = taker.run(d, "auto")  # takes the expired lease over, commits
        assert winner.mode == "changes"
        with pytest.raises(StateConflictError, match="changed while this run was syncing"):
            slow.commit(staged)
    finally:
        staged.release()
    state = h.state().get(NAME)
    assert state is not None and state.cursor == winner.cursor_after  # not moved back
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME)) is None
    h.sync(NAME, page_size=PAGE)
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME)) is None
    report.record(
        SECTION,
        "lost-lease",
        "a run whose lease expired commits after the run that took over",
        "`StateConflictError`; the newer cursor stays; its file (an older start time) sorts "
        "before the winner's, the rebuild equals the truth",
    )


# -- Dagster ------------------------------------------------------------------------------------


@pytest.fixture(params=["dagster.yaml", "deploy/dagster.yaml"])
def instance(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance configured by the repository's dagster.yaml (local), or by the
    production one's run queue and concurrency settings (its PostgreSQL storage, compute logs
    and launcher need Azure: the instance here keeps Dagster's default local storage)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    source = REPO / request.param
    if request.param == "dagster.yaml":
        shutil.copy(source, home / "dagster.yaml")
    else:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
        kept = {k: config[k] for k in ("concurrency", "run_queue") if k in config}
        assert "concurrency" in kept
        (home / "dagster.yaml").write_text(yaml.safe_dump(kept), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _job():
    from xledger_assets.definitions import defs

    return defs.get_implicit_global_asset_job_def()


def _queue(instance: dg.DagsterInstance, dataset: str, status=DagsterRunStatus.QUEUED):
    """A run as the sensor or a schedule submits it (its tags), queued or already started."""
    job = _job()
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("xledger_assets"), "__repository__"),
        job.name,
    )
    return instance.create_run_for_job(
        job,
        asset_selection=frozenset({dg.AssetKey(dataset)}),
        tags={"xledger/dataset": dataset, "xledger/env": "local"},
        status=status,
        remote_job_origin=origin,
    )


def _dequeue(instance: dg.DagsterInstance) -> list[str]:
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    runs = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
    return [r.tags["xledger/dataset"] for r in runs]


def test_the_run_queue_runs_one_sync_per_dataset(instance: dg.DagsterInstance, monkeypatch):
    monkeypatch.setenv("XLEDGER_ENV", "local")
    config = instance.get_concurrency_config().run_queue_config
    assert config is not None and config.max_concurrent_runs == 4
    running = _queue(instance, "timesheets", DagsterRunStatus.STARTED)
    _queue(instance, "timesheets")
    _queue(instance, "projects")
    _queue(instance, "projects")
    assert _dequeue(instance) == ["projects"]  # one per dataset; timesheets already runs

    instance.report_run_failed(running)
    assert _dequeue(instance) == ["timesheets", "projects"]

    # The run queue also holds back runs whose steps could not get an xledger_api slot: at most
    # 2 API runs at once. Flexlink runs are not in that pool; the 4-run limit caps everything.
    for name in [
        "employees",
        "customers",
        "employee_groups",
        "cost_categories",
        "employment_types",
    ]:
        _queue(instance, name)
    assert _dequeue(instance) == ["timesheets", "projects", "employee_groups", "cost_categories"]
    report.record(
        SECTION,
        "run-queue",
        "sensor/schedule runs queued for one dataset (run queue of dagster.yaml and of "
        "deploy/dagster.yaml)",
        "one run per `xledger/dataset` tag at a time; at most 2 API runs (the pool's slots) "
        "and 4 runs in all",
    )


def test_the_api_pool_hands_out_two_slots(instance: dg.DagsterInstance, monkeypatch):
    monkeypatch.setenv("XLEDGER_ENV", "local")
    pools = {node.name: node.pools for node in _job().graph.node_defs}  # one op per asset
    assert sorted(n for n, p in pools.items() if p == {"xledger_api"}) == sorted(
        d.name for d in DEFAULT_CATALOG.api
    )
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("xledger_api")
    assert storage.get_concurrency_info("xledger_api").slot_count == 2
    claims = [
        storage.claim_concurrency_slot("xledger_api", "run-a", step).is_claimed
        for step in ("timesheets", "projects", "employees")
    ]
    assert claims == [True, True, False]
    storage.free_concurrency_slot_for_step("run-a", "timesheets")
    assert storage.claim_concurrency_slot("xledger_api", "run-a", "employees").is_claimed
    report.record(
        SECTION,
        "pool",
        "three API steps ask for the `xledger_api` pool (`default_limit: 2` in both files)",
        "two get a slot, the third waits until one is freed",
    )
