"""The hot path of a full load: pages of one connection in, typed record batches out.

Kept apart from the engine so the engine only decides *what* to read and *where* it goes;
this module decides *how* a page becomes a batch as fast as it can.

A page's raw body is read by ``pyarrow.json`` (C++, without the GIL) straight into the
converter's struct of nodes, in the thread that fetches the pages, so fetching page n+1 no
longer competes for the GIL with converting page n (``orjson.loads`` and ``pa.array`` of the
nodes hold it). This is only done when the result is provably the one ``orjson.loads`` and
:meth:`RecordConverter.batch` give (see :class:`ArrowPages`); any other body takes the usual
way, from the bytes already downloaded: no request is ever repeated for it.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.json as pa_json

from xledger_assets.sync.checkpoints import checkpoint
from xledger_assets.sync.convert import RecordConverter
from xledger_assets.xledger.client import XledgerClient
from xledger_assets.xledger.paging import FastPage, iter_pages, prefetch_pages

log = logging.getLogger(__name__)

# JSON whitespace, then the object: a byte order mark (which pyarrow.json skips and orjson
# refuses) or anything else in front is left to orjson. This check also keeps a body that is
# just ``null`` away from pyarrow.json: with an explicit schema, pyarrow 26 crashes on it
# (a segmentation fault, not an error).
_OBJECT_START = re.compile(rb"[ \t\r\n]*\{")
_MAX_BLOCK = 2**31 - 2  # pyarrow.json's block size is an int32; the body must be one block
_MAX_TRIES = 16  # reads of one page with other wire kinds, at most


def full_batches(
    client: XledgerClient,
    query: str,
    *,
    root: str,
    converter: RecordConverter,
    page_size: int,
) -> Iterator[pa.RecordBatch]:
    """One batch per non-empty page of ``root`` (every row ``ADDED``), in paging order.

    The next page is fetched (and, where exact, read into Arrow) while this one is converted
    and written by the caller.
    """
    pages = prefetch_pages(
        iter_pages(
            client,
            query,
            root=root,
            page_size=page_size,
            operation=root,
            fast_page=ArrowPages(root, converter),
        ),
        depth=1,
    )
    try:
        for page in pages:
            checkpoint("sync.page_read")
            if page.fast is not None:
                nodes = page.fast.records
                yield converter.batch_from_struct(nodes, ["ADDED"] * len(nodes))
                continue
            if not page.nodes:
                continue
            yield converter.batch(page.nodes, ["ADDED"] * len(page.nodes))
    finally:
        pages.close()


class ArrowPages:
    """The ``fast_page`` hook of :func:`iter_pages` for one connection: a successful answer's
    raw body read by ``pyarrow.json`` into a :class:`FastPage` whose records are the nodes as a
    struct array of a page type of the converter (for
    :meth:`RecordConverter.batch_from_struct`), or None when that would not be exact.

    The read is strict: an explicit schema of exactly what the query selects (``data.<root>``
    with ``edges { cursor node { ... } }`` and ``pageInfo { hasNextPage }``, plus ``errors``
    typed null), every other field an error, each leaf of a node typed by a wire kind (those the
    last page was read with; at first the converter's). pyarrow.json then fails on a value of
    another JSON type (a number where a string is expected, a string or a fraction or more than
    64 bits where an integer is expected, ...), on a key given twice, on a syntax error, on a
    surrogate escape without its pair. What it
    accepts, ``orjson.loads`` reads as the same values, given the checks pyarrow.json does not
    do: the body is valid UTF-8 (everywhere), starts with ``{`` (no byte order mark) and is one
    JSON document. NaN and Infinity, which pyarrow.json would take, cannot hide in a field it
    skips (there are none) and fail the typed ones. A body with ``errors`` (anything but null),
    without ``data`` or the connection, with ``edges`` null or empty, a null edge, no
    ``hasNextPage`` or no cursor on the last edge is left to the usual checks.

    When the read fails on a leaf of another JSON kind that the fast path also converts (an id
    sent as text instead of a number, say), the page is read again with that kind for that
    leaf, a few times at most: pages of new wire kinds (the first one of a load, for one) go
    this way too; a leaf of mixed kinds, floats, integers beyond 64 bits do not.
    """

    def __init__(self, root: str, converter: RecordConverter, *, use_threads: bool = False) -> None:
        self.root = root
        self.converter = converter
        # pyarrow.json's own threads barely help with one block (the page), and cost memory:
        # the prefetch thread already runs beside the conversion.
        self.use_threads = use_threads
        self._schemas: dict[pa.StructType, pa.Schema] = {}
        self._last: pa.StructType | None = None  # the node type the last page was read with
        self._mismatch = re.compile(
            rf"Column\(/data/{re.escape(root)}/edges/\[\]/node/([A-Za-z0-9_/]+)\) "
            r"changed from \w+ to (\w+)"
        )

    def __call__(self, body: bytes) -> FastPage | None:
        node_type = self._last or self.converter.page_type()
        if node_type is None or not 0 < len(body) <= _MAX_BLOCK:
            return None
        try:
            if not _OBJECT_START.match(body) or not _valid_utf8(body):
                return None
            tried = {node_type}
            while len(tried) <= _MAX_TRIES:
                try:
                    page = self._read(body, node_type)
                except pa.ArrowInvalid as exc:
                    # A value of another JSON kind than expected (or a broken body). Where
                    # pyarrow.json names the leaf and the kind, read the page again with that
                    # leaf as that kind (each read is as strict as the first): a page of new
                    # wire kinds (the first page of a load, say) still goes this way.
                    newer = self._retype(node_type, str(exc))
                    if newer is None or newer in tried:
                        return None
                    tried.add(newer)
                    node_type = newer
                    continue
                if page is not None:
                    self._last = node_type
                return page
        except Exception:  # anything unexpected: the usual way is always right
            log.debug("pyarrow.json could not read a page of %s", self.root, exc_info=True)
        return None

    def _retype(self, node_type: pa.StructType, message: str) -> pa.StructType | None:
        found = self._mismatch.search(message)
        if found is None:
            return None
        path, json_kind = found.group(1).replace("/", "."), found.group(2)
        return self.converter.page_type_with(node_type, path, json_kind)

    def _schema(self, node_type: pa.StructType) -> pa.Schema:
        schema = self._schemas.get(node_type)
        if schema is None:
            edge = pa.struct([pa.field("cursor", pa.string()), pa.field("node", node_type)])
            connection = pa.struct(
                [
                    pa.field("edges", pa.list_(edge)),
                    pa.field("pageInfo", pa.struct([pa.field("hasNextPage", pa.bool_())])),
                ]
            )
            schema = pa.schema(
                [
                    pa.field("data", pa.struct([pa.field(self.root, connection)])),
                    pa.field("errors", pa.null()),
                ]
            )
            if len(self._schemas) >= 64:  # wire kinds that keep changing: keep a few
                self._schemas = {}
            self._schemas[node_type] = schema
        return schema

    def _read(self, body: bytes, node_type: pa.StructType) -> FastPage | None:
        table = pa_json.read_json(
            pa.py_buffer(body),
            read_options=pa_json.ReadOptions(
                use_threads=self.use_threads, block_size=len(body) + 1
            ),
            parse_options=pa_json.ParseOptions(
                explicit_schema=self._schema(node_type), unexpected_field_behavior="error"
            ),
        )
        if table.num_rows != 1:  # several JSON documents, or only whitespace
            return None
        data = table.column("data").combine_chunks()
        if data.null_count:
            return None
        connection = data.field(0)
        if connection.null_count:
            return None
        page_info = connection.field("pageInfo")
        edges = connection.field("edges")
        if page_info.null_count or edges.null_count:
            return None
        has_next = page_info.field("hasNextPage")[0].as_py()
        edge_array = edges.flatten()
        size = len(edge_array)
        if not isinstance(has_next, bool) or size == 0 or edge_array.null_count:
            return None
        last = edge_array.field("cursor")[size - 1].as_py()
        if not isinstance(last, str):
            return None
        nodes = edge_array.field("node")
        if nodes.type != node_type:
            return None
        return FastPage(has_next=has_next, last_cursor=last, size=size, records=nodes)


def _valid_utf8(body: bytes) -> bool:
    """The whole body is UTF-8 (checked by Arrow, without the GIL); orjson refuses any other."""
    offsets = pa.py_buffer(struct.pack("<qq", 0, len(body)))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(body)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True
