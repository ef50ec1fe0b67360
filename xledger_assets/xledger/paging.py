"""Relay paging over an Xledger connection: follow the last edge's cursor to the end."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from xledger_assets.errors import PagingError
from xledger_assets.xledger.client import MIN_PAGE_SIZE, QueryTimedOutError, XledgerClient

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 10_000


@dataclass(frozen=True)
class FastPage:
    """A page that the ``fast_page`` hook of :func:`iter_pages` read from the raw response body
    itself: what paging needs, and the records in whatever form the hook made them."""

    has_next: bool
    last_cursor: str
    size: int  # edges on the page, at least 1
    records: Any


@dataclass(frozen=True)
class Page:
    """The nodes of one page, the cursor to resume after it, and the raw response data.

    A page the ``fast_page`` hook read carries it in ``fast``; its ``nodes`` and ``data`` are
    empty then (the records are in ``fast.records``).
    """

    nodes: list[Any]
    last_cursor: str | None
    data: dict[str, Any]
    fast: FastPage | None = None


def iter_pages(
    client: XledgerClient,
    query: str,
    *,
    root: str,
    after: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
    variables: Mapping[str, Any] | None = None,
    operation: str | None = None,
    empty_page_retries: int = 3,
    believe_empty_end: Callable[[dict[str, Any], str | None], bool] | None = None,
    fast_page: Callable[[bytes], FastPage | None] | None = None,
) -> Iterator[Page]:
    """Yield pages until ``hasNextPage`` is false.

    ``root`` is the response key of the connection (an alias or the root field name).
    A cursor seen twice stops paging with an error instead of looping forever. A page that
    says there is more but carries no edges, or that has no ``pageInfo.hasNextPage``, is asked
    for again a few times, then fails.

    A page without edges that ends the connection is asked for once more before it is believed:
    ``edges: null`` is also how a glitching answer looks, and believing it would silently drop
    a whole load (an empty first page) or its last page. ``believe_empty_end(data, after)``
    may vouch for such a page from the rest of the answer instead (the deltas query asks for the
    newest delta alongside), which saves that request.

    ``fast_page(body)`` may read a successful answer's raw body itself (see
    :meth:`XledgerClient.execute_fast`): a :class:`FastPage` it returns is a page of
    ``fast.size`` edges (the hook vouches that ``orjson.loads`` would have given a page with
    those edges, all objects, that ``hasNextPage`` and a string cursor on the last edge), and is
    yielded as ``Page([], last_cursor, {}, fast)`` with the same checks as any other page. When
    it returns None the answer is read and checked as usual, without another request.
    """
    operation = operation or root
    seen: set[str] = set()
    if after is not None:
        seen.add(after)
    size = min(page_size, MAX_PAGE_SIZE)
    empty_retries = 0
    malformed = 0
    confirmed_end = False
    while True:
        request = {**(variables or {}), "first": size, "after": after}
        try:
            answer: dict[str, Any] | FastPage = (
                client.execute(query, request, operation=operation)
                if fast_page is None
                else client.execute_fast(query, request, operation=operation, fast=fast_page)
            )
        except QueryTimedOutError:
            if size <= MIN_PAGE_SIZE:
                raise
            size = max(MIN_PAGE_SIZE, size // 2)
            log.warning("Xledger timed out on %s; asking for pages of %d", operation, size)
            continue
        if isinstance(answer, FastPage):
            # What the checks below conclude for a page of answer.size objects.
            malformed = 0
            empty_retries = 0
            confirmed_end = False
            last = answer.last_cursor
            has_next: Any = answer.has_next
            yield Page([], last, {}, answer)
        else:
            data = answer
            connection = data.get(root)
            page_info = connection.get("pageInfo") if isinstance(connection, dict) else None
            has_next = page_info.get("hasNextPage") if isinstance(page_info, dict) else None
            edges = connection.get("edges") if isinstance(connection, dict) else None
            if not isinstance(has_next, bool) or not isinstance(edges, list | None):
                what = (
                    f"no {root} connection"
                    if not isinstance(connection, dict)
                    else "a page without pageInfo.hasNextPage"
                    if not isinstance(has_next, bool)
                    else "a page whose edges are not a list"
                )
                if malformed < empty_page_retries:
                    malformed += 1
                    log.warning("Xledger sent %s for %s; asking again", what, operation)
                    continue
                raise PagingError(
                    f"Xledger sent {what} for {operation} after cursor {after!r}, "
                    f"{malformed + 1} times; stopped"
                )
            malformed = 0
            edges = edges or []
            if not edges:
                if has_next and empty_retries < empty_page_retries:
                    empty_retries += 1
                    continue
                if has_next:
                    raise PagingError(
                        f"Xledger kept saying {operation} has more pages but sent no edges after "
                        f"cursor {after!r}"
                    )
                believed = believe_empty_end is not None and believe_empty_end(data, after)
                if not believed and not confirmed_end:
                    confirmed_end = True
                    continue
                yield Page([], after, data)
                return
            empty_retries = 0
            confirmed_end = False
            if not all(isinstance(e, dict) for e in edges):
                raise PagingError(f"Xledger sent an edge that is not an object in {operation}")
            last = edges[-1].get("cursor")
            if not isinstance(last, str) and not isinstance(last, int):
                raise PagingError(f"Xledger sent an edge without a cursor in {operation}")
            last = str(last)
            yield Page([e.get("node") for e in edges], last, data)
        if not has_next:
            return
        if last in seen:
            raise PagingError(
                f"Xledger repeated the cursor {last!r} while paging {operation}; stopped "
                "instead of looping"
            )
        seen.add(last)
        after = last


def prefetch_pages(pages: Iterator[Page], *, depth: int = 1) -> Generator[Page, None, None]:
    """Yield the pages of ``pages`` while a background thread already fetches the next ones.

    At most ``depth`` fetched pages wait in between (plus the one being fetched), so memory
    stays bounded by a few pages. Waiting for the network and Arrow's parquet writing release
    the GIL, so fetching page n+1 overlaps converting and writing page n. An error of the
    fetching side is raised here, after the pages before it; when the consumer stops early
    (an exception, or ``close()``), the thread stops after the request in flight and is joined
    before this generator finishes.
    """
    with _short_gil_turns():
        yield from _prefetch(pages, depth)


# While a prefetch runs, the fetching thread needs the GIL back after every socket read (httpx
# reads 64 KiB at a time) while the other thread holds it converting a page; with Python's
# default 5 ms switch interval that waiting costs more than the fetch itself (a convoy). 1 ms
# while any prefetch is active; the previous interval comes back when the last one ends.
_SWITCH_INTERVAL = 0.001
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.005


@contextmanager
def _short_gil_turns() -> Iterator[None]:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, _SWITCH_INTERVAL))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


def _prefetch(pages: Iterator[Page], depth: int) -> Iterator[Page]:
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="xledger-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "page":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        worker.join()
