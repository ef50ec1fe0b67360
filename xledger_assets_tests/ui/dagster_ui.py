"""``dagster dev`` for the browser test: its own process group on a free 127.0.0.1 port, ready
when the code location's assets answer over GraphQL, stopped by SIGTERM to the whole group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def graphql(url: str, query: str, variables: dict | None = None, timeout: float = 10) -> dict:
    req = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


_LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _asset_count(url: str) -> int:
    """The assets the UI shows; raises RuntimeError if the code location failed to load."""
    doc = graphql(url, _LOCATIONS)
    entries = ((doc.get("data") or {}).get("workspaceOrError") or {}).get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise RuntimeError(f"code location {entry['name']} failed to load: {error['message']}")
    doc = graphql(url, "{ assetNodes { assetKey { path } } }")
    return len((doc.get("data") or {}).get("assetNodes") or [])


def _restore_sigint() -> None:  # pragma: no cover - runs in the child
    # A child of a process that ignores SIGINT (a background shell job, some test runners)
    # inherits that, and dagster dev handles SIGTERM like SIGINT: restore the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # children that outlived the leader (code server, daemon) go with the group
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def dagster_dev(
    env: Mapping[str, str], log_path: Path, *, expected_assets: int, timeout: float = 120
) -> Iterator[str]:
    """Start ``dagster dev -w workspace.yaml``; yields the UI's base URL once it shows the
    ``expected_assets``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_restore_sigint,
    )
    try:
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({proc.returncode}):\n{_tail(log_path)}")
            try:
                seen = _asset_count(url)
                if seen == expected_assets:
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dagster dev at {url} showed {seen} assets, not {expected_assets}, after "
                    f"{timeout:.0f} s:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        yield url
    finally:
        stop_group(proc)
        log.close()
