"""Deltas that the delta sensor already read, handed to the run it starts.

The sensor's one request per tick reads, for every dataset, the deltas after its stored cursor
(up to :data:`HANDOFF_LIMIT`). When that read is complete (it reached the newest delta Xledger
reported, no further page), the run does not need to read them again: the sensor puts them in
the run config, and the run's only request is one combined re-fetch of the ADDED and UPDATED
records of all its datasets (:class:`xledger_assets.sync.batch.ChangesBatch`).

A handoff that is not ``complete`` (the deltas did not fit, or Xledger refused the stored
cursor) only carries the newest delta cursor: a full load stores it instead of asking again.

A handoff is only used when it continues the stored cursor (``after`` equals the cursor under
the dataset's lock): if another sync moved the cursor in between, the run reads the deltas
itself. A handoff without changes (``after == until``) is a keep-alive: the sensor saw that a
quiet dataset has no deltas after its cursor, and the run records that, so ``auto`` does not
mistake a quiet weekend for an expired delta window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from xledger_assets.errors import PagingError, SyncError, ValueConversionError
from xledger_assets.sync.convert import db_id_of

#: The most deltas a sensor reads per dataset and hands over; more are read by the run itself.
HANDOFF_LIMIT = 1000
KINDS = ("ADDED", "UPDATED", "DELETED")
_VERSION = 1


@dataclass(frozen=True)
class DeltaHandoff:
    dataset: str
    after: str | None  # the stored cursor these deltas follow (None: from the oldest)
    until: str | None  # the newest delta cursor read (== after: no change, a keep-alive)
    read_at: datetime  # when Xledger answered (UTC)
    changes: tuple[tuple[int, str], ...]  # (dbId, latest mutationType), oldest latest first
    #: whether ``changes`` holds every delta from ``after`` to ``until``; an incomplete handoff
    #: only tells a full load the newest cursor (read before the run), never a changes sync
    complete: bool = True

    @property
    def keep_alive(self) -> bool:
        return not self.changes

    def to_config(self) -> str:
        return orjson.dumps(
            {
                "v": _VERSION,
                "dataset": self.dataset,
                "after": self.after,
                "until": self.until,
                "read_at": self.read_at.isoformat(),
                "changes": [[i, k] for i, k in self.changes],
                "complete": self.complete,
            }
        ).decode()

    @staticmethod
    def from_config(text: str, dataset: str) -> DeltaHandoff:
        """Parse the run config's ``handoff``; a malformed one fails naming what is wrong."""
        where = f"the run config's handoff of {dataset}"
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise SyncError(f"{where} is not JSON (it is written by the delta sensor)") from None
        if not isinstance(raw, dict) or raw.get("v") != _VERSION:
            raise SyncError(f"{where} is not a version {_VERSION} handoff object")
        if raw.get("dataset") != dataset:
            raise SyncError(f"{where} is for the dataset {raw.get('dataset')!r}")
        after, until, read_at = raw.get("after"), raw.get("until"), raw.get("read_at")
        if not isinstance(after, str | None) or not isinstance(until, str | None):
            raise SyncError(f"{where} has no after/until cursors")
        try:
            when = datetime.fromisoformat(str(read_at))
        except ValueError:
            raise SyncError(f"{where} has read_at {read_at!r}, not an ISO date-time") from None
        changes = raw.get("changes")
        if not isinstance(changes, list):
            raise SyncError(f"{where} has no list of changes")
        parsed: list[tuple[int, str]] = []
        for item in changes:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], int)
                or isinstance(item[0], bool)
                or item[1] not in KINDS
            ):
                raise SyncError(f"{where} has a change {item!r} that is not [dbId, kind]")
            parsed.append((item[0], item[1]))
        if len({i for i, _ in parsed}) != len(parsed):
            raise SyncError(f"{where} names a dbId twice")
        complete = raw.get("complete", True)
        if not isinstance(complete, bool) or (not complete and parsed):
            raise SyncError(f"{where} has complete={complete!r}")
        return DeltaHandoff(
            dataset=dataset,
            after=after,
            until=until,
            read_at=when if when.tzinfo else when.replace(tzinfo=UTC),
            changes=tuple(parsed),
            complete=complete,
        )


def newest_only(
    dataset: str, after: str | None, newest: str | None, read_at: datetime
) -> DeltaHandoff:
    """What the sensor knows when it could not read the deltas themselves: the newest cursor."""
    return DeltaHandoff(dataset, after, newest, read_at, (), complete=False)


def handoff_from_page(
    dataset: str,
    after: str | None,
    newest: str | None,
    connection: Any,
    read_at: datetime,
) -> DeltaHandoff | None:
    """A handoff from the sensor's page of deltas after ``after``, or None when the page cannot
    be trusted to hold all of them (more pages, the newest delta not reached, an odd shape):
    the run then reads the deltas itself."""
    if not isinstance(connection, Mapping):
        return None
    info = connection.get("pageInfo")
    if not isinstance(info, Mapping) or info.get("hasNextPage") is not False:
        return None
    edges = connection.get("edges")
    if edges is None:
        edges = []
    if not isinstance(edges, Sequence) or len(edges) > HANDOFF_LIMIT:
        return None
    if not edges:  # nothing after the cursor: a keep-alive, if that is also the newest
        return DeltaHandoff(dataset, after, after, read_at, ()) if newest == after else None
    if newest is None:
        return None
    latest: dict[int, str] = {}
    cursors: list[str] = []
    for edge in edges:
        if not isinstance(edge, Mapping) or edge.get("cursor") is None:
            return None
        try:
            note_delta(latest, edge.get("node"), dataset)
        except (PagingError, ValueConversionError):  # the run reads them and says what is wrong
            return None
        cursors.append(str(edge["cursor"]))
    if newest not in cursors or (after is not None and after in cursors):
        return None
    return DeltaHandoff(dataset, after, cursors[-1], read_at, tuple(latest.items()))


def note_delta(latest: dict[int, str], node: Any, dataset: str) -> None:
    """Record one delta node in ``latest`` (dbId -> mutationType): the latest mutation wins and
    moves the dbId to the end, so the order follows the latest mutations."""
    db_id = db_id_of(node, dataset)
    kind = node.get("mutationType") if isinstance(node, Mapping) else None
    if kind not in KINDS:
        raise PagingError(f"{dataset}: delta of dbId {db_id} has mutationType {kind!r}")
    latest.pop(db_id, None)
    latest[db_id] = str(kind)
