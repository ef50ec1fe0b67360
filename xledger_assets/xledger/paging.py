"""Relay paging over an Xledger connection: follow the last edge's cursor to the end."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from xledger_assets.errors import PagingError
from xledger_assets.xledger.client import QueryTimedOutError, XledgerClient

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 10_000
MIN_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    """The nodes of one page, the cursor to resume after it, and the raw response data."""

    nodes: list[Any]
    last_cursor: str | None
    data: dict[str, Any]


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
) -> Iterator[Page]:
    """Yield pages until ``hasNextPage`` is false.

    ``root`` is the response key of the connection (an alias or the root field name).
    A cursor seen twice stops paging with an error instead of looping forever. A page that
    says there is more but carries no edges is asked for again a few times, then fails.
    """
    operation = operation or root
    seen: set[str] = set()
    if after is not None:
        seen.add(after)
    size = min(page_size, MAX_PAGE_SIZE)
    empty_retries = 0
    while True:
        try:
            data = client.execute(
                query, {**(variables or {}), "first": size, "after": after}, operation=operation
            )
        except QueryTimedOutError:
            if size <= MIN_PAGE_SIZE:
                raise
            size = max(MIN_PAGE_SIZE, size // 2)
            log.warning("Xledger timed out on %s; asking for pages of %d", operation, size)
            continue
        connection = data.get(root)
        if connection is None:
            raise PagingError(f"Xledger returned no {root} connection for {operation}")
        edges = connection.get("edges") or []
        has_next = bool((connection.get("pageInfo") or {}).get("hasNextPage"))
        if not edges:
            if has_next and empty_retries < empty_page_retries:
                empty_retries += 1
                continue
            if has_next:
                raise PagingError(
                    f"Xledger kept saying {operation} has more pages but sent no edges after "
                    f"cursor {after!r}"
                )
            yield Page([], after, data)
            return
        empty_retries = 0
        last = edges[-1].get("cursor") if isinstance(edges[-1], dict) else None
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
