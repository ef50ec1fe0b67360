"""Xledger JSON nodes to typed Arrow batches, with the contract's columns and types.

Columns are built straight from the parsed JSON (no pandas): one Python list per column,
then one Arrow array. A value that does not fit fails the whole sync, naming where it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from xledger_assets.arrow_types import DECIMAL_TYPE, arrow_type
from xledger_assets.catalog import Field
from xledger_assets.errors import ValueConversionError

MUTATION_COLUMN = "mutationType"
_INT_TEXT = re.compile(r"[+-]?\d+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DECIMAL_INT_DIGITS = DECIMAL_TYPE.precision - DECIMAL_TYPE.scale


class _Unfit(Exception):
    pass


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


class RecordConverter:
    """Turns pages of nodes into record batches of one dataset's fixed schema."""

    def __init__(self, dataset: str, fields: Sequence[Field]) -> None:
        self.dataset = dataset
        self.fields = tuple(fields)
        self.schema = pa.schema(
            [pa.field(f.path, arrow_type(f.type), nullable=f.path != "dbId") for f in fields]
            + [pa.field(MUTATION_COLUMN, pa.string(), nullable=False)]
        )

    def batch(
        self, nodes: Sequence[dict[str, Any]], mutation_types: Sequence[str]
    ) -> pa.RecordBatch:
        ids = [n.get("dbId") if isinstance(n, dict) else None for n in nodes]
        columns: list[pa.Array] = []
        for f in self.fields:
            convert = _CONVERTERS[f.type]
            values: list[Any] = []
            parts = f.parts
            for i, node in enumerate(nodes):
                raw = _get_path(node, parts)
                if raw is None:
                    if f.path == "dbId":
                        self._fail(f, ids[i], raw, "is missing")
                    values.append(None)
                    continue
                try:
                    values.append(convert(raw))
                except (_Unfit, ValueError, InvalidOperation, TypeError):
                    self._fail(f, ids[i], raw, f"does not fit the type {f.type}")
            columns.append(pa.array(values, type=arrow_type(f.type)))
        columns.append(pa.array(list(mutation_types), type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def tombstones(self, db_ids: Sequence[int]) -> pa.RecordBatch:
        """DELETED rows: the dbId and nulls."""
        n = len(db_ids)
        columns = [pa.array(list(db_ids), type=pa.int64())]
        columns += [pa.nulls(n, type=arrow_type(f.type)) for f in self.fields[1:]]
        columns.append(pa.array(["DELETED"] * n, type=pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

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
