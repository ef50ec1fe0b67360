"""Xledger JSON nodes to typed Arrow batches, with the contract's columns and types.

Two paths give the same batch:

- **fast** (the hot path): the page's nodes go into Arrow in one call,
  ``pa.array(nodes, type=<struct of the catalog's fields>)``, with each leaf typed as it comes
  over the wire (text, a JSON number, a JSON bool); the struct is flattened into columns, which
  are then validated and cast by Arrow compute (regular expressions, casts, range checks), with
  no Python loop per row.
- **careful**: one Python value at a time (the original path). A column the fast path cannot
  convert *exactly* (a decimal sent as a JSON float, a date with a time part, an id that does
  not look like a plain integer, a zone suffix in an odd form, a value that does not fit) is
  converted this way, so the rules of the contract keep holding and an unfit value fails the
  sync naming dataset, column, dbId and value, exactly as before.

The fast path only accepts a column when Arrow's result is provably the careful path's result:
a cheap shape check (a length, or a pattern where Arrow's parsing is not enough), then Arrow's
own strict parsing (it rejects 2024-02-30, 24:00:00, ...), then range checks (years before 1,
int64, the decimal's 20 integer digits). ``xledger_assets_tests/unit/test_convert_fast.py``
checks fast == careful on random pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from xledger_assets.arrow_types import DECIMAL_TYPE, MUTATION_COLUMN, arrow_type
from xledger_assets.catalog import Field
from xledger_assets.errors import ValueConversionError

_INT_TEXT = re.compile(r"[+-]?\d+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_INT_DIGITS = DECIMAL_TYPE.precision - DECIMAL_TYPE.scale


class _Unfit(Exception):
    pass


# ------------------------------------------------------------------------ careful, per value


def _integral(v: Any) -> bool:
    if isinstance(v, str):
        return _INT_TEXT.fullmatch(v.strip()) is not None
    return isinstance(v, float) and v.is_integer()


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise _Unfit
    if isinstance(v, int):
        out = v
    elif _integral(v):
        out = int(v)
    else:
        raise _Unfit
    if not _INT64_MIN <= out <= _INT64_MAX:
        raise _Unfit
    return out


def _to_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    raise _Unfit


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _Unfit


def _to_date(v: Any) -> date:
    if not isinstance(v, str):
        raise _Unfit
    text = v.strip()
    if len(text) > 10 and text[10] in "T ":
        # A date-time at midnight is tolerated as a date; any time of day is not.
        if datetime.fromisoformat(text).replace(tzinfo=None).time() != datetime.min.time():
            raise _Unfit
        text = text[:10]
    return date.fromisoformat(text)


def _to_datetime(v: Any) -> datetime:
    if not isinstance(v, str):
        raise _Unfit
    # Xledger's wall clock is kept as is; a zone suffix, if ever sent, is dropped, not applied.
    return datetime.fromisoformat(v.strip()).replace(tzinfo=None)


def _to_decimal(v: Any) -> Decimal:
    if isinstance(v, bool):
        raise _Unfit
    if isinstance(v, float):
        d = Decimal(repr(v))  # the shortest text that round-trips: what the server wrote
    elif isinstance(v, int | str):
        d = Decimal(str(v).strip())
    else:
        raise _Unfit
    if not d.is_finite():
        raise _Unfit
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -DECIMAL_TYPE.scale:
        trimmed = d.normalize()
        if trimmed.as_tuple().exponent < -DECIMAL_TYPE.scale:  # type: ignore[operator]
            raise _Unfit
        d = trimmed
    if d.adjusted() >= _DECIMAL_INT_DIGITS:
        raise _Unfit
    return d


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "id": _to_int,
    "int": _to_int,
    "text": _to_text,
    "bool": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
    "decimal": _to_decimal,
}


def _get_path(node: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
        if node is None:
            return None
    return node


# ------------------------------------------------------------------------- fast, per column

# How a leaf arrives over the wire, and its Arrow type inside the page's struct. A JSON integer
# goes into decimal128(38, 0): Arrow takes only Python ints there (a bool or a float fails the
# page's conversion instead of turning into 1 or being truncated), and casting it to int64 or to
# the lake's decimal checks the range. Floats always take the careful path (a decimal must keep
# its written digits; repr() gives them back).
_STR, _INT, _BOOL, _PY = "str", "int", "bool", "py"
_WIRE_ARROW = {_STR: pa.string(), _INT: pa.decimal128(38, 0), _BOOL: pa.bool_()}
_WIRE_KINDS: dict[str, tuple[str, ...]] = {  # the wire kinds the fast path converts, per type
    "id": (_STR, _INT),
    "int": (_STR, _INT),
    "text": (_STR,),
    "bool": (_BOOL,),
    "date": (_STR,),
    "datetime": (_STR,),
    "decimal": (_STR, _INT),
}
_FIRST_GUESS = {"id": _INT, "int": _INT, "bool": _BOOL}  # the rest: _STR
# The leaf types of a page read straight from JSON by pyarrow.json (RecordConverter.page_type):
# strict there, a JSON integer goes into int64 (a fraction, an exponent or more than 64 bits
# fails the read), a string only into string, a boolean only into bool.
_PAGE_ARROW = {_STR: pa.string(), _INT: pa.int64(), _BOOL: pa.bool_()}
_KIND_OF_PAGE_ARROW = {str(t): k for k, t in _PAGE_ARROW.items()}
_KIND_OF_TYPE = {str: _STR, int: _INT, bool: _BOOL}  # anything else (float, list): _PY

# The careful path's result is what Arrow gives for these shapes. Arrow's own parsing is strict
# (it rejects 2024-02-30, 24:00:00, 12:60:00, :60 seconds, a zone on a naive timestamp, "1_0"),
# so a cheap shape check is enough: a length for the common forms, a pattern for the rest.
_RE_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$"
_RE_DECIMAL = rf"^[+-]?[0-9]{{1,{_DECIMAL_INT_DIGITS}}}(\.[0-9]{{1,{DECIMAL_TYPE.scale}}})?$"
_ZONE = r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
_RE_DATETIME_ZONED = _RE_DATETIME[:-1] + _ZONE
_MIN_DATE = date(1, 1, 1)  # Arrow takes year 0; Python's dates start at year 1
_MIN_DATETIME = datetime(1, 1, 1)
_ARROW_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)


def _all_match(values: pa.Array, pattern: str) -> bool:
    if values.null_count == len(values):
        return True
    return pc.all(pc.match_substring_regex(values, pattern)).as_py() is True


def _all_length(values: pa.Array, length: int) -> bool:
    """Every non-null string has ``length`` bytes (True when all are null)."""
    if values.null_count == len(values):
        return True
    lo_hi = pc.min_max(pc.binary_length(values)).as_py()
    return lo_hi["min"] == length == lo_hi["max"]


def _not_before(values: pa.Array, lowest: date | datetime) -> bool:
    if values.null_count == len(values):
        return True
    return bool(pc.min(values).as_py() >= lowest)


def _datetimes(values: pa.Array) -> pa.Array | None:
    # 19 bytes that Arrow parses as a naive timestamp: yyyy-MM-ddTHH:mm:ss (or a space for T).
    if not _all_length(values, 19) and not _all_match(values, _RE_DATETIME):
        if not _all_match(values, _RE_DATETIME_ZONED):
            return None
        # The zone suffix is dropped, not applied: Xledger's wall clock is kept.
        values = pc.replace_substring_regex(values, _ZONE, "")
        if not _all_match(values, _RE_DATETIME):
            return None
    out = pc.cast(values, pa.timestamp("us"))
    return out if _not_before(out, _MIN_DATETIME) else None


def _fast_column(field_type: str, kind: str, values: pa.Array) -> pa.Array | None:
    """The column cast by Arrow, or None when only the careful path can be exact."""
    try:
        if field_type in ("id", "int"):
            if kind == _STR and pc.any(pc.match_substring(values, "x", ignore_case=True)).as_py():
                return None  # Arrow reads "0x1F" as hex; the careful path refuses it
            return pc.cast(values, pa.int64())  # fails beyond int64 and on anything not integer
        if field_type in ("text", "bool"):
            return values
        if field_type == "date":
            if not _all_length(values, 10):  # yyyy-MM-dd: the only 10-byte date Arrow reads
                return None
            out = pc.cast(values, pa.date32())
            return out if _not_before(out, _MIN_DATE) else None
        if field_type == "datetime":
            return _datetimes(values)
        if field_type == "decimal":
            if kind == _STR and not _all_match(values, _RE_DECIMAL):
                # Only plain digits that fit: Arrow's text-to-decimal cast can overflow
                # silently on larger values ("1e30" comes out as another number).
                return None
            return pc.cast(values, DECIMAL_TYPE)  # exact; fails past 20 integer digits
    except _ARROW_ERRORS:
        return None
    return None


def _exact_column(f: Field, kind: str, leaf: pa.Array) -> pa.Array | None:
    """The fast path's column of one field, or None: the careful path converts it (also a
    dbId column with nulls, so that the careful path names the record without a dbId)."""
    column = _fast_column(f.type, kind, leaf)
    if column is not None and f.path == "dbId" and column.null_count:
        return None
    return column


class _Tree:
    """The field paths as a tree: ``{"owner": {"dbId": Field, ...}, "dbId": Field}``."""

    def __init__(self, fields: Sequence[Field]) -> None:
        self.root: dict[str, Any] = {}
        self.consistent = True  # False when a path is both a leaf and a parent
        for f in fields:
            node = self.root
            for part in f.parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    self.consistent = False
                    return
                node = child
            if f.parts[-1] in node:
                self.consistent = False
                return
            node[f.parts[-1]] = f

    def struct_type(self, kinds: dict[str, str]) -> pa.StructType | None:
        """The struct of the leaves the fast path converts (None: none of them)."""

        def build(tree: dict[str, Any]) -> list[pa.Field]:
            out = []
            for name, sub in tree.items():
                if isinstance(sub, dict):
                    children = build(sub)
                    if children:
                        out.append(pa.field(name, pa.struct(children)))
                elif kinds[sub.path] != _PY:
                    out.append(pa.field(name, _WIRE_ARROW[kinds[sub.path]]))
            return out

        fields = build(self.root)
        return pa.struct(fields) if fields else None

    def page_type(self, kinds: dict[str, str]) -> pa.StructType:
        """The struct of every leaf as pyarrow.json reads it (no leaf may be "py")."""

        def build(tree: dict[str, Any]) -> list[pa.Field]:
            return [
                pa.field(name, pa.struct(build(sub)))
                if isinstance(sub, dict)
                else pa.field(name, _PAGE_ARROW[kinds[sub.path]])
                for name, sub in tree.items()
            ]

        return pa.struct(build(self.root))

    def leaves(self, array: pa.StructArray, out: dict[str, pa.Array], prefix: str = "") -> None:
        """Flatten a struct array (parent nulls carried into the children) into ``out``."""
        for child_field, child in zip(array.type, array.flatten(), strict=True):
            path = prefix + child_field.name
            if pa.types.is_struct(child_field.type):
                self.leaves(child, out, path + ".")
            else:
                out[path] = child

    def scan(self, nodes: Sequence[Any]) -> tuple[dict[str, set[str]], set[str]] | None:
        """Wire kinds seen per leaf, and paths whose value is not an object where one is
        expected. None: a node is not an object at all."""
        kinds: dict[str, set[str]] = {}
        broken: set[str] = set()

        def walk(node: dict[str, Any], tree: dict[str, Any], prefix: str) -> None:
            for name, sub in tree.items():
                value = node.get(name)
                if value is None:
                    continue
                path = prefix + name
                if isinstance(sub, dict):
                    if type(value) is dict:
                        walk(value, sub, path + ".")
                    else:
                        broken.add(path)
                else:
                    kinds.setdefault(path, set()).add(_KIND_OF_TYPE.get(type(value), _PY))

        for node in nodes:
            if type(node) is not dict:
                return None
            walk(node, self.root, "")
        return kinds, broken


class RecordConverter:
    """Turns pages of nodes into record batches of one dataset's fixed schema."""

    def __init__(self, dataset: str, fields: Sequence[Field]) -> None:
        self.dataset = dataset
        self.fields = tuple(fields)
        self.schema = pa.schema(
            [pa.field(f.path, arrow_type(f.type), nullable=f.path != "dbId") for f in fields]
            + [pa.field(MUTATION_COLUMN, pa.string(), nullable=False)]
        )
        self._tree = _Tree(self.fields)
        # What each leaf is expected to look like on the wire; learnt from the pages.
        self._kinds: dict[str, str] = {f.path: _FIRST_GUESS.get(f.type, _STR) for f in fields}
        self._struct = self._tree.struct_type(self._kinds) if self._tree.consistent else None
        # The struct a page read by pyarrow.json is first tried with: the learnt wire kinds,
        # the first guess for a leaf learnt as "py". Replaced by one assignment: it is read
        # from the thread that fetches the pages.
        self._page_type = self._tree.page_type(self._kinds) if self._tree.consistent else None

    def batch(
        self, nodes: Sequence[dict[str, Any]], mutation_types: Sequence[str]
    ) -> pa.RecordBatch:
        leaves = self._fast_leaves(nodes)
        ids: list[Any] | None = None
        columns: list[pa.Array] = []
        for f in self.fields:
            column = None
            leaf = leaves.get(f.path) if leaves is not None else None
            if leaf is not None:
                column = _exact_column(f, self._kinds[f.path], leaf)
            if column is None:
                if ids is None:
                    ids = [n.get("dbId") if isinstance(n, dict) else None for n in nodes]
                column = self._careful_column(f, nodes, ids)
            columns.append(column)
        columns.append(pa.array(mutation_types, type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def careful_batch(
        self, nodes: Sequence[dict[str, Any]], mutation_types: Sequence[str]
    ) -> pa.RecordBatch:
        """The same batch, every value through the careful per-value path (for tests)."""
        ids = [n.get("dbId") if isinstance(n, dict) else None for n in nodes]
        columns = [self._careful_column(f, nodes, ids) for f in self.fields]
        columns.append(pa.array(list(mutation_types), type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def page_type(self) -> pa.StructType | None:
        """The struct type of a page's nodes for :meth:`batch_from_struct`, as
        ``pyarrow.json`` should read them: every field, each leaf typed by the wire kind
        learnt so far (text as string, a JSON integer as int64, a JSON boolean as bool). None
        when the fields cannot be one struct (a path both a leaf and a parent). Safe to call
        from another thread while this converter converts pages."""
        return self._page_type

    def page_type_with(
        self, page_type: pa.StructType, path: str, json_kind: str
    ) -> pa.StructType | None:
        """``page_type`` with the leaf ``path`` read as another JSON kind (``"string"``,
        ``"number"`` or ``"boolean"``, as pyarrow.json names them), or None when that is not a
        leaf or the fast path does not convert that kind for its field (the careful path must
        then convert the page)."""
        kind = {"string": _STR, "number": _INT, "boolean": _BOOL}.get(json_kind)
        field = next((f for f in self.fields if f.path == path), None)
        if kind is None or field is None or kind not in _WIRE_KINDS[field.type]:
            return None

        def swap(struct: pa.StructType, parts: Sequence[str]) -> pa.StructType | None:
            index = struct.get_field_index(parts[0])
            if index < 0:
                return None
            child = struct.field(index)
            if len(parts) == 1:
                new_type = _PAGE_ARROW[kind]
            elif pa.types.is_struct(child.type):
                new_type = swap(child.type, parts[1:])
            else:
                return None
            if new_type is None:
                return None
            return pa.struct(
                [child.with_type(new_type) if i == index else f for i, f in enumerate(struct)]
            )

        return swap(page_type, field.parts)

    def batch_from_struct(
        self, nodes: pa.StructArray, mutation_types: Sequence[str]
    ) -> pa.RecordBatch:
        """The batch :meth:`batch` gives for the same nodes, from the nodes already in Arrow.

        ``nodes`` has the type of :meth:`page_type` (of this converter, at any time: each leaf's
        type says how its values came over the wire) and holds exactly the JSON values: strings
        as sent, JSON integers, JSON booleans, and null for a null or missing value or object.
        Each column takes the fast path where that is exact, else the careful one on the same
        values, so the batch, or the error naming dataset, column, dbId and value, is the one
        :meth:`batch` gives for the nodes that ``orjson.loads`` reads from the same JSON.
        """
        leaves: dict[str, pa.Array] = {}
        self._tree.leaves(nodes, leaves)
        if set(leaves) != {f.path for f in self.fields}:
            raise ValueError(f"{self.dataset}: nodes of type {nodes.type} are not a page type")
        ids: list[Any] | None = None
        columns: list[pa.Array] = []
        for f in self.fields:
            leaf = leaves[f.path]
            kind = _KIND_OF_PAGE_ARROW.get(str(leaf.type))
            if kind not in _WIRE_KINDS[f.type]:
                raise ValueError(f"{self.dataset}: {f.path} of type {leaf.type} is not a page type")
            column = _exact_column(f, kind, leaf)
            if column is None:
                if ids is None:
                    ids = leaves["dbId"].to_pylist() if "dbId" in leaves else [None] * len(nodes)
                column = self._careful_values(f, leaf.to_pylist(), ids)
            columns.append(column)
        columns.append(pa.array(mutation_types, type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def tombstones(self, db_ids: Sequence[int]) -> pa.RecordBatch:
        """DELETED rows: the dbId and nulls."""
        n = len(db_ids)
        columns = [pa.array(list(db_ids), type=pa.int64())]
        columns += [pa.nulls(n, type=arrow_type(f.type)) for f in self.fields[1:]]
        columns.append(pa.array(["DELETED"] * n, type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    # -- fast

    def _fast_leaves(self, nodes: Sequence[Any]) -> dict[str, pa.Array] | None:
        """The page's leaf columns as wire-typed Arrow arrays (leaves marked "py" absent)."""
        if not self._tree.consistent or not nodes:
            return None
        struct = self._to_struct(nodes)
        if struct is None:  # a leaf came in another shape: learn the shapes of this page
            if not self._learn(nodes):
                return None
            struct = self._to_struct(nodes)
            if struct is None:
                return None
        out: dict[str, pa.Array] = {}
        if struct is not False:
            self._tree.leaves(struct, out)
        return out

    def _to_struct(self, nodes: Sequence[Any]) -> pa.StructArray | bool | None:
        if self._struct is None:
            return False  # every leaf goes the careful way
        try:
            array = pa.array(nodes, type=self._struct)
        except _ARROW_ERRORS:
            return None
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        return array  # type: ignore[no-any-return]

    def _learn(self, nodes: Sequence[Any]) -> bool:
        scanned = self._tree.scan(nodes)
        if scanned is None:
            return False
        seen, broken = scanned
        kinds = dict(self._kinds)
        for f in self.fields:
            under_broken = any(f.path.startswith(b + ".") for b in broken)
            found = seen.get(f.path, set())
            if under_broken:
                kinds[f.path] = _PY
            elif len(found) == 1 and next(iter(found)) in _WIRE_KINDS[f.type]:
                kinds[f.path] = next(iter(found))
            elif found:
                kinds[f.path] = _PY
            elif kinds[f.path] == _PY:  # nothing seen: back to the first guess
                kinds[f.path] = _FIRST_GUESS.get(f.type, _STR)
        if kinds == self._kinds:
            return False
        self._kinds = kinds
        self._struct = self._tree.struct_type(kinds)
        self._page_type = self._tree.page_type(
            {
                f.path: _FIRST_GUESS.get(f.type, _STR) if kinds[f.path] == _PY else kinds[f.path]
                for f in self.fields
            }
        )
        return True

    # -- careful

    def _careful_column(self, f: Field, nodes: Sequence[Any], ids: Sequence[Any]) -> pa.Array:
        parts = f.parts
        return self._careful_values(f, [_get_path(node, parts) for node in nodes], ids)

    def _careful_values(self, f: Field, raws: Sequence[Any], ids: Sequence[Any]) -> pa.Array:
        """The column of one field from its raw JSON values (None: null or missing)."""
        convert = _CONVERTERS[f.type]
        values: list[Any] = []
        for i, raw in enumerate(raws):
            if raw is None:
                if f.path == "dbId":
                    self._fail(f, ids[i], raw, "is missing")
                values.append(None)
                continue
            try:
                values.append(convert(raw))
            except (_Unfit, ValueError, InvalidOperation, TypeError):
                self._fail(f, ids[i], raw, f"does not fit the type {f.type}")
        return pa.array(values, type=arrow_type(f.type))

    def _fail(self, f: Field, db_id: Any, value: Any, why: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise ValueConversionError(
            f"{self.dataset}: column {f.path!r} of dbId {db_id}: value {shown} {why}; "
            "nothing was written and the delta cursor was not moved"
        )


def db_id_of(node: Any, dataset: str) -> int:
    """The dbId of a node as an int (Xledger may send it as a number or a string)."""
    raw = _get_path(node, ("dbId",))
    try:
        return _to_int(raw)
    except _Unfit:
        raise ValueConversionError(
            f"{dataset}: Xledger sent a record whose dbId {raw!r} is not an integer; "
            "nothing was written and the delta cursor was not moved"
        ) from None
