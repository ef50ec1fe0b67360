"""Azurite over HTTPS under a production-style host name, for dagster-azure's compute log manager.

``AzureBlobComputeLogManager`` builds its endpoint as ``https://<account>.blob.<endpoint_suffix>/``
(always https, always host-style), and the Storage SDK finds the account name only in a host
containing ``.blob.core.``. So the emulator is addressed as
``https://devstoreaccount1.blob.core.localhost:<port>/`` with ``endpoint_suffix:
core.localhost:<port>``: Azurite takes the account from the first label of such a host, serves TLS
with a certificate made here, and :func:`resolve_to_loopback` makes that name resolve to
127.0.0.1 inside this process only (glibc does not resolve ``*.localhost``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from xledger_assets_tests.azurite import ACCOUNT, ACCOUNT_KEY, REPO_ROOT, azurite_binary
from xledger_assets_tests.deploy.postgres import make_certificate

ENDPOINT_HOST_SUFFIX = "blob.core.localhost"


@dataclass(frozen=True)
class AzuriteTls:
    port: int
    ca_file: Path
    account: str = ACCOUNT
    account_key: str = ACCOUNT_KEY

    @property
    def endpoint_suffix(self) -> str:
        """What to give the compute log manager as ``endpoint_suffix``."""
        return f"core.localhost:{self.port}"

    @property
    def host(self) -> str:
        return f"{self.account}.{ENDPOINT_HOST_SUFFIX}"

    @property
    def account_url(self) -> str:
        return f"https://{self.host}:{self.port}/"


def resolve_to_loopback(monkeypatch, suffix: str = ENDPOINT_HOST_SUFFIX) -> None:
    """Make ``*.<suffix>`` resolve to 127.0.0.1 in this process (``monkeypatch`` undoes it)."""
    real: Callable = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith("." + suffix):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def start_azurite_tls() -> Iterator[AzuriteTls]:
    binary = azurite_binary()
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: run `npm ci` in {REPO_ROOT}")
    with tempfile.TemporaryDirectory(prefix="xledger-azurite-tls-") as folder:
        tls = Path(folder)
        make_certificate(tls, hosts=(f"{ACCOUNT}.{ENDPOINT_HOST_SUFFIX}",))
        port = _free_port()
        process = subprocess.Popen(
            [
                str(binary),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--cert",
                str(tls / "server.crt"),
                "--key",
                str(tls / "server.key"),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                "--silent",
            ],
            cwd=str(REPO_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not _accepts(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Azurite (TLS) did not start")
                time.sleep(0.05)
            yield AzuriteTls(port, tls / "server.crt")
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
