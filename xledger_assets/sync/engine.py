"""Full and changes syncs of one API dataset. Plain Python: no Dagster here.

A sync is staged (pages streamed into a local parquet file, memory bounded by one page), then
committed: the file is published under its final name and only then is the delta cursor stored.
A crash anywhere before the commit leaves the state where it was, so the next run redoes the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow.parquet as pq

from xledger_assets.catalog import ApiDataset
from xledger_assets.errors import (
    DeltaCursorExpiredError,
    PagingError,
    SyncError,
    ValueConversionError,
    XledgerApiError,
    XledgerAuthError,
    XledgerRateLimitError,
)
from xledger_assets.lake.base import Lake
from xledger_assets.lake.naming import FULL_SYNC, SYNC_CHANGES, LakeFile
from xledger_assets.state.base import StateStore, SyncState
from xledger_assets.sync.checkpoints import checkpoint
from xledger_assets.sync.convert import RecordConverter, db_id_of
from xledger_assets.sync.filters import render_filter
from xledger_assets.sync.handoff import DeltaHandoff, note_delta
from xledger_assets.sync.pages import full_batches
from xledger_assets.xledger import queries
from xledger_assets.xledger.client import XledgerClient
from xledger_assets.xledger.paging import MAX_PAGE_SIZE, iter_pages

if TYPE_CHECKING:
    from xledger_assets.sync.batch import ChangesBatch

SyncMode = Literal["auto", "full", "changes"]
MODES: tuple[str, ...] = ("auto", "full", "changes")

_EXPIRED_WORDS = ("expired", "invalid", "not valid", "unknown", "too old", "no longer", "not found")


@dataclass(frozen=True)
class SyncSettings:
    page_size: int = MAX_PAGE_SIZE
    refetch_chunk: int = 1000
    retention_margin: timedelta = timedelta(hours=48)
    owner_set: str | None = None
    compression: str = "snappy"


@dataclass
class StagedSync:
    """A sync that has read everything and written its file locally, not yet published."""

    dataset: str
    mode: str  # what was done: "full" or "changes"
    requested_mode: str
    reason: str
    started_at: datetime
    file: LakeFile | None  # None: nothing changed, no file
    staged_path: Path | None
    rows: int
    counts: dict[str, int]
    cursor_before: str | None
    cursor_after: str | None
    previous: SyncState | None
    requests: int
    bytes: int
    read_seconds: float
    #: when the data was known current, if earlier than ``started_at`` (deltas read by the sensor)
    success_at: datetime | None = None
    _resources: ExitStack = field(default_factory=ExitStack, repr=False)

    def release(self) -> None:
        self._resources.close()


@dataclass(frozen=True)
class SyncResult:
    dataset: str
    mode: str
    requested_mode: str
    reason: str
    file_uri: str | None
    file_bytes: int
    rows: int
    counts: dict[str, int]
    cursor_before: str | None
    cursor_after: str | None
    requests: int
    megabytes: float
    seconds: float
    state: SyncState


class SyncEngine:
    """Syncs API datasets from one Xledger client into one lake and state store."""

    def __init__(
        self,
        client: XledgerClient,
        lake: Lake,
        state: StateStore,
        *,
        settings: SyncSettings | None = None,
        log: logging.Logger | Any = None,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.lake = lake
        self.state = state
        self.settings = settings or SyncSettings()
        self.log = log or logging.getLogger(__name__)
        self._utcnow = utcnow
        self._sleep = sleep

    # -- public ------------------------------------------------------------------------------

    def run(
        self, dataset: ApiDataset, mode: str = "auto", batch: ChangesBatch | None = None
    ) -> SyncResult:
        """Stage and commit in one go."""
        staged = self.stage(dataset, mode, batch)
        return self.commit(staged)

    def stage(
        self, dataset: ApiDataset, mode: str = "auto", batch: ChangesBatch | None = None
    ) -> StagedSync:
        """Read and write the file locally, holding the dataset's lock until the commit.

        ``batch`` carries deltas the delta sensor already read (for this and other datasets of
        the same run) and re-fetches the changed records of all of them in one request.
        """
        if mode not in MODES:
            raise SyncError(f"unknown sync mode {mode!r}: use one of {', '.join(MODES)}")
        stack = ExitStack()
        stack.enter_context(self.state.lock(dataset.name))
        try:
            checkpoint("sync.locked")
            for stale in self.lake.clean_staging(dataset.name):
                self.log.info("%s: removed %s, left by a sync that died", dataset.name, stale.name)
            staged = self._stage_locked(dataset, mode, batch)
        except BaseException:
            stack.close()
            raise
        staged._resources.push(stack)
        return staged

    def commit(self, staged: StagedSync) -> SyncResult:
        return commit_staged(staged, self.lake, self.state)

    # -- planning ------------------------------------------------------------------------------

    def _plan(self, dataset: ApiDataset, mode: str, state: SyncState | None) -> tuple[str, str]:
        if mode == "full":
            return "full", "a full load was requested"
        if dataset.deltas_field is None:
            if mode == "changes":
                raise SyncError(
                    f"{dataset.name} has no delta endpoint, so it cannot sync changes; "
                    "use mode auto or full"
                )
            return "full", f"{dataset.name} has no delta endpoint: every run is a full load"
        if state is None:
            if mode == "changes":
                raise SyncError(
                    f"{dataset.name} has no sync state yet, so there is no delta cursor to "
                    "continue from; run a full load first (mode full or auto)"
                )
            return "full", "no sync state yet: first load"
        age = self._utcnow() - state.last_success_at
        if mode == "auto" and self._past_margin(state):
            hours = age.total_seconds() / 3600
            margin = self.settings.retention_margin.total_seconds() / 3600
            reason = (
                f"the last successful sync was {hours:.1f} h ago, more than the delta retention "
                f"margin of {margin:.0f} h: Xledger may have dropped deltas, so a full load runs"
            )
            self.log.warning("%s: %s", dataset.name, reason)
            return "full", reason
        return "changes", "continuing from the stored delta cursor"

    def _stage_locked(
        self, dataset: ApiDataset, mode: str, batch: ChangesBatch | None
    ) -> StagedSync:
        previous = self.state.get(dataset.name)
        chosen, reason = self._plan(dataset, mode, previous)
        handoff = self._usable_handoff(dataset, batch, previous)
        if chosen == "changes" and handoff is not None and handoff.complete:
            reason = (
                f"the delta sensor read {len(handoff.changes)} changes after the stored cursor"
                if handoff.changes
                else "the delta sensor saw no deltas after the stored cursor"
            )
        self.log.info("%s: %s sync (%s)", dataset.name, chosen, reason)
        if chosen == "changes":
            assert previous is not None
            try:
                if handoff is not None and handoff.complete and batch is not None:
                    return self._changes(dataset, mode, reason, previous, handoff, batch)
                return self._changes(dataset, mode, reason, previous)
            except DeltaCursorExpiredError as exc:
                if mode != "auto":
                    raise
                reason = f"{exc}; a full load runs instead"
                self.log.warning("%s: %s", dataset.name, reason)
        if handoff is not None:  # the newest delta the sensor read, before these records
            return self._full(dataset, mode, reason, previous, (handoff.until,))
        return self._full(dataset, mode, reason, previous)

    def _usable_handoff(
        self, dataset: ApiDataset, batch: ChangesBatch | None, previous: SyncState | None
    ) -> DeltaHandoff | None:
        """The sensor's handoff for this dataset, if it still continues the stored cursor."""
        handoff = batch.handoff(dataset.name) if batch is not None else None
        if handoff is None or previous is None:
            return None
        if handoff.after != previous.cursor:
            self.log.info(
                "%s: the deltas the sensor read follow %r, but the stored cursor is now %r; "
                "reading them again",
                dataset.name,
                handoff.after,
                previous.cursor,
            )
            return None
        return handoff

    # -- helpers -------------------------------------------------------------------------------

    def _past_margin(self, state: SyncState) -> bool:
        """Whether Xledger may have dropped deltas since the last successful sync."""
        return self._utcnow() - state.last_success_at > self.settings.retention_margin

    def _refetch_chunk(self) -> int:
        return max(1, min(self.settings.refetch_chunk, MAX_PAGE_SIZE))

    @staticmethod
    def _id_values(dataset: ApiDataset, ids: list[int]) -> list[Any]:
        """dbIds as ``dbId_in`` of this root field takes them (``Int64String`` or ``Int``)."""
        return [str(i) for i in ids] if dataset.id_list_type.startswith("Int64String") else ids

    def _start(self, dataset: ApiDataset) -> datetime:
        return self.lake.start_time(dataset.name, self._utcnow, self._sleep)

    def _filter(self, dataset: ApiDataset, started: datetime) -> str | None:
        return render_filter(dataset.fixed_filter, started.date())

    def _newest_delta_cursor(self, dataset: ApiDataset) -> str | None:
        if dataset.deltas_field is None:
            return None
        data = self.client.execute(
            queries.newest_delta_query([dataset]), operation=f"{dataset.deltas_field}(last: 1)"
        )
        return last_cursor(data.get(dataset.name))

    def _full(
        self,
        dataset: ApiDataset,
        requested: str,
        reason: str,
        previous: SyncState | None,
        newest: tuple[str | None] | None = None,
    ) -> StagedSync:
        started = self._start(dataset)
        meter_before = (self.client.meter.requests, self.client.meter.bytes)
        clock = time.monotonic()
        # The cursor is read before the records: changes made while paging are replayed next
        # time. ``newest``: the cursor the delta sensor read (before this run), which saves that.
        cursor = newest[0] if newest is not None else self._newest_delta_cursor(dataset)
        converter = RecordConverter(dataset.name, dataset.fields)
        query = queries.items_query(
            dataset, owner_set=self.settings.owner_set, fixed_filter=self._filter(dataset, started)
        )
        file = LakeFile.new(dataset.name, FULL_SYNC, started)
        path = self.lake.new_staging_path(dataset.name)
        rows = 0
        try:
            with pq.ParquetWriter(
                str(path), converter.schema, compression=self.settings.compression
            ) as writer:
                for batch in full_batches(
                    self.client,
                    query,
                    root=dataset.items_field,
                    converter=converter,
                    page_size=self.settings.page_size,
                ):
                    writer.write_batch(batch)
                    rows += batch.num_rows
                    checkpoint("sync.batch_written")
        except BaseException:
            self.lake.discard(path)
            raise
        checkpoint("sync.staged")
        return StagedSync(
            dataset=dataset.name,
            mode="full",
            requested_mode=requested,
            reason=reason,
            started_at=started,
            file=file,
            staged_path=path,
            rows=rows,
            counts={"ADDED": rows},
            cursor_before=previous.cursor if previous else None,
            cursor_after=cursor,
            previous=previous,
            requests=self.client.meter.requests - meter_before[0],
            bytes=self.client.meter.bytes - meter_before[1],
            read_seconds=time.monotonic() - clock,
        )

    def _read_deltas(
        self, dataset: ApiDataset, after: str | None
    ) -> tuple[dict[int, str], str | None]:
        """Latest mutation per dbId after ``after``, and the newest delta cursor read."""
        latest: dict[int, str] = {}
        newest_seen = after
        target: str | None = None  # the newest delta when paging began: paging must reach it
        reached = False
        try:
            for page in iter_pages(
                self.client,
                queries.deltas_query(dataset),
                root="page",
                after=after,
                page_size=self.settings.page_size,
                operation=str(dataset.deltas_field),
                # an empty page is the end if the newest delta is the one we resume after
                believe_empty_end=lambda data, at: last_cursor(data.get("newest")) == at,
            ):
                checkpoint("sync.page_read")
                if target is None:
                    target = last_cursor(page.data.get("newest"))
                for node in page.nodes:
                    note_delta(latest, node, dataset.name)
                if page.nodes:
                    newest_seen = page.last_cursor
                    cursors = {str(e.get("cursor")) for e in (page.data["page"].get("edges") or [])}
                    reached = reached or (target is not None and target in cursors)
        except XledgerApiError as exc:
            # Any request that carried a cursor can be refused, the first or a later page's.
            if newest_seen is not None and looks_expired(str(exc)):
                raise DeltaCursorExpiredError(
                    f"Xledger no longer accepts the stored delta cursor of {dataset.name} "
                    f"({exc}); deltas are kept for about 3 days. Run with mode full (auto does "
                    "this by itself)"
                ) from None
            raise
        if target is not None and target != after and not reached:
            raise PagingError(
                f"{dataset.name}: the deltas ended before the newest delta {target!r} that "
                "Xledger reported; a page was lost, so nothing was written"
            )
        return latest, newest_seen

    def _refetch(
        self, dataset: ApiDataset, ids: list[int], started: datetime
    ) -> Iterator[dict[str, Any]]:
        query = queries.refetch_query(
            dataset, owner_set=self.settings.owner_set, fixed_filter=self._filter(dataset, started)
        )
        chunk = self._refetch_chunk()
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            for page in iter_pages(
                self.client,
                query,
                root=dataset.items_field,
                page_size=min(len(part), self.settings.page_size),
                variables={"ids": self._id_values(dataset, part)},
                operation=f"{dataset.items_field}(dbId_in)",
            ):
                checkpoint("sync.page_read")
                yield from page.nodes

    def prefetch_changes(
        self, datasets: Sequence[ApiDataset], handoffs: Mapping[str, DeltaHandoff]
    ) -> dict[str, dict[int, Any]]:
        """Re-fetch the ADDED and UPDATED records of several datasets' handoffs in ONE request.

        Returns the nodes by dbId per dataset. A dataset is left out (its sync then re-fetches
        by itself) when its handoff no longer continues the stored cursor, a full load will run,
        it has more ids than one re-fetch chunk, or its part of the answer is not complete.
        A refused request leaves all out; token and credit problems are raised.
        """
        now = self._utcnow()
        chunk = self._refetch_chunk()
        wanted: list[tuple[ApiDataset, list[int]]] = []
        for d in datasets:
            handoff = handoffs.get(d.name)
            if handoff is None or not handoff.complete:
                continue
            ids = [i for i, k in handoff.changes if k != "DELETED"]
            state = self.state.get(d.name)
            if not ids or len(ids) > chunk or state is None or state.cursor != handoff.after:
                continue
            if self._past_margin(state):  # a full load will run
                continue
            wanted.append((d, ids))
        if not wanted:
            return {}
        query = queries.refetch_many_query(
            [(d, len(ids), self._filter(d, now)) for d, ids in wanted],
            owner_set=self.settings.owner_set,
        )
        variables = {f"ids_{d.name}": self._id_values(d, ids) for d, ids in wanted}
        names = ", ".join(d.name for d, _ in wanted)
        try:
            data = self.client.execute(query, variables, operation=f"re-fetch of {names}")
        except (XledgerAuthError, XledgerRateLimitError):
            raise
        except XledgerApiError as exc:
            self.log.warning(
                "the combined re-fetch of %s failed (%s); each re-fetches alone", names, exc
            )
            return {}
        out: dict[str, dict[int, Any]] = {}
        for d, ids in wanted:
            connection = data.get(d.name)
            info = connection.get("pageInfo") if isinstance(connection, dict) else None
            edges = connection.get("edges") if isinstance(connection, dict) else None
            if not isinstance(info, dict) or info.get("hasNextPage") is not False:
                continue
            if not isinstance(edges, list) or not all(isinstance(e, dict) for e in edges):
                continue
            keep = set(ids)
            nodes: dict[int, Any] = {}
            try:
                for edge in edges:
                    db_id = db_id_of(edge.get("node"), d.name)
                    if db_id in keep:
                        nodes[db_id] = edge["node"]
            except ValueConversionError:
                continue  # its own re-fetch raises the same, for its own step
            out[d.name] = nodes
        return out

    def _changes(
        self,
        dataset: ApiDataset,
        requested: str,
        reason: str,
        previous: SyncState,
        handoff: DeltaHandoff | None = None,
        batch: ChangesBatch | None = None,
    ) -> StagedSync:
        started = self._start(dataset)
        meter_before = (self.client.meter.requests, self.client.meter.bytes)
        clock = time.monotonic()
        prefetched: dict[int, Any] | None = None
        cursor: str | None
        if handoff is not None and batch is not None:
            latest, cursor = dict(handoff.changes), handoff.until
            prefetched = batch.take(self, dataset.name)
        else:
            latest, cursor = self._read_deltas(dataset, previous.cursor)
        counts = {"ADDED": 0, "UPDATED": 0, "DELETED": 0}
        file: LakeFile | None = None
        path: Path | None = None
        rows = 0
        if latest:
            converter = RecordConverter(dataset.name, dataset.fields)
            wanted = [i for i, k in latest.items() if k != "DELETED"]
            found: dict[int, dict[str, Any]] = {}
            fetched = (
                prefetched.values()
                if prefetched is not None
                else self._refetch(dataset, wanted, started)
            )
            for node in fetched:
                db_id = db_id_of(node, dataset.name)
                if db_id in latest:
                    found[db_id] = node
            missing = [i for i in wanted if i not in found]
            if missing:  # asked once more: a lost page must not turn live records into tombstones
                for node in self._refetch(dataset, missing, started):
                    db_id = db_id_of(node, dataset.name)
                    if db_id in latest:
                        found[db_id] = node
            file = LakeFile.new(dataset.name, SYNC_CHANGES, started)
            path = self.lake.new_staging_path(dataset.name)
            try:
                with pq.ParquetWriter(
                    str(path), converter.schema, compression=self.settings.compression
                ) as writer:
                    live_ids = [i for i in wanted if i in found]
                    step = max(1, self.settings.page_size)
                    for s in range(0, len(live_ids), step):
                        part = live_ids[s : s + step]
                        batch = converter.batch([found[i] for i in part], [latest[i] for i in part])
                        writer.write_batch(batch)
                        checkpoint("sync.batch_written")
                    gone = [i for i, k in latest.items() if k == "DELETED" or i not in found]
                    if gone:
                        writer.write_batch(converter.tombstones(gone))
                        checkpoint("sync.batch_written")
                    rows = len(live_ids) + len(gone)
                    for i in live_ids:
                        counts[latest[i]] += 1
                    counts["DELETED"] += len(gone)
            except BaseException:
                self.lake.discard(path)
                raise
            checkpoint("sync.staged")
        return StagedSync(
            dataset=dataset.name,
            mode="changes",
            requested_mode=requested,
            reason=reason if latest else "no changes since the stored delta cursor",
            started_at=started,
            success_at=min(started, handoff.read_at) if handoff is not None else None,
            file=file,
            staged_path=path,
            rows=rows,
            counts=counts,
            cursor_before=previous.cursor,
            cursor_after=cursor,
            previous=previous,
            requests=self.client.meter.requests - meter_before[0],
            bytes=self.client.meter.bytes - meter_before[1],
            read_seconds=time.monotonic() - clock,
        )


def commit_staged(staged: StagedSync, lake: Lake, state: StateStore) -> SyncResult:
    """Publish the file, then store the cursor (in that order), then release the lock."""
    try:
        file_uri = None
        file_bytes = 0
        if staged.file is not None and staged.staged_path is not None:
            file_bytes = staged.staged_path.stat().st_size
            checkpoint("lake.publish_before")
            lake.publish(staged.staged_path, staged.file)
            checkpoint("lake.published")
            file_uri = lake.uri(staged.file)
        new_state = SyncState(
            dataset=staged.dataset,
            cursor=staged.cursor_after,
            mode=staged.mode,
            last_success=(staged.success_at or staged.started_at).isoformat(),
            last_file=staged.file.relative_path
            if staged.file
            else (staged.previous.last_file if staged.previous else None),
        )
        stored = state.commit(new_state, staged.previous)
        checkpoint("state.committed")
        return SyncResult(
            dataset=staged.dataset,
            mode=staged.mode,
            requested_mode=staged.requested_mode,
            reason=staged.reason,
            file_uri=file_uri,
            file_bytes=file_bytes,
            rows=staged.rows,
            counts=dict(staged.counts),
            cursor_before=staged.cursor_before,
            cursor_after=staged.cursor_after,
            requests=staged.requests,
            megabytes=staged.bytes / 1_000_000,
            seconds=staged.read_seconds,
            state=stored,
        )
    finally:
        if staged.staged_path is not None:
            lake.discard(staged.staged_path)
        staged.release()


def last_cursor(connection: Any) -> str | None:
    if not isinstance(connection, dict):
        return None
    edges = connection.get("edges") or []
    if not edges or not isinstance(edges[-1], dict) or edges[-1].get("cursor") is None:
        return None
    return str(edges[-1]["cursor"])


def looks_expired(message: str) -> bool:
    """Whether Xledger's message says a delta cursor is no longer valid."""
    lowered = message.lower()
    return "cursor" in lowered and any(w in lowered for w in _EXPIRED_WORDS)
