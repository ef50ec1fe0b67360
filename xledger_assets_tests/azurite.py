"""Azurite (the Azure Blob Storage emulator) for tests: a session fixture and a lake-env factory.

Use it from a ``conftest.py``::

    from xledger_assets_tests.azurite import azurite, azurite_lake_env  # noqa: F401

``azurite`` starts one ``node_modules/.bin/azurite-blob`` per pytest process (so per xdist
worker) on a free loopback port, in memory, and stops it at the end of the session.
``azurite_lake_env`` gives each test a fresh container: a dict with ``XLEDGER_LAKE_URL`` and
``AZURE_STORAGE_CONNECTION_STRING`` to put into the environment (``monkeypatch.setenv`` or a
subprocess ``env``). Install Azurite once with ``npm ci`` in the repository root.

Without pytest, :func:`start_azurite` is a context manager giving the same :class:`Azurite`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
#: The well-known, documented development key of every Azurite (not a secret).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT_SECONDS = 20.0


@dataclass
class Azurite:
    """A running Azurite blob service."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def new_container_name(self, prefix: str = "lake") -> str:
        """A container name no other test uses (the container itself is not created)."""
        return f"{prefix}-{uuid.uuid4().hex[:16]}"

    def lake_url(self, container: str | None = None, *, prefix: str | None = None) -> str:
        """``abfs://<container>@devstoreaccount1.dfs.core.windows.net[/prefix]``; a fresh
        container when none is given."""
        name = container or self.new_container_name()
        url = f"abfs://{name}@{ACCOUNT}.dfs.core.windows.net"
        return f"{url}/{prefix.strip('/')}" if prefix else url

    def lake_env(
        self, container: str | None = None, *, prefix: str | None = None
    ) -> dict[str, str]:
        """The environment variables that point the product at a (fresh) container here."""
        return {
            "XLEDGER_LAKE_URL": self.lake_url(container, prefix=prefix),
            "AZURE_STORAGE_CONNECTION_STRING": self.connection_string,
        }

    def alive(self) -> bool:
        return self.process.poll() is None


def _free_port(host: str) -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:  # its own session: signal the group so no child survives
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def azurite_binary() -> Path:
    """``node_modules/.bin/azurite-blob`` of this repository (or ``$AZURITE_BLOB_BIN``)."""
    return Path(os.environ.get("AZURITE_BLOB_BIN") or AZURITE_BIN)


def _missing_message(binary: Path) -> str:
    return (
        f"Azurite is not installed ({binary} is missing): run `npm ci` in {REPO_ROOT} "
        "(needs Node 20 or newer; installs azurite 3.35.0 from package-lock.json)"
    )


@contextmanager
def start_azurite(
    host: str = "127.0.0.1", *, location: str | os.PathLike[str] | None = None
) -> Iterator[Azurite]:
    """Run ``azurite-blob`` on a free port until the block ends (in memory unless ``location``).

    Raises FileNotFoundError with the install command when Azurite is not installed.
    """
    binary = azurite_binary()
    if not binary.exists():
        raise FileNotFoundError(_missing_message(binary))
    last_error = "no attempt"
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port(host)
        args = [
            str(binary),
            "--blobHost",
            host,
            "--blobPort",
            str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]
        args += ["--location", str(location)] if location else ["--inMemoryPersistence"]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                args,
                cwd=str(REPO_ROOT),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                deadline = time.monotonic() + START_TIMEOUT_SECONDS
                while time.monotonic() < deadline and process.poll() is None:
                    if _accepts(host, port):
                        break
                    time.sleep(0.05)
                if process.poll() is None and _accepts(host, port):
                    yield Azurite(host, port, process)
                    return
            finally:
                _stop(process)
            log.seek(0)
            last_error = log.read().decode("utf-8", "replace").strip()[-2000:] or "no output"
    raise RuntimeError(f"Azurite did not start on {host}: {last_error}")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite per test process (xdist workers each get their own, on their own port)."""
    binary = azurite_binary()
    if not binary.exists():
        pytest.fail(_missing_message(binary), pytrace=False)
    with start_azurite() as running:
        yield running


@pytest.fixture
def azurite_lake_env(azurite: Azurite) -> dict[str, str]:
    """``XLEDGER_LAKE_URL`` and ``AZURE_STORAGE_CONNECTION_STRING`` for a fresh container."""
    return azurite.lake_env()
