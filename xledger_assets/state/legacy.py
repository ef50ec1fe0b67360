"""The predecessor app's sync state, and how it becomes a :class:`SyncState`.

The predecessor kept three App Configuration keys per dataset, without label:

* ``<dataset>-deltas_cursor``: the newest delta cursor it had synced;
* ``<dataset>-initial_sync_complete``: ``true`` once its first full load had finished;
* ``<dataset>-initial_sync_cursor``: the cursor taken at that full load.

Rule: a dataset whose initial sync is complete and that has a cursor (``deltas_cursor``, else
``initial_sync_cursor``) is imported as ``SyncState(cursor=<that cursor>, mode="changes",
last_success=<import time>, last_file=None)``, so the next sync continues with changes instead of
a full load. Anything else (no keys, an incomplete initial sync, no cursor) imports nothing and
the next run is a full load. The old keys are never changed or deleted.

Values are read leniently: surrounding whitespace and JSON string quotes are removed;
``true``/``1``/``yes`` (any case, or JSON ``true``) mean complete; empty, ``null`` and ``None``
mean no cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from xledger_assets.state.base import SyncState

DELTAS_CURSOR = "deltas_cursor"
INITIAL_SYNC_COMPLETE = "initial_sync_complete"
INITIAL_SYNC_CURSOR = "initial_sync_cursor"
SUFFIXES = (DELTAS_CURSOR, INITIAL_SYNC_COMPLETE, INITIAL_SYNC_CURSOR)

ImportOutcome = Literal["imported", "exists", "none"]


def legacy_key(dataset: str, suffix: str) -> str:
    return f"{dataset}-{suffix}"


def legacy_keys(dataset: str) -> list[str]:
    return [legacy_key(dataset, s) for s in SUFFIXES]


def _unquote(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text[1:-1]
        text = str(decoded).strip()
    return text


def parse_cursor(value: str | None) -> str | None:
    text = _unquote(value)
    if text is None or text == "" or text.lower() in ("null", "none"):
        return None
    return text


def parse_flag(value: str | None) -> bool | None:
    """None when the key is absent; otherwise whether it says true."""
    text = _unquote(value)
    if text is None:
        return None
    return text.lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class LegacyState:
    dataset: str
    deltas_cursor: str | None
    initial_sync_complete: bool | None  # None: the key does not exist
    initial_sync_cursor: str | None

    @property
    def cursor(self) -> str | None:
        return self.deltas_cursor or self.initial_sync_cursor

    @property
    def source_key(self) -> str:
        suffix = DELTAS_CURSOR if self.deltas_cursor else INITIAL_SYNC_CURSOR
        return legacy_key(self.dataset, suffix)

    @property
    def importable(self) -> bool:
        return bool(self.initial_sync_complete) and self.cursor is not None

    @property
    def reason(self) -> str:
        """Why it is or is not imported, in words."""
        if self.importable:
            return f"initial sync complete, cursor from {self.source_key}"
        if not self.initial_sync_complete:
            return f"{legacy_key(self.dataset, INITIAL_SYNC_COMPLETE)} is not true"
        return "no cursor"

    def to_sync_state(self, now: datetime | None = None) -> SyncState:
        if not self.importable:
            raise ValueError(f"the legacy state of {self.dataset} is not importable")
        when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        return SyncState(
            dataset=self.dataset,
            cursor=self.cursor,
            mode="changes",
            last_success=when.isoformat(),
            last_file=None,
        )


def read_legacy_state(read_value: Callable[[str], str | None], dataset: str) -> LegacyState | None:
    """The predecessor's keys of ``dataset`` through ``read_value(key) -> value or None``;
    None when none of the keys exists."""
    raw = {s: read_value(legacy_key(dataset, s)) for s in SUFFIXES}
    if all(v is None for v in raw.values()):
        return None
    return LegacyState(
        dataset=dataset,
        deltas_cursor=parse_cursor(raw[DELTAS_CURSOR]),
        initial_sync_complete=parse_flag(raw[INITIAL_SYNC_COMPLETE]),
        initial_sync_cursor=parse_cursor(raw[INITIAL_SYNC_CURSOR]),
    )


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    outcome: ImportOutcome  # imported; exists (a state was already there); none (nothing to import)
    state: SyncState | None  # the dataset's state afterwards
    legacy: LegacyState | None  # what the predecessor's keys said (None: no keys, or not read)
