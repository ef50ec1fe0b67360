"""Long-running Dagster processes for the deploy tests: started in their own session, output in a
file, stopped by signalling their process group (so no child survives)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing, suppress
from pathlib import Path


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """One started command; ``wait_until`` polls a readiness check while watching it live."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop)
        # Restore the default SIGINT/SIGTERM behaviour in the child (see ENVIRONMENT-NOTES).
        self.process = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}) before {what}:\n"
                    + self.output()[-4000:]
                )
            try:
                if ready():
                    return
            except Exception:  # not up yet
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no {what} after {timeout:.0f} s:\n" + self.output()[-4000:]
                )
            time.sleep(0.25)

    def stop(self) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        else:  # the group may still hold children of an exited leader
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


def grpc_serving(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    return DagsterGrpcClient(port=port, host="127.0.0.1").health_check_query() == "SERVING"
