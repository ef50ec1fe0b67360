"""From a downloaded export (xlsx or JSON) to an Arrow table with exactly the catalog's columns.

xlsx files are read with python-calamine: ``bench/flexlink_parsers.py`` measured it about 9-10x
faster than openpyxl's read-only mode at 1k-100k rows, and it hands back typed cells.

The header is found rather than assumed: people put a title row above it, and labels pick up
stray spaces. The header is the first row, among the first :data:`HEADER_SEARCH_ROWS` non-empty
rows, that holds every expected label once whitespace is collapsed. Columns are matched by
label, never by position, so reordered exports still read right; extra columns are left out and
reported; a missing label fails with the expected and the found labels. Empty rows (trailing,
or anywhere below the header) are skipped.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
from python_calamine import CalamineError, CalamineWorkbook

from xledger_assets.arrow_types import arrow_type
from xledger_assets.catalog import FlexlinkColumn
from xledger_assets.errors import FlexlinkError, FlexlinkHeaderError, FlexlinkValueError
from xledger_assets.flexlinks.values import CONVERTERS, UnfitValue, is_blank, to_text

#: How many non-empty rows from the top may come before the header (title rows, notes).
HEADER_SEARCH_ROWS = 20


@dataclass(frozen=True)
class ParsedSheet:
    """One export parsed: the table (catalog columns, in catalog order) and what the header held.

    ``header_row`` is Excel's 1-based row number of the header (0 for JSON, which has no rows
    above its data). ``labels_found`` are all header labels in sheet order, whitespace collapsed;
    ``extra_labels`` those the catalog does not expect (an unlabelled column with data shows as
    ``(unlabelled column F)``).
    """

    table: pa.Table
    header_row: int
    labels_found: tuple[str, ...]
    extra_labels: tuple[str, ...]


def normalize_label(value: object) -> str:
    """A header label with surrounding whitespace stripped and inner runs collapsed to one space."""
    if isinstance(value, str):
        return " ".join(value.split())
    try:
        text = to_text(value) or ""
    except UnfitValue:
        text = str(value)  # a JSON title that is an object: not a label we can match anyway
    return " ".join(text.split())


def column_letter(index: int) -> str:
    """Excel's column name for a 0-based index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def parse_xlsx(
    data: bytes, columns: Sequence[FlexlinkColumn], *, source: str = "the flexlink"
) -> ParsedSheet:
    """Parse the first worksheet of an xlsx export. ``source`` names the link in messages."""
    rows: Sequence[Sequence[object]] | None = None
    problem = ""
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            # skip_empty_area=False keeps row i at Excel row i + 1, so messages can cite rows.
            rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
        finally:
            workbook.close()
    except (CalamineError, ValueError, OSError, IndexError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if rows is None:
        raise FlexlinkError(f"{source} is not a readable Excel workbook ({problem})")
    numbered = iter(enumerate(rows, start=1))
    expected = [c.label for c in columns]
    # The header search consumes rows up to the header; the same iterator then yields the data.
    header = _find_header(numbered, expected, source=source, row_word="sheet row")
    return _assemble(header, numbered, columns, source=source, row_word="sheet row")


def parse_json(
    data: bytes, columns: Sequence[FlexlinkColumn], *, source: str = "the flexlink"
) -> ParsedSheet:
    """Parse the ``{"fields": [{"title": ...}], "rows": [[...]]}`` export.

    Numbers are read as exact Decimals (never floats). Row numbers in messages are 1-based
    positions in ``rows``.
    """
    doc: object = None
    problem = ""
    try:
        doc = json.loads(data, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"it is not valid JSON: {type(exc).__name__} at {_position(exc)}"
    if not problem:
        problem = _json_shape_problem(doc)
    if problem:
        raise FlexlinkError(
            f"{source} did not return a flexlink JSON export "
            f'({{"fields": [{{"title": ...}}], "rows": [[...]]}}): {problem}'
        )
    assert isinstance(doc, dict)
    titles: list[object] = [f.get("title") for f in doc["fields"]]
    body: list[list[object]] = doc["rows"]
    for number, row in enumerate(body, start=1):
        if len(row) != len(titles):
            raise FlexlinkError(
                f"{source}: JSON row {number} has {len(row)} values but there are "
                f"{len(titles)} fields"
            )
    expected = [c.label for c in columns]
    header = _find_header(iter([(0, titles)]), expected, source=source, row_word="JSON row")
    return _assemble(header, enumerate(body, start=1), columns, source=source, row_word="JSON row")


def _json_shape_problem(doc: object) -> str:
    if not isinstance(doc, dict):
        return "the document is not a JSON object"
    fields, rows = doc.get("fields"), doc.get("rows")
    if not isinstance(fields, list) or not all(
        isinstance(f, dict) and "title" in f for f in fields
    ):
        return 'it has no "fields" list of {"title": ...} objects'
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return 'it has no "rows" list of lists'
    return ""


def _position(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"line {exc.lineno} column {exc.colno}"
    return "the start"


def _assemble(
    found: tuple[int, Sequence[object]],
    rows: Iterable[tuple[int, Sequence[object]]],
    columns: Sequence[FlexlinkColumn],
    *,
    source: str,
    row_word: str,
) -> ParsedSheet:
    """Map labels to positions, convert every cell below the header, build the table."""
    header_number, header = found
    expected = [c.label for c in columns]

    positions: dict[str, int] = {}
    labels_found: list[str] = []
    extra: list[tuple[int, str]] = []
    for index, cell in enumerate(header):
        label = normalize_label(cell)
        if not label:
            continue
        labels_found.append(label)
        if label in positions:
            if label in expected:
                first, again = column_letter(positions[label]), column_letter(index)
                raise FlexlinkHeaderError(
                    f"{source}: the label {label!r} appears twice in the header "
                    f"({row_word} {header_number}, columns {first} and {again})"
                )
            continue
        positions[label] = index
        if label not in expected:
            extra.append((index, label))
    unlabelled: set[int] = set()
    blank_header = [i for i, cell in enumerate(header) if not normalize_label(cell)]

    converters = [CONVERTERS[c.type] for c in columns]
    indexes = [positions[label] for label in expected]
    values: list[list[object]] = [[] for _ in columns]
    for number, row in rows:
        if all(is_blank(cell) for cell in row):
            continue
        for index in range(len(header), len(row)):
            if not is_blank(row[index]):
                unlabelled.add(index)
        for index in blank_header:
            if index < len(row) and not is_blank(row[index]):
                unlabelled.add(index)
        for out, convert, index, column in zip(values, converters, indexes, columns, strict=True):
            cell = row[index] if index < len(row) else None
            try:
                out.append(convert(cell))
            except UnfitValue as unfit:
                raise FlexlinkValueError(
                    f"{source}: {row_word} {number}, column {column.label!r}: the value "
                    f"{_show(cell)} {unfit.reason}, so it does not fit the column type "
                    f"{column.type}"
                ) from None

    extra_labels = [label for _, label in extra] + [
        f"(unlabelled column {column_letter(i)})" for i in sorted(unlabelled)
    ]
    arrays = [
        pa.array(column_values, type=arrow_type(column.type))
        for column_values, column in zip(values, columns, strict=True)
    ]
    schema = pa.schema([pa.field(c.label, arrow_type(c.type)) for c in columns])
    return ParsedSheet(
        table=pa.Table.from_arrays(arrays, schema=schema),
        header_row=header_number,
        labels_found=tuple(labels_found),
        extra_labels=tuple(extra_labels),
    )


def _find_header(
    rows: Iterable[tuple[int, Sequence[object]]],
    expected: Sequence[str],
    *,
    source: str,
    row_word: str,
) -> tuple[int, Sequence[object]]:
    """The first row with every expected label; else fail naming the best candidate's labels."""
    wanted = set(expected)
    best: tuple[int, list[str]] | None = None
    best_hits = -1
    seen = 0
    for number, row in rows:
        labels = [normalize_label(cell) for cell in row]
        present = [label for label in labels if label]
        if not present:
            continue
        if wanted.issubset(present):
            return number, row
        hits = len(wanted.intersection(present))
        if hits > best_hits:
            best, best_hits = (number, present), hits
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    if best is None:
        raise FlexlinkHeaderError(
            f"{source} has no header row: the export is empty; expected the labels "
            f"{list(expected)}, found none"
        )
    number, found = best
    missing = [label for label in expected if label not in found]
    where = (
        "in the JSON fields"
        if number == 0
        else f"in {row_word} {number}, the best match among the first {HEADER_SEARCH_ROWS} "
        "non-empty rows"
    )
    raise FlexlinkHeaderError(
        f"{source} is missing the labels {missing}: expected {list(expected)}, "
        f"found {found} {where}; was a column renamed or removed in the Xledger export?"
    )


def _show(cell: object) -> str:
    """A cell value for a message: text quoted, dates in ISO form, numbers as they are."""
    if isinstance(cell, str):
        return repr(cell)
    if isinstance(cell, (dt.date, dt.time)):
        return cell.isoformat()
    if cell is None:
        return "null"
    return str(cell)
