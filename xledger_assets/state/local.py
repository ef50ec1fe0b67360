"""Sync state in one local JSON file (``XLEDGER_STATE_URL`` a path).

Writes replace the whole file atomically (temp file, fsync, rename) under an exclusive
``fcntl`` lock, so concurrent processes never see or produce a half-written document.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xledger_assets.errors import StateConflictError, StateError, SyncError
from xledger_assets.state.base import StateStore, SyncState
from xledger_assets.sync.checkpoints import checkpoint

FORMAT_VERSION = 1


class LocalStateStore(StateStore):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        self.url = str(self.path)

    def _ensure_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of the state file {self.path} (XLEDGER_STATE_URL): "
                f"{exc.strerror}"
            ) from None

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        self._ensure_folder()
        with open(self.path.with_name(self.path.name + ".lock"), "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return {"format": FORMAT_VERSION, "datasets": {}}
        except OSError as exc:
            raise StateError(
                f"cannot read the state file {self.path} (XLEDGER_STATE_URL): {exc.strerror}"
            ) from None
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), dict):
                raise ValueError("no datasets object")
        except ValueError as exc:
            raise StateError(
                f"the state file {self.path} (XLEDGER_STATE_URL) is not a valid state document "
                f"({exc}); fix it or move it away (the next runs then do full loads)"
            ) from None
        return doc

    def _write(self, doc: dict[str, Any]) -> None:
        """Replace the document atomically. Called under the file lock: no other writer is
        between its temp file and the rename, so any temp file still there was left by a
        process that died in between, and is removed."""
        for stale in self.path.parent.glob(f"{glob.escape(self.path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            checkpoint("state.temp_written")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, dataset: str) -> SyncState | None:
        raw = self._read()["datasets"].get(dataset)
        return SyncState.from_json(raw) if raw else None

    def all(self) -> dict[str, SyncState]:
        return {k: SyncState.from_json(v) for k, v in self._read()["datasets"].items()}

    def commit(self, new: SyncState, expected: SyncState | None) -> SyncState:
        with self._file_lock():
            doc = self._read()
            raw = doc["datasets"].get(new.dataset)
            current = SyncState.from_json(raw) if raw else None
            if (current.version if current else None) != (expected.version if expected else None):
                raise StateConflictError(
                    f"the sync state of {new.dataset} changed while this run was syncing "
                    f"(another run committed version {current.version if current else None}); "
                    "the newer state was kept and this run's cursor was not stored"
                )
            stored = SyncState(
                **{**new.to_json(), "version": (current.version if current else 0) + 1}
            )
            doc["datasets"][new.dataset] = stored.to_json()
            doc["format"] = FORMAT_VERSION
            self._write(doc)
            return stored

    def reset(self, dataset: str) -> bool:
        with self._file_lock():
            doc = self._read()
            existed = doc["datasets"].pop(dataset, None) is not None
            self._write(doc)
            return existed

    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        self._ensure_folder()
        lock_path = self.path.with_name(f"{self.path.name}.{dataset}.sync-lock")
        with open(lock_path, "a") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SyncError(
                    f"another sync of {dataset} is running (it holds {lock_path}); "
                    "wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
