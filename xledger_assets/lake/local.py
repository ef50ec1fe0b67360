"""A lake on the local file system (``XLEDGER_LAKE_URL`` a folder, default ``./lake``)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from xledger_assets.errors import LakeError
from xledger_assets.lake.base import Lake
from xledger_assets.lake.naming import LakeFile
from xledger_assets.sync.checkpoints import checkpoint

STAGING_FOLDER = ".staging"


class LocalLake(Lake):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def staging_dir(self) -> Path:
        # Same file system as the final folder, so publishing is a hard link: atomic and
        # refusing to replace an existing name.
        path = self.root / STAGING_FOLDER
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LakeError(
                f"cannot create the lake folder {self.root} (XLEDGER_LAKE_URL): {exc.strerror}"
            ) from None
        return path

    def list_files(self, dataset: str) -> list[LakeFile]:
        folder = self.root / dataset
        if not folder.is_dir():
            return []
        files = [LakeFile.parse(dataset, p.name) for p in folder.iterdir()]
        return sorted(f for f in files if f is not None)

    def publish(self, staged: Path, file: LakeFile) -> None:
        target = self.root / file.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(staged, target)
        except FileExistsError:
            raise LakeError(f"{target} already exists; lake files are never overwritten") from None
        checkpoint("lake.linked")
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        staged.unlink(missing_ok=True)

    def read_table(self, file: LakeFile) -> pa.Table:
        # Read from a path, not a Python file object (pyarrow can abort at exit otherwise).
        return pq.read_table(str(self.root / file.relative_path))

    def uri(self, file: LakeFile) -> str:
        return str(self.root / file.relative_path)
