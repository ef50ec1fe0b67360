"""A sync in its own process (``sync_driver``), stoppable at a checkpoint (``crash_hook``)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field

from xledger_assets_tests.conftest import REPO
from xledger_assets_tests.reliability.harness import Harness

HOOK = "xledger_assets_tests.reliability.crash_hook:checkpoint"
#: Only a guard against a hung child; a passing run never waits this long.
HANG_GUARD_SECONDS = 120


@dataclass
class SyncProcess:
    proc: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.put(line.strip())
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def next_line(self) -> str | None:
        line = self.lines.get(timeout=HANG_GUARD_SECONDS)
        if line is not None:
            self.seen.append(line)
        return line

    def wait_for(self, *prefixes: str) -> str | None:
        """The first line starting with one of ``prefixes``; None if the process ended first."""
        while (line := self.next_line()) is not None:
            if line.startswith(prefixes):
                return line
        return None

    def resume(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()

    def finish(self) -> tuple[int, str]:
        """Wait for the end; the exit status and stderr."""
        while self.next_line() is not None:
            pass
        self.proc.wait(timeout=HANG_GUARD_SECONDS)
        assert self.proc.stderr is not None
        return self.proc.returncode, self.proc.stderr.read()


def spawn_sync(h: Harness, name: str, mode: str, page_size: int, **hook_env: str) -> SyncProcess:
    """Start ``sync_driver`` against the harness's sandbox, lake and state; ``hook_env`` sets
    ``XLEDGER_CRASH_AT`` / ``XLEDGER_PAUSE_AT``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLEDGER_", "AZURE_"))}
    env.update(h.env)
    env.update(
        {
            "XLEDGER_API_URL": h.server.url,
            "XLEDGER_API_TOKEN": h.token,
            "XLEDGER_CHECKPOINT_HOOK": HOOK,
            "PYTHONPATH": str(REPO),
            **hook_env,
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xledger_assets_tests.reliability.sync_driver",
            name,
            mode,
            str(page_size),
        ],
        env=env,
        cwd=str(REPO),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return SyncProcess(proc)
