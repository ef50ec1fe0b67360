"""The hot path of a full load: pages of one connection in, typed record batches out.

Kept apart from the engine so the engine only decides *what* to read and *where* it goes;
this module decides *how* a page becomes a batch as fast as it can.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from xledger_assets.sync.checkpoints import checkpoint
from xledger_assets.sync.convert import RecordConverter
from xledger_assets.xledger.client import XledgerClient
from xledger_assets.xledger.paging import iter_pages, prefetch_pages


def full_batches(
    client: XledgerClient,
    query: str,
    *,
    root: str,
    converter: RecordConverter,
    page_size: int,
) -> Iterator[pa.RecordBatch]:
    """One batch per non-empty page of ``root`` (every row ``ADDED``), in paging order.

    The next page is fetched while this one is converted and written by the caller.
    """
    pages = prefetch_pages(
        iter_pages(client, query, root=root, page_size=page_size, operation=root), depth=1
    )
    try:
        for page in pages:
            checkpoint("sync.page_read")
            if not page.nodes:
                continue
            yield converter.batch(page.nodes, ["ADDED"] * len(page.nodes))
    finally:
        pages.close()
