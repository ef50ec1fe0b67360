"""Sync state: per dataset, the delta cursor to resume from and what the last sync did.

A state is only ever committed after the file holding its changes is published, and a commit
names the state it replaces (optimistic concurrency): a run that lost a race fails instead of
moving a newer cursor backwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class SyncState:
    """What the last successful sync of one dataset left behind."""

    dataset: str
    cursor: str | None  # newest delta cursor covered by the lake (None: no deltas yet)
    mode: str  # "full" or "changes": what the last sync did
    last_success: str  # ISO-8601 UTC time the last successful sync began
    last_file: str | None  # lake path of the last file written (None if it wrote none)
    version: int = 0  # increases with every commit; what optimistic concurrency compares

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> SyncState:
        return SyncState(
            dataset=str(data["dataset"]),
            cursor=None if data.get("cursor") is None else str(data["cursor"]),
            mode=str(data.get("mode", "full")),
            last_success=str(data["last_success"]),
            last_file=data.get("last_file"),
            version=int(data.get("version", 0)),
        )

    @property
    def last_success_at(self) -> datetime:
        parsed = datetime.fromisoformat(self.last_success)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class StateStore(ABC):
    """Where SyncStates live (a local JSON file, Azure App Configuration)."""

    url: str

    @abstractmethod
    def get(self, dataset: str) -> SyncState | None: ...

    @abstractmethod
    def all(self) -> dict[str, SyncState]: ...

    @abstractmethod
    def commit(self, new: SyncState, expected: SyncState | None) -> SyncState:
        """Store ``new`` if the current state is still ``expected``; returns the stored state
        (with its new version). Raises StateConflictError otherwise."""

    @abstractmethod
    def reset(self, dataset: str) -> bool:
        """Forget a dataset's state (the next auto run is a full load)."""

    @abstractmethod
    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        """Hold the dataset's sync lock; SyncError if another sync holds it."""
        yield
