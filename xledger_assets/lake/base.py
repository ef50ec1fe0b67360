"""Where parquet files live. Files are written to a local staging path first, then published
atomically under their final name, never over an existing file."""

from __future__ import annotations

import os
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
        return self.staging_dir() / f"{dataset}-{os.getpid()}-{uuid.uuid4().hex}.parquet.tmp"

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
        staged = self.new_staging_path(dataset)
        try:
            pq.write_table(table, str(staged))
            size = staged.stat().st_size
            self.publish(staged, file)
        finally:
            self.discard(staged)
        return file, size
