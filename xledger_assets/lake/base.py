"""Where parquet files live. Files are written to a local staging path first, then published
atomically under their final name, never over an existing file."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xledger_assets.errors import SyncError
from xledger_assets.lake.naming import FileKind, LakeFile

STAGING_SUFFIX = ".parquet.tmp"
#: A staging file this old is stale whoever wrote it (no sync stages a file for two days).
STALE_STAGING_AGE = timedelta(days=2)
_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


class Lake(ABC):
    """A lake root holding one folder per dataset."""

    url: str

    @abstractmethod
    def list_files(self, dataset: str) -> list[LakeFile]:
        """Published files of a dataset, oldest first."""

    @abstractmethod
    def publish(self, staged: Path, file: LakeFile) -> None:
        """Make ``staged`` visible as ``file``; fail with LakeError if that name exists."""

    @abstractmethod
    def read_table(self, file: LakeFile) -> pa.Table:
        """Read one published file."""

    @abstractmethod
    def uri(self, file: LakeFile) -> str:
        """Where a user finds the file."""

    def staging_dir(self) -> Path:
        """A local folder for files being written; subclasses may put it next to the lake."""
        path = Path(tempfile.gettempdir()) / "xledger-assets-staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_staging_path(self, dataset: str) -> Path:
        # Host and pid in the name say whose file it is, so a later sync can tell a file of a
        # sync that died from one still being written (see clean_staging).
        return self.staging_dir() / (
            f"{dataset}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex}{STAGING_SUFFIX}"
        )

    def clean_staging(self, dataset: str, max_age: timedelta = STALE_STAGING_AGE) -> list[Path]:
        """Remove the staging files of ``dataset`` that syncs which died left behind (a killed
        process never runs its clean-up); returns the files removed.

        A file is stale when the process that wrote it (same host) no longer exists, or when it
        is older than ``max_age`` (another host's, or a reused pid): files of running syncs are
        kept, whoever runs them. Never fails a sync: files that cannot be removed are left.
        """
        folder = self.staging_dir()
        pattern = re.compile(
            rf"{re.escape(dataset)}-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{{32}}"
            rf"{re.escape(STAGING_SUFFIX)}"
        )
        removed: list[Path] = []
        now = time.time()
        for path in folder.glob(f"{dataset}-*{STAGING_SUFFIX}"):
            m = pattern.fullmatch(path.name)
            if m is None:
                continue
            try:
                old = now - path.stat().st_mtime > max_age.total_seconds()
                dead = m.group("host") == _HOST and not _process_exists(int(m.group("pid")))
                if old or dead:
                    path.unlink()
                    removed.append(path)
            except OSError:
                continue
        return removed

    def discard(self, staged: Path) -> None:
        staged.unlink(missing_ok=True)

    def start_time(
        self,
        dataset: str,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> datetime:
        """A sync's start time in a second no file of the dataset has yet, so names stay unique
        and sort in the order the data was read (waits at most a second)."""
        now = utcnow()
        files = self.list_files(dataset)
        if files:
            newest = files[-1].started_at.replace(tzinfo=UTC)
            if now < newest + timedelta(seconds=1):
                wait = (newest + timedelta(seconds=1) - now).total_seconds()
                if wait > 2:
                    raise SyncError(
                        f"{dataset}: the newest lake file {files[-1].name} is dated in the "
                        "future; check the machine's clock"
                    )
                sleep(wait)
                now = utcnow()
        return now

    def publish_table(
        self, table: pa.Table, dataset: str, kind: FileKind, started_at: datetime
    ) -> tuple[LakeFile, int]:
        """Write a whole table as one file and publish it; returns the file and its size."""
        file = LakeFile.new(dataset, kind, started_at)
        self.clean_staging(dataset)
        staged = self.new_staging_path(dataset)
        try:
            pq.write_table(table, str(staged))
            size = staged.stat().st_size
            self.publish(staged, file)
        finally:
            self.discard(staged)
        return file, size
