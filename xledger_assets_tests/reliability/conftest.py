"""Fixtures of the reliability suites: a sandbox server per test and a harness wired to it, on a
local lake (in memory-backed /dev/shm when there is one: fsync costs more than a small sync) or
on Azurite. The outcome report of the fault matrix is assembled here (see ``report.py``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xledger_assets.sandbox.server import SandboxServer
from xledger_assets_tests.azurite import Azurite
from xledger_assets_tests.reliability import report
from xledger_assets_tests.reliability.harness import Harness, SharedClock, local_env

TOKEN = "reliability-token-7c1e4b"


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs when available (removed afterwards), else ``tmp_path``."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="xledger-reliability-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def make_harness(fast_tmp: Path, request: pytest.FixtureRequest) -> Iterator[HarnessFactory]:
    """``make_harness(seed=1, sizes=None, size=30, lake="local")``: a sandbox server started for
    the test and a harness on a fresh local lake or Azurite container."""
    started: list[tuple[SandboxServer, Harness]] = []

    def make(
        *, seed: int = 1, size: int = 30, sizes: dict[str, int] | None = None, lake: str = "local"
    ) -> Harness:
        server = SandboxServer(port=0, seed=seed, size=size, sizes=sizes, token=TOKEN).start()
        folder = fast_tmp / f"h{len(started)}"
        env = local_env(folder)
        if lake == "azurite":
            running: Azurite = request.getfixturevalue("azurite")
            env.update(running.lake_env())
        harness = Harness(
            server,
            TOKEN,
            env["XLEDGER_LAKE_URL"],
            env["XLEDGER_STATE_URL"],
            env,
            SharedClock(server),
        )
        started.append((server, harness))
        return harness

    yield make
    for server, harness in started:
        harness.close()
        server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report.session_finish(session.config, exitstatus)
