"""Lake file names: ``<dataset>/<kind>-<YYYYMMDD_HH_MM_SS>-<dataset>.parquet`` (contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

FileKind = Literal["full_sync", "sync_changes"]
FULL_SYNC: FileKind = "full_sync"
SYNC_CHANGES: FileKind = "sync_changes"

_STAMP = "%Y%m%d_%H_%M_%S"
_NAME = re.compile(r"(full_sync|sync_changes)-(\d{8}_\d{2}_\d{2}_\d{2})-(.+)\.parquet")


@dataclass(frozen=True, order=True)
class LakeFile:
    """A published file. Sorting orders files as their data was read (then full before changes)."""

    started_at: datetime  # UTC, naive; when the sync that wrote it began
    kind_rank: int
    dataset: str
    kind: FileKind

    @staticmethod
    def new(dataset: str, kind: FileKind, started_at: datetime) -> LakeFile:
        if started_at.tzinfo is not None:
            started_at = started_at.astimezone(UTC).replace(tzinfo=None)
        return LakeFile(
            started_at.replace(microsecond=0), 0 if kind == FULL_SYNC else 1, dataset, kind
        )

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.started_at.strftime(_STAMP)}-{self.dataset}.parquet"

    @property
    def relative_path(self) -> str:
        return f"{self.dataset}/{self.name}"

    @staticmethod
    def parse(dataset: str, name: str) -> LakeFile | None:
        """The LakeFile for a file name of this dataset, or None for anything else."""
        m = _NAME.fullmatch(name)
        if not m or m.group(3) != dataset:
            return None
        kind: FileKind = m.group(1)  # type: ignore[assignment]
        return LakeFile.new(dataset, kind, datetime.strptime(m.group(2), _STAMP))
