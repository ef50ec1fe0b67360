"""A throwaway PostgreSQL cluster on 127.0.0.1 that accepts TLS connections only.

``start_postgres()`` runs ``initdb`` in a fresh temporary folder, makes a self-signed certificate
with ``openssl`` (subject alternative names ``127.0.0.1`` and ``localhost``, so clients can use
``sslmode=verify-full`` with the certificate as their root), allows ``hostssl`` connections only
(``pg_hba.conf`` has no ``host`` or ``local`` line), starts the server on a free port and stops it
and removes the folder at the end. As root the server runs as the ``postgres`` user
(``runuser``), since PostgreSQL refuses to run as root.

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``)
or from ``PATH``; ``.ci/run`` installs the package when they are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    superuser: str
    superuser_password: str
    ca_file: Path  # the server's self-signed certificate: the root to verify it against
    data_dir: Path

    def connect(self, dbname: str = "postgres", *, user: str | None = None, password: str = ""):
        """A psycopg2 connection over verified TLS."""
        import psycopg2

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user or self.superuser,
            password=password or self.superuser_password,
            sslmode="verify-full",
            sslrootcert=str(self.ca_file),
            connect_timeout=10,
        )

    def create_database(self, name: str, owner: str, password: str) -> None:
        """A login role ``owner`` with ``password`` and a database ``name`` it owns."""
        conn = self.connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f'CREATE ROLE "{owner}" LOGIN PASSWORD %s',
                    (password,),
                )
                cur.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        finally:
            conn.close()


def find_bindir() -> Path | None:
    """The folder holding ``initdb``/``pg_ctl``/``postgres``, newest Debian version first."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def missing_tools() -> list[str]:
    """What is missing to run a cluster here (empty when everything is there)."""
    missing = []
    bindir = find_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        missing.append("PostgreSQL server binaries (Debian package postgresql)")
    if shutil.which("openssl") is None:
        missing.append("openssl")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the postgres user (created by the Debian package)")
        if shutil.which("runuser") is None:
            missing.append("runuser (util-linux)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing.append("psycopg2 (dagster-postgres)")
    return missing


def _free_port(host: str) -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def make_certificate(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
    """``folder/server.crt`` and ``folder/server.key``: self-signed, valid for ``hosts``."""
    san = ",".join(f"IP:{h}" if h[0].isdigit() else f"DNS:{h}" for h in hosts)
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={hosts[-1]}",
            "-addext",
            f"subjectAltName={san}",
            "-keyout",
            str(folder / "server.key"),
            "-out",
            str(folder / "server.crt"),
        ]
    )


@contextmanager
def start_postgres(host: str = "127.0.0.1") -> Iterator[PostgresServer]:
    missing = missing_tools()
    if missing:
        raise FileNotFoundError("cannot start PostgreSQL: missing " + ", ".join(missing))
    bindir = find_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="xledger-pg-"))
    data = root / "data"
    tls = root / "tls"
    password = secrets.token_urlsafe(18)
    process_started = False
    try:
        tls.mkdir()
        make_certificate(tls)
        (root / "pwfile").write_text(password + "\n")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for path in (root, tls, tls / "server.key", tls / "server.crt", root / "pwfile"):
                os.chown(path, pg.pw_uid, pg.pw_gid)
        os.chmod(root, 0o700)
        os.chmod(tls / "server.key", 0o600)
        _run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={root / 'pwfile'}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            cwd=root,
        )
        (root / "pwfile").unlink()
        port = _free_port(host)
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# xledger_assets_tests\n"
                f"listen_addresses = '{host}'\n"
                f"port = {port}\n"
                f"unix_socket_directories = '{root}'\n"
                "ssl = on\n"
                f"ssl_cert_file = '{tls / 'server.crt'}'\n"
                f"ssl_key_file = '{tls / 'server.key'}'\n"
                "ssl_min_protocol_version = 'TLSv1.2'\n"
                "password_encryption = 'scram-sha-256'\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
            )
        # TLS only: no `host` (plain TCP) and no `local` (socket) line at all.
        (data / "pg_hba.conf").write_text(f"hostssl all all {host}/32 scram-sha-256\n")
        _run(
            _as_server_user(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_SECONDS),
                    "start",
                ]
            ),
            cwd=root,
        )
        process_started = True
        server = PostgresServer(host, port, SUPERUSER, password, tls / "server.crt", data)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:  # pg_ctl -w waits via the socket; make sure TLS over TCP answers too
            try:
                server.connect().close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        if process_started:
            subprocess.run(
                _as_server_user(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
                cwd=root,
            )
        shutil.rmtree(root, ignore_errors=True)
