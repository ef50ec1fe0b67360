"""Regression tests for the bugs the reliability suites found, one by one (the fault matrix keeps
the rest: ``null-edges-*``, ``no-page-info*``, ``query-timeout-small``, ``burst-forever``,
``deltas-dropped``), and what the fixes cost in requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from xledger_assets.errors import PagingError
from xledger_assets.lake.local import LocalLake
from xledger_assets.state.base import SyncState
from xledger_assets.state.local import LocalStateStore
from xledger_assets_tests.reliability.conftest import HarnessFactory
from xledger_assets_tests.reliability.harness import truth_mismatch

NAME = "customers"


def test_a_lost_last_delta_page_fails_even_without_a_stored_cursor(make_harness: HarnessFactory):
    """Bug: with no stored cursor (the full load saw no delta), delta paging did not check that
    it reached the newest delta, so a lost last page moved the cursor past deltas never read."""
    h = make_harness(size=1, sizes={NAME: 12})
    h.sync(NAME, page_size=5)
    assert h.cursor(NAME) is None
    h.sandbox.mutate(NAME, add=4, update=3, delete=2)  # 9 deltas: pages of 5 and 4
    first_page_end = h.sandbox.delta_log(NAME)[4]["cursor"]

    def lose_second_page(_n: int, body: dict[str, Any], payload: Any) -> Any:
        if body.get("variables", {}).get("after") == first_page_end and "page" in payload["data"]:
            payload["data"]["page"] = {"edges": [], "pageInfo": {"hasNextPage": False}}
            return payload
        return None

    h.interceptor.after = lose_second_page
    with pytest.raises(PagingError, match="the deltas ended before the newest delta"):
        h.sync(NAME, page_size=5)
    assert h.cursor(NAME) is None and len(h.files(NAME)) == 1
    h.interceptor.after = None
    h.sync(NAME, page_size=5)
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME)) is None


def test_deltas_dropped_between_pages_reload_even_without_a_stored_cursor(
    make_harness: HarnessFactory,
):
    """Bug: "Cursor has expired" on a later delta page was only recognised when the sync had
    started from a stored cursor; without one, auto failed instead of reloading."""
    h = make_harness(size=1, sizes={NAME: 12})
    h.sync(NAME, page_size=5)
    h.sandbox.mutate(NAME, add=4, update=3, delete=2)
    h.interceptor.count = 0
    h.interceptor.before = lambda n, _body: h.sandbox.expire_deltas(NAME) if n == 2 else None
    result = h.sync(NAME, page_size=5)
    assert result.mode == "full" and "no longer accepts the stored delta cursor" in result.reason
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME)) is None


def test_what_the_confirmations_cost(make_harness: HarnessFactory):
    """An empty page that would end a load is asked once more; the deltas' ``newest`` vouches
    for an empty delta page, so a changes sync without changes stays one request."""
    h = make_harness(size=1, sizes={NAME: 0, "projects": 7})
    empty = h.sync(NAME, page_size=5)
    assert (empty.rows, empty.requests) == (0, 3)  # newest delta, the page, its confirmation
    full = h.sync("projects", page_size=5)
    assert (full.rows, full.requests) == (7, 3)  # newest delta, 2 pages: no confirmation
    h.sandbox.update("projects", 1)
    h.sync("projects", page_size=5)
    quiet = h.sync("projects", page_size=5)
    assert (quiet.mode, quiet.rows, quiet.requests) == ("changes", 0, 1)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_staging_files_of_dead_syncs_are_removed(tmp_path: Path):
    """Bug: a killed sync's staging file stayed in ``<lake>/.staging`` forever."""
    from xledger_assets.lake import base

    lake = LocalLake(tmp_path / "lake")
    folder = lake.staging_dir()
    host = base._HOST
    dead = folder / f"{NAME}-{host}-{_dead_pid()}-{'a' * 32}.parquet.tmp"
    mine = lake.new_staging_path(NAME)  # this process is alive: kept
    elsewhere = folder / f"{NAME}-other-host-{os.getpid()}-{'b' * 32}.parquet.tmp"
    old_elsewhere = folder / f"{NAME}-other-host-12-{'c' * 32}.parquet.tmp"
    other_dataset = folder / f"ar_{NAME}-{host}-{_dead_pid()}-{'d' * 32}.parquet.tmp"
    for p in (dead, mine, elsewhere, old_elsewhere, other_dataset):
        p.write_bytes(b"partial")
    week_ago = time.time() - 7 * 86400
    os.utime(old_elsewhere, (week_ago, week_ago))

    removed = lake.clean_staging(NAME)

    assert sorted(removed) == sorted([dead, old_elsewhere])
    assert mine.exists() and elsewhere.exists() and other_dataset.exists()


def test_a_sync_removes_the_staging_files_a_dead_sync_left(make_harness: HarnessFactory):
    h = make_harness(size=1, sizes={NAME: 4})
    lake = h.lake()
    assert isinstance(lake, LocalLake)
    from xledger_assets.lake import base

    leftover = lake.staging_dir() / f"{NAME}-{base._HOST}-{_dead_pid()}-{'e' * 32}.parquet.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    h.sync(NAME)
    assert not leftover.exists()
    assert list(lake.staging_dir().iterdir()) == []


def test_stale_temp_files_of_the_state_store_are_removed(tmp_path: Path):
    """A process killed between writing the state's temp file and renaming it left the temp
    file next to the state forever; the next commit (under the file lock) removes it."""
    store = LocalStateStore(tmp_path / "state.json")
    store.commit(SyncState("d", "c1", "full", "2024-01-01T00:00:00+00:00", None), None)
    stale = tmp_path / "state.json.k1ll3d.tmp"
    stale.write_text("{half")
    current = store.get("d")
    store.commit(SyncState("d", "c2", "changes", "2024-01-02T00:00:00+00:00", None), current)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("state.json.")) == [
        "state.json.lock"
    ]
    assert store.get("d").cursor == "c2"


def test_the_checkpoint_seam_is_a_no_op_by_default():
    from xledger_assets.sync import checkpoints

    assert checkpoints.HOOK_VARIABLE not in os.environ
    checkpoints.checkpoint("sync.locked")
    assert checkpoints._hook is None
