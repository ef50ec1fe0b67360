"""The sandbox's data and logic: records, delta logs, clock, faults, meter and GraphQL execution.

No HTTP here: :class:`Sandbox.handle_graphql` turns a request body and headers into a
:class:`Reply` that the HTTP server (``server.py``) only has to write.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
    validate,
)

from .data import ENTITIES, SPAN_DAYS, EntitySpec, Generator, Pools, Record, entity_spec, fmt_dt
from .execution import execute_fast
from .faults import DEFAULT_STATUS_BODIES, MAINTENANCE_HTML, Fault, FaultQueue
from .scalars import load_schema

MAX_PAGE = 10000
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_SIZE = 50
DEFAULT_RETENTION = 3 * 86400
BAD_FORMAT_MESSAGE = (
    'Bad format for API Token. Expected header: "Authorization: token <your-token>"'
)
INVALID_TOKEN_MESSAGE = "Invalid API token: the token is unknown or has expired."
_TOKEN_RE = re.compile(r"token (\S+)")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_OR_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?")
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def xledger_now() -> datetime:
    """Wall-clock time in Xledger's zone (CET/CEST), naive, whole seconds."""
    try:
        now = datetime.now(ZoneInfo("Europe/Stockholm"))
    except Exception:  # pragma: no cover - no tz database
        now = datetime.now()
    return now.replace(tzinfo=None, microsecond=0)


class Clock:
    """The sandbox clock: wall time from ``start``, plus whatever tests advanced it by."""

    def __init__(self, start: datetime | None = None, running: bool = True) -> None:
        self.start = start or xledger_now()
        self.running = running
        self._t0 = time.monotonic()
        self._offset = 0.0

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._t0 if self.running else 0.0
        return self.start + timedelta(seconds=elapsed + self._offset)

    def advance(self, seconds: float) -> datetime:
        self._offset += seconds
        return self.now()


@dataclass(frozen=True)
class Delta:
    seq: int
    db_id: int
    mutation_type: str  # ADDED | UPDATED | DELETED
    at: datetime


@dataclass
class _EntityState:
    spec: EntitySpec
    gen: Generator
    records: dict[int, Record] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)  # sorted dbIds = oldest -> newest
    graveyard: dict[int, Record] = field(default_factory=dict)
    log: list[Delta] = field(default_factory=list)
    log_seqs: list[int] = field(default_factory=list)
    dropped_upto: int = 0  # highest seq dropped from the log (expired)


@dataclass
class Reply:
    """What to send back for one GraphQL POST."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    reset: bool = False  # close the socket without answering
    declared_length: int | None = None  # announce this Content-Length, send body, then close


def _new_meter() -> dict[str, Any]:
    return {"requests": 0, "bytes": 0, "errors": 0, "faults": 0, "by_root_field": {}, "routes": {}}


@lru_cache(maxsize=512)
def _prepare(query: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    """Parse and validate a query once (the client sends the same text over and over)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, (exc,)
    errors = validate(load_schema(), document)
    return document, tuple(errors)


def _root_fields(document: DocumentNode, operation_name: str | None) -> list[str]:
    """Names (not aliases) of the root fields the operation selects, first-seen order."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        return []
    out: list[str] = []
    seen_fragments: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value not in out:
                    out.append(sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in fragments and name not in seen_fragments:
                    seen_fragments.add(name)
                    walk(fragments[name].selection_set)

    walk(operations[0].selection_set)
    return out


def _encode_cursor(field_name: str, epoch: int, key: int) -> str:
    return base64.b64encode(f"{field_name}:{epoch}:{key}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, int, int] | None:
    try:
        text = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
        field_name, epoch, key = text.split(":")
        return field_name, int(epoch), int(key)
    except (ValueError, UnicodeError, binascii.Error):
        return None


def _set_path(record: Record, path: str, value: Any) -> Record:
    """A copy of ``record`` with the dotted ``path`` set, copying the dicts along the way."""
    head, _, rest = path.partition(".")
    out = dict(record)
    if not rest:
        out[head] = value
    else:
        out[head] = _set_path(out.get(head) or {}, rest, value)
    return out


def _days(seconds: float) -> str:
    if seconds % 86400 == 0:
        n = int(seconds // 86400)
        return f"{n} day{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


class Sandbox:
    """An in-memory Xledger: 8 entities, their delta logs, faults, a meter and a clock.

    Thread-safe: every method takes the sandbox lock. Records are never changed in place (a
    mutation stores a new dict), so pages handed to the executor stay consistent.
    """

    def __init__(
        self,
        seed: int = 1,
        size: int = DEFAULT_SIZE,
        sizes: Mapping[str, int] | None = None,
        token: str = DEFAULT_TOKEN,
        retention_seconds: float = DEFAULT_RETENTION,
        clock: Clock | None = None,
        null_empty_edges: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.token = token
        self.retention_seconds = retention_seconds
        self.null_empty_edges = null_empty_edges
        self.clock = clock or Clock()
        self.faults = FaultQueue()
        self._meter = _new_meter()
        self._seq = 0
        self._epoch = 0
        self.seed = seed
        self.size = size
        self._root_value = self._make_root_value()
        self.reset(seed=seed, size=size, sizes=sizes)

    # ------------------------------------------------------------------------------ setup

    def reset(
        self,
        seed: int | None = None,
        size: int | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        """Regenerate all data (empty delta logs), clear faults and the meter. Cursors handed
        out before the reset stop working. The clock keeps running."""
        with self.lock:
            self.seed = self.seed if seed is None else seed
            self.size = self.size if size is None else size
            self.sizes = {entity_spec(k).name: int(v) for k, v in (sizes or {}).items()}
            self._epoch += 1
            self.faults.clear()
            self._meter = _new_meter()
            today = self.clock.now().date()
            anchor = datetime(today.year, today.month, today.day)
            pools = Pools(self.seed, today)
            self._state: dict[str, _EntityState] = {}
            for name, spec in ENTITIES.items():
                gen = Generator(spec, pools, self.seed)
                state = _EntityState(spec, gen)
                for rec in gen.seed_records(
                    self.sizes.get(name, self.size), anchor, SPAN_DAYS[name]
                ):
                    db_id = int(rec["dbId"])
                    state.records[db_id] = rec
                    state.order.append(db_id)
                self._state[name] = state

    def set_token(self, token: str) -> None:
        """Replace the valid token (the old one becomes 'invalid or expired')."""
        with self.lock:
            self.token = token

    def _st(self, entity: str) -> _EntityState:
        return self._state[entity_spec(entity).name]

    # ------------------------------------------------------------------------------ clock

    def now(self) -> datetime:
        return self.clock.now()

    def advance_clock(self, seconds: float) -> datetime:
        """Move the sandbox clock forward; deltas older than the retention window expire."""
        with self.lock:
            now = self.clock.advance(seconds)
            for state in self._state.values():
                self._purge(state)
            return now

    def _purge(self, state: _EntityState) -> None:
        limit = self.clock.now() - timedelta(seconds=self.retention_seconds)
        n = 0
        while n < len(state.log) and state.log[n].at < limit:
            n += 1
        if n:
            self._drop(state, n)

    @staticmethod
    def _drop(state: _EntityState, n: int) -> None:
        state.dropped_upto = max(state.dropped_upto, state.log[n - 1].seq)
        del state.log[:n]
        del state.log_seqs[:n]

    def expire_deltas(self, entity: str | None = None) -> int:
        """Drop every current delta of ``entity`` (None: of all entities), as if they had aged
        out of the retention window; returns how many were dropped."""
        with self.lock:
            states = [self._st(entity)] if entity is not None else list(self._state.values())
            dropped = 0
            for state in states:
                n = len(state.log)
                if n:
                    self._drop(state, n)
                dropped += n
            return dropped

    # -------------------------------------------------------------------------- mutations

    def _log(self, state: _EntityState, db_id: int, mutation_type: str) -> None:
        self._seq += 1
        state.log.append(Delta(self._seq, db_id, mutation_type, self.clock.now()))
        state.log_seqs.append(self._seq)

    def add(self, entity: str, n: int = 1) -> list[int]:
        """Create ``n`` new records (newest dbIds); logs ADDED."""
        with self.lock:
            state = self._st(entity)
            self._purge(state)
            out = []
            for _ in range(n):
                db_id = state.gen.new_id()
                state.records[db_id] = state.gen.make(db_id, self.clock.now())
                state.order.append(db_id)  # new ids are always the largest
                self._log(state, db_id, "ADDED")
                out.append(db_id)
            return out

    def update(self, entity: str, n: int = 1) -> list[int]:
        """Change ``n`` random existing records (including modifiedAt); logs UPDATED."""
        with self.lock:
            state = self._st(entity)
            ids = state.gen.rng.sample(state.order, min(n, len(state.order)))
            return self.update_ids(entity, ids)

    def update_ids(
        self, entity: str, ids: Iterable[int], changes: Mapping[str, Any] | None = None
    ) -> list[int]:
        """Update these records: with ``changes`` ({"dotted.path": value}) exactly those values
        (plus modifiedAt), otherwise generated changes. Logs UPDATED."""
        with self.lock:
            state = self._st(entity)
            self._purge(state)
            out = []
            for raw in ids:
                db_id = int(raw)
                if db_id not in state.records:
                    raise KeyError(f"{state.spec.name}: no current record with dbId {db_id}")
                rec = state.records[db_id]
                now = self.clock.now()
                if changes is None:
                    rec = state.gen.change(rec, now)
                else:
                    if "modifiedAt" in rec:
                        rec = {**rec, "modifiedAt": fmt_dt(now)}
                    for path, value in changes.items():
                        rec = _set_path(rec, path, value)
                state.records[db_id] = rec
                self._log(state, db_id, "UPDATED")
                out.append(db_id)
            return out

    def delete(self, entity: str, n: int = 1) -> list[int]:
        """Delete ``n`` random records; logs DELETED."""
        with self.lock:
            state = self._st(entity)
            ids = state.gen.rng.sample(state.order, min(n, len(state.order)))
            return self.delete_ids(entity, ids)

    def delete_ids(self, entity: str, ids: Iterable[int]) -> list[int]:
        with self.lock:
            state = self._st(entity)
            self._purge(state)
            out = []
            for raw in ids:
                db_id = int(raw)
                if db_id not in state.records:
                    raise KeyError(f"{state.spec.name}: no current record with dbId {db_id}")
                state.graveyard[db_id] = state.records.pop(db_id)
                state.order.pop(bisect_left(state.order, db_id))
                self._log(state, db_id, "DELETED")
                out.append(db_id)
            return out

    def readd(self, entity: str, db_id: int) -> int:
        """Bring a deleted record back under its old dbId (and position); logs ADDED."""
        with self.lock:
            state = self._st(entity)
            self._purge(state)
            db_id = int(db_id)
            if db_id not in state.graveyard:
                raise KeyError(f"{state.spec.name}: dbId {db_id} was not deleted")
            rec = state.graveyard.pop(db_id)
            if "modifiedAt" in rec:
                rec = {**rec, "modifiedAt": fmt_dt(self.clock.now())}
            state.records[db_id] = rec
            state.order.insert(bisect_left(state.order, db_id), db_id)
            self._log(state, db_id, "ADDED")
            return db_id

    def mutate(
        self,
        entity: str,
        *,
        add: int = 0,
        update: int = 0,
        delete: int = 0,
        update_ids: Iterable[int] = (),
        delete_ids: Iterable[int] = (),
        readd: Iterable[int] = (),
        changes: Mapping[str, Any] | None = None,
    ) -> dict[str, list[int]]:
        """Several mutations at once, in this order: add, readd, update, update_ids, delete,
        delete_ids. Returns the affected dbIds per kind."""
        with self.lock:
            added = self.add(entity, add)
            readded = [self.readd(entity, i) for i in readd]
            updated = self.update(entity, update) + self.update_ids(entity, update_ids, changes)
            deleted = self.delete(entity, delete) + self.delete_ids(entity, delete_ids)
            return {"added": added, "updated": updated, "deleted": deleted, "readded": readded}

    # ---------------------------------------------------------------------------- reading

    def truth(self, entity: str, filter: Mapping[str, Any] | None = None) -> list[Record]:
        """The current records, oldest -> newest, as the API serializes them (JSON values),
        optionally narrowed by a filter dict like the GraphQL ``filter`` argument."""
        with self.lock:
            state = self._st(entity)
            ids = self._filtered_ids(state, filter) if filter else state.order
            records = [state.records[i] for i in ids]
        return orjson.loads(orjson.dumps(records))  # type: ignore[no-any-return]

    def ids(self, entity: str) -> list[int]:
        """Current dbIds, oldest -> newest."""
        with self.lock:
            return list(self._st(entity).order)

    def deleted_ids(self, entity: str) -> list[int]:
        with self.lock:
            return sorted(self._st(entity).graveyard)

    def delta_log(self, entity: str) -> list[dict[str, Any]]:
        """The retained deltas of ``entity``, oldest first, with the cursor of each."""
        with self.lock:
            state = self._st(entity)
            self._purge(state)
            return [
                {
                    "seq": d.seq,
                    "dbId": d.db_id,
                    "mutationType": d.mutation_type,
                    "at": fmt_dt(d.at),
                    "cursor": _encode_cursor(state.spec.deltas_field, self._epoch, d.seq),
                }
                for d in state.log
            ]

    # --------------------------------------------------------------------------- faults

    def add_fault(self, fault: Fault | Mapping[str, Any]) -> Fault:
        """Queue a fault (a :class:`Fault` or its JSON dict)."""
        f = fault if isinstance(fault, Fault) else Fault.from_dict(dict(fault))
        with self.lock:
            self.faults.push(f)
        return f

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def pending_faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return [f.to_dict() for f in self.faults.pending()]

    # ---------------------------------------------------------------------------- meter

    def meter(self) -> dict[str, Any]:
        """Requests and response bytes: totals and per root field (a copy)."""
        with self.lock:
            return orjson.loads(orjson.dumps(self._meter))  # type: ignore[no-any-return]

    def reset_meter(self) -> None:
        with self.lock:
            self._meter = _new_meter()

    def _record(
        self,
        root_fields: list[str],
        nbytes: int,
        *,
        error: bool,
        fault: bool,
        edges: Mapping[str, int] | None = None,
    ) -> None:
        with self.lock:
            m = self._meter
            m["requests"] += 1
            m["bytes"] += nbytes
            m["errors"] += int(error)
            m["faults"] += int(fault)
            for name in root_fields:
                per = m["by_root_field"].setdefault(name, {"requests": 0, "bytes": 0, "edges": 0})
                per["requests"] += 1
                per["bytes"] += nbytes
                per["edges"] += (edges or {}).get(name, 0)

    def record_route(self, prefix: str, nbytes: int) -> None:
        """Meter a request to an extra (non-GraphQL) route such as ``/Flex/``."""
        with self.lock:
            per = self._meter["routes"].setdefault(prefix, {"requests": 0, "bytes": 0})
            per["requests"] += 1
            per["bytes"] += nbytes

    # ------------------------------------------------------------------------ GraphQL

    def check_auth(self, authorization: str | None) -> str | None:
        """None if the header carries the valid token, else the error message."""
        match = _TOKEN_RE.fullmatch(authorization or "")
        if match is None:
            return BAD_FORMAT_MESSAGE
        if match.group(1) != self.token:
            return INVALID_TOKEN_MESSAGE
        return None

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        null_edges: bool = False,
        _edges: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """Validate and run a query (no auth, no faults, no meter): the response dict."""
        document, errors = _prepare(query)
        if errors or document is None:
            return {"errors": [e.formatted for e in errors]}
        context = {"null_edges": null_edges, "edges": _edges if _edges is not None else {}}
        result = execute_fast(
            load_schema(),
            document,
            root_value=self._root_value,
            context_value=context,
            variable_values=dict(variables) if variables is not None else None,
            operation_name=operation_name,
        )
        return result.formatted  # type: ignore[return-value]

    def handle_graphql(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        """One GraphQL POST: meter, faults, auth, execution. ``headers`` keys lower-case."""
        try:
            payload = orjson.loads(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
                raise ValueError("expected a JSON object with a string 'query'")
            variables = payload.get("variables")
            if variables is not None and not isinstance(variables, dict):
                raise ValueError("'variables' must be a JSON object")
            operation_name = payload.get("operationName")
        except ValueError as exc:
            out = orjson.dumps({"errors": [{"message": f"Invalid request body: {exc}"}]})
            self._record([], len(out), error=True, fault=False)
            return Reply(400, dict(JSON_HEADERS), out)

        query: str = payload["query"]
        document, _ = _prepare(query)
        roots = _root_fields(document, operation_name) if document is not None else []
        with self.lock:
            fault = self.faults.take(roots)
        delay = fault.delay if fault else 0.0

        if fault is not None and fault.kind not in ("slow", "null_edges", "truncated_json"):
            reply = self._fault_reply(fault)
            reply.delay = delay
            self._record(roots, len(reply.body), error=True, fault=True)
            return reply

        auth_error = self.check_auth(headers.get("authorization"))
        edges: dict[str, int] = {}
        if auth_error is not None:
            response: dict[str, Any] = {"errors": [{"message": auth_error}]}
        else:
            response = self.execute(
                query,
                variables,
                operation_name,
                null_edges=fault is not None and fault.kind == "null_edges",
                _edges=edges,
            )
        out = orjson.dumps(response)
        reply = Reply(200, dict(JSON_HEADERS), out, delay=delay)
        if fault is not None and fault.kind == "truncated_json":
            cut = max(1, int(len(out) * fault.cut)) if len(out) > 1 else 0
            reply.body = out[:cut]
            if fault.full_length:
                reply.declared_length = len(out)
        self._record(
            roots,
            len(reply.body),
            error="errors" in response,
            fault=fault is not None,
            edges=edges,
        )
        return reply

    def _fault_reply(self, fault: Fault) -> Reply:
        kind = fault.kind
        if kind == "connection_reset":
            return Reply(0, {}, b"", reset=True)
        if kind == "html":
            body = fault.body if fault.body is not None else MAINTENANCE_HTML
            ctype = fault.content_type or "text/html; charset=utf-8"
            return Reply(
                fault.status or 200, {"Content-Type": ctype, **(fault.headers or {})}, body.encode()
            )
        if kind == "http_status":
            status = fault.status or 500
            ctype, default_body = DEFAULT_STATUS_BODIES.get(
                status, ("text/plain; charset=utf-8", f"HTTP {status}")
            )
            body = fault.body if fault.body is not None else default_body
            headers = {"Content-Type": fault.content_type or ctype, **(fault.headers or {})}
            return Reply(status, headers, body.encode())
        # the graphql_error family and timeout
        now = self.clock.now()
        next_month = date(now.year + (now.month == 12), now.month % 12 + 1, 1)
        err = fault.error_object(default_reset_at=f"{next_month.isoformat()}T00:00:00")
        headers = {**JSON_HEADERS, **(fault.headers or {})}
        return Reply(fault.status or 200, headers, orjson.dumps({"errors": [err]}))

    # ----------------------------------------------------------------------- resolvers

    def _make_root_value(self) -> dict[str, Any]:
        root: dict[str, Any] = {}
        for spec in ENTITIES.values():
            root[spec.items_field] = self._items_resolver(spec)
            root[spec.deltas_field] = self._deltas_resolver(spec)
        return root

    @staticmethod
    def _page_args(first: int | None, last: int | None) -> None:
        for name, value in (("first", first), ("last", last)):
            if value is None:
                continue
            if value < 0:
                raise GraphQLError(f'"{name}" must not be negative, got {value}')
            if value > MAX_PAGE:
                raise GraphQLError(f'"{name}" must be at most {MAX_PAGE}, got {value}')

    @staticmethod
    def _slice(n: int, start: int, first: int | None, last: int | None) -> tuple[int, int, bool]:
        """Window [lo, hi) of ``n`` items after ``start`` and whether more follow it."""
        lo = start
        if first is None and last is None:
            first = MAX_PAGE
        hi = n if first is None else min(n, lo + first)
        if last is not None:
            lo = max(lo, hi - last)
        has_next = hi < n if first is not None else False
        return lo, hi, has_next

    def _connection(
        self,
        info: Any,
        field_name: str,
        edges: list[dict[str, Any]],
        has_next: bool,
        has_prev: bool,
    ) -> dict[str, Any]:
        context = info.context
        context["edges"][field_name] = context["edges"].get(field_name, 0) + len(edges)
        null = context["null_edges"] or (self.null_empty_edges and not edges)
        return {
            "edges": None if null else edges,
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": has_prev,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }

    def _bad_cursor(self, field_name: str, cursor: str) -> GraphQLError:
        return GraphQLError(f'Invalid cursor "{cursor}": not a cursor of {field_name}')

    def _filtered_ids(self, state: _EntityState, flt: Mapping[str, Any]) -> list[int]:
        ids: list[int] = state.order
        if flt.get("dbId_in") is not None:
            wanted = {int(i) for i in flt["dbId_in"]}
            ids = sorted(wanted.intersection(state.records))
        checks: list[tuple[str, str, bool]] = []
        for key, value in flt.items():
            if key == "dbId_in" or value is None:
                continue
            name, _, op = key.rpartition("_")
            if op not in ("gte", "lte") or not name:
                raise ValueError(f"unknown filter {key!r}")
            pattern = _DATE_RE if name == "assignmentDate" else _DATE_OR_DATETIME_RE
            if not isinstance(value, str) or not pattern.fullmatch(value):
                shape = "yyyy-MM-dd" if name == "assignmentDate" else "yyyy-MM-dd[THH:mm:ss]"
                raise GraphQLError(f"filter.{key}: expected a {shape} string, got {value!r}")
            checks.append((name, value, op == "gte"))
        if checks:
            records = state.records
            out = []
            for i in ids:
                rec = records[i]
                for name, value, gte in checks:
                    v = rec.get(name)
                    if v is None or (v < value if gte else v[: len(value)] > value):
                        break
                else:
                    out.append(i)
            ids = out
        return ids

    def _items_resolver(self, spec: EntitySpec) -> Any:
        field_name = spec.items_field

        def resolve(
            info: Any,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            ownerSet: str | None = None,
            filter: Mapping[str, Any] | None = None,
        ) -> dict[str, Any]:
            self._page_args(first, last)
            with self.lock:
                state = self._state[spec.name]
                epoch = self._epoch
                ids = self._filtered_ids(state, filter) if filter else state.order
                start = 0
                if after is not None:
                    decoded = _decode_cursor(after)
                    if decoded is None or decoded[0] != field_name or decoded[1] != epoch:
                        raise self._bad_cursor(field_name, after)
                    key = decoded[2]
                    if key not in state.records and key not in state.graveyard:
                        raise self._bad_cursor(field_name, after)
                    start = bisect_right(ids, key)
                lo, hi, has_next = self._slice(len(ids), start, first, last)
                page = ids[lo:hi]
                records = state.records
                edges = [
                    {"cursor": _encode_cursor(field_name, epoch, i), "node": records[i]}
                    for i in page
                ]
            return self._connection(info, field_name, edges, has_next, lo > 0)

        return resolve

    def _deltas_resolver(self, spec: EntitySpec) -> Any:
        field_name = spec.deltas_field
        as_id = str if spec.string_ids else int

        def resolve(
            info: Any,
            first: int | None = None,
            after: str | None = None,
            last: int | None = None,
            ownerSet: str | None = None,
        ) -> dict[str, Any]:
            self._page_args(first, last)
            with self.lock:
                state = self._state[spec.name]
                self._purge(state)
                epoch = self._epoch
                start = 0
                if after is not None:
                    decoded = _decode_cursor(after)
                    if decoded is None or decoded[0] != field_name:
                        raise self._bad_cursor(field_name, after)
                    seq = decoded[2]
                    idx = bisect_left(state.log_seqs, seq)
                    if (
                        decoded[1] == epoch
                        and idx < len(state.log_seqs)
                        and state.log_seqs[idx] == seq
                    ):
                        start = idx + 1
                    elif decoded[1] < epoch or (decoded[1] == epoch and seq <= state.dropped_upto):
                        raise GraphQLError(
                            f"Cursor has expired: deltas are kept for "
                            f"{_days(self.retention_seconds)}"
                        )
                    else:
                        raise self._bad_cursor(field_name, after)
                lo, hi, has_next = self._slice(len(state.log), start, first, last)
                edges = [
                    {
                        "cursor": _encode_cursor(field_name, epoch, d.seq),
                        "node": {"dbId": as_id(d.db_id), "mutationType": d.mutation_type},
                    }
                    for d in state.log[lo:hi]
                ]
            return self._connection(info, field_name, edges, has_next, lo > 0)

        return resolve
