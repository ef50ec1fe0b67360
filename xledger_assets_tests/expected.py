"""What the lake should hold, computed from the sandbox's truth without product code."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _walk(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part)
    return value


def _typed(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("id", "int"):
        return int(value)
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "date":
        return date.fromisoformat(value[:10])
    if kind == "datetime":
        return datetime.fromisoformat(value).replace(tzinfo=None)
    if kind == "bool":
        return bool(value)
    return str(value)


def expected_rows(fields: list[tuple[str, str]], records: list[dict[str, Any]]) -> list[dict]:
    """One dict per record, keyed by column name, sorted by dbId."""
    rows = [{path: _typed(kind, _walk(r, path)) for path, kind in fields} for r in records]
    return sorted(rows, key=lambda r: r["dbId"])


def comparable(rows: list[dict]) -> list[dict]:
    """Lake rows without mutationType, decimals normalised for comparison."""
    out = []
    for r in rows:
        row = {k: v for k, v in r.items() if k != "mutationType" and not k.startswith("_")}
        for k, v in row.items():
            if isinstance(v, Decimal):
                row[k] = v.normalize()
        out.append(row)
    return sorted(out, key=lambda r: r["dbId"])
