"""Crash safety: a sync runs in its own process and is SIGKILLed at a chosen checkpoint (while
paging, while writing, between publishing the file and committing the state, after the commit)
or at a random moment; then the next run goes ahead.

After the kill: every file under a final name is whole, and the stored state names only data
the lake holds (its cursor is the old one, or the new one with its file published). After the
rerun: the dead run's staging files are gone, and the rebuilt state equals the truth.

The kill points are the named checkpoints of `xledger_assets/sync/checkpoints.py` (a no-op
unless the subprocess is given `XLEDGER_CHECKPOINT_HOOK`), "checkpoint n" counts every
checkpoint the sync passed. Besides the points below, each lake gets kills at random moments
(`XLEDGER_CRASH_RANDOM` of them, default 3, 20 in `make test-long`), left out of the table
because where they land varies from run to run.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass

import pytest

from xledger_assets.lake.current import current_state
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.conftest import HarnessFactory
from xledger_assets_tests.reliability.harness import Harness, assert_files_sound, truth_mismatch
from xledger_assets_tests.reliability.processes import spawn_sync

NAME = "suppliers"
SIZE = 17
PAGE = 4
RANDOM = int(os.environ.get("XLEDGER_CRASH_RANDOM", "3"))
SECTION = "crash"


@dataclass(frozen=True)
class Kill:
    phase: str  # "full" (first load), "changes", "forced-full" (full over an existing lake)
    at: str  # checkpoint name:n, "*:n" (the n-th checkpoint of any name), or "time:<ms>"

    @property
    def key(self) -> str:
        return f"{self.phase}@{self.at}"


def kill_points(lake: str) -> list[Kill]:
    publish = "lake.linked:1" if lake == "local" else "lake.block_staged:1"
    points = [
        "sync.locked:1",
        "sync.page_read:1",
        "sync.page_read:3",
        "sync.batch_written:2",
        "sync.staged:1",
        "lake.publish_before:1",
        publish,
        "lake.published:1",
        "state.temp_written:1",
        "state.committed:1",
    ]
    kills = [Kill(phase, at) for phase in ("full", "changes") for at in points]
    kills += [Kill("forced-full", at) for at in ("sync.batch_written:3", "lake.published:1")]
    rng = random.Random(f"crash:{lake}")
    # distinct random points: the n-th checkpoint of any name, and a time after the start
    spots = rng.sample([(p, n) for p in ("full", "changes") for n in range(1, 15)], RANDOM)
    kills += [Kill(phase, f"*:{n}") for phase, n in spots]
    times = rng.sample(range(0, 600, 7), RANDOM)
    kills += [Kill(rng.choice(["full", "changes"]), f"time:{ms}") for ms in times]
    return kills


def _on(lake: str) -> list[Kill]:
    """Local: every point. Azurite: the publishing and committing points, one while writing,
    and the random ones."""
    kills = kill_points(lake)
    if lake == "local":
        return kills
    keep = ("lake.", "state.", "*", "time", "sync.batch_written:2")
    return [k for k in kills if k.at.startswith(keep)]


CASES = [
    pytest.param(lake, k, id=f"{lake}-{k.key}") for lake in ("local", "azurite") for k in _on(lake)
]


def _prepare(h: Harness, phase: str) -> None:
    if phase in ("changes", "forced-full"):
        h.sync(NAME, page_size=PAGE)
        h.sandbox.mutate(NAME, add=6, update=5, delete=3)
    if phase == "forced-full":
        h.sync(NAME, page_size=PAGE)
        h.sandbox.mutate(NAME, add=2, update=2, delete=1)


def run_and_kill(h: Harness, mode: str, at: str) -> tuple[str, int]:
    """Run the sync in a subprocess and SIGKILL it at ``at``; where it died, and its pid."""
    timed = at.startswith("time:")
    p = spawn_sync(h, NAME, mode, PAGE, XLEDGER_CRASH_AT="" if timed else at)
    died = "finished before the kill"
    line = p.wait_for("STARTED" if timed else "PAUSED ")
    if line is not None:
        if timed:
            time.sleep(int(at.split(":")[1]) / 1000)
        p.kill()
        died = f"killed after {at.split(':')[1]} ms" if timed else line.removeprefix("PAUSED ")
    status, stderr = p.finish()
    if status == 0:  # a timed kill can come too late
        assert timed and any(x.startswith("DONE ") for x in p.seen), (p.seen, stderr[-2000:])
        died = "finished before the kill"
    else:
        assert status == -signal.SIGKILL, (status, p.seen, stderr[-2000:])
    return died, p.pid


report.section(
    SECTION,
    "Crash safety",
    ("lake", "sync", "killed at", "state after the kill", "staging files left", "after the rerun"),
    __doc__.split("\n\n", 1)[1],
    # kills at a random time are left out of the table: where they land varies from run to run
    [
        f"{lake}-{k.key}"
        for lake in ("local", "azurite")
        for k in _on(lake)
        if not k.at.startswith("time:")
    ],
)


@pytest.mark.parametrize(("lake", "kill"), CASES)
def test_kill_and_rerun(make_harness: HarnessFactory, lake: str, kill: Kill):
    h = make_harness(seed=21, size=1, sizes={NAME: SIZE}, lake=lake)
    _prepare(h, kill.phase)
    before = h.state().get(NAME)
    files_before = h.files(NAME)
    mode = "full" if kill.phase == "forced-full" else "auto"
    named = kill.at.split(":")[0]
    if named.startswith("lake.") and kill.phase == "changes" and not h.sandbox.delta_log(NAME):
        pytest.fail("a changes sync without changes publishes nothing")

    died, pid = run_and_kill(h, mode, kill.at)

    # Right after the kill: whole files only, and a state that names data the lake holds.
    lake_ = h.lake()
    assert_files_sound(lake_, [NAME], staging=False)
    after = h.state().get(NAME)
    files = h.files(NAME, lake_)
    assert set(files_before) <= set(files)
    assert len(files) - len(files_before) <= 1, files
    if after != before:
        assert after is not None and after.version == (before.version if before else 0) + 1
        assert after.last_file is None or after.last_file.split("/")[-1] in files
        state_text = f"committed (version {after.version})"
    else:
        state_text = "unchanged"
    if named in ("state.committed",):
        assert after != before, "killed after the commit, yet the state did not move"
    if named in ("sync.locked", "sync.page_read", "sync.batch_written", "sync.staged"):
        assert after == before and files == files_before
    if named in ("lake.published", "state.temp_written"):
        assert after == before and len(files) == len(files_before) + 1
    assert current_state(lake_, NAME) is not None or not files
    leftovers = _staging(lake_, pid)

    # The next run cleans up after the dead one and catches up.
    h.sync(NAME, page_size=PAGE)
    lake_ = h.lake()
    assert_files_sound(lake_, [NAME])
    assert _staging(lake_, pid) == 0
    assert truth_mismatch(h.truth(NAME), h.rebuilt(NAME, lake_)) is None
    report.record(
        SECTION,
        f"{lake}-{kill.key}",
        lake,
        kill.phase,
        died,
        state_text,
        str(leftovers),
        "equals the truth",
    )


def _staging(lake, pid: int) -> int:
    """Staging files the killed process left (the Azure lake stages in a shared temp folder)."""
    return sum(1 for p in lake.staging_dir().glob(f"{NAME}-*-{pid}-*") if p.is_file())
