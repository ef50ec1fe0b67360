"""Parsing real xlsx files (written with openpyxl) and the JSON variant into Arrow tables."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from xledger_assets.arrow_types import DECIMAL_TYPE
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import (
    FlexlinkError,
    FlexlinkHeaderError,
    FlexlinkValueError,
    ValueConversionError,
)
from xledger_assets.flexlinks.sheet import column_letter, parse_json, parse_xlsx

from .conftest import write_xlsx

COST_SETUPS = DEFAULT_CATALOG.flexlink("project_cost_setups")
PART_TIME = DEFAULT_CATALOG.flexlink("part_time_employees")
GROUPS = DEFAULT_CATALOG.flexlink("employee_groups")
COST_CATEGORIES = DEFAULT_CATALOG.flexlink("cost_categories")

SETUP_LABELS = ["Object", "Object Value", "Cost Element", "Date From", "Cur", "Rate"]


def _setup(values: Any) -> dict[str, object]:
    """A project-cost-setups row as the table returns it."""
    return dict(zip(SETUP_LABELS, values, strict=True))


def test_every_excel_quirk(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        ["Project cost setups"],  # a title row
        [],
        ["  Object", "Object   Value ", "Cost Element", " Date From", "Cur", "Rate "],
        ["Projekt", "P10023 Kiruna", "KE100 Konsulttimmar", dt.date(2024, 1, 31), "SEK", 950.5],
        ["Projekt", "P10031 Skellefteå", "KE200 Restid", 45292, "NOK", "1 234,50"],
        ["Projekt", "P10047 Luleå", "KE300 Jour", "2024-02-29", "EUR", "1,234.5"],
        ["Projekt", "P10052 Göteborg", "KE100 Konsulttimmar", "31.12.2023", "SEK", "12"],
        ["Projekt", "P10068 Umeå", "KE400 Övertid", dt.datetime(2024, 3, 1), "SEK", Decimal("0.1")],
        ["Projekt", None, "KE100 Konsulttimmar", None, None, None],  # empty cells -> null
        ["", "", "", "", "", ""],  # an empty row in between is skipped
        ["Avdelning", "D20 Ekonomi", "KE110 Senior", 45352.0, "SEK", 1850],
    ]
    sheet = parse_xlsx(
        write_xlsx(tmp_path / "q.xlsx", rows, styled_blank_rows=4), COST_SETUPS.columns
    )

    assert sheet.header_row == 3
    assert sheet.labels_found == tuple(SETUP_LABELS)
    assert sheet.extra_labels == ()
    assert sheet.table.schema == pa.schema(
        [
            ("Object", pa.string()),
            ("Object Value", pa.string()),
            ("Cost Element", pa.string()),
            ("Date From", pa.date32()),
            ("Cur", pa.string()),
            ("Rate", DECIMAL_TYPE),
        ]
    )
    assert sheet.table.to_pylist() == [
        _setup(r)
        for r in [
            [
                "Projekt",
                "P10023 Kiruna",
                "KE100 Konsulttimmar",
                dt.date(2024, 1, 31),
                "SEK",
                Decimal("950.5"),
            ],
            [
                "Projekt",
                "P10031 Skellefteå",
                "KE200 Restid",
                dt.date(2024, 1, 1),
                "NOK",
                Decimal("1234.50"),
            ],
            [
                "Projekt",
                "P10047 Luleå",
                "KE300 Jour",
                dt.date(2024, 2, 29),
                "EUR",
                Decimal("1234.5"),
            ],
            [
                "Projekt",
                "P10052 Göteborg",
                "KE100 Konsulttimmar",
                dt.date(2023, 12, 31),
                "SEK",
                Decimal("12"),
            ],
            ["Projekt", "P10068 Umeå", "KE400 Övertid", dt.date(2024, 3, 1), "SEK", Decimal("0.1")],
            ["Projekt", None, "KE100 Konsulttimmar", None, None, None],
            [
                "Avdelning",
                "D20 Ekonomi",
                "KE110 Senior",
                dt.date(2024, 3, 1),
                "SEK",
                Decimal("1850"),
            ],
        ]
    ]
    rates = sheet.table.column("Rate").to_pylist()
    assert str(rates[1]) == "1234.500000000000000000"  # exact, at the lake's scale


def test_int_and_text_columns(tmp_path: Path) -> None:
    header = [
        "Owner",
        "Employee #",
        "Work Schedule #",
        "Employee Name",
        "Work Schedule Name",
        "Date From",
        "Date To",
    ]
    rows: list[list[Any]] = [
        header,
        ["Tromb AB", 1042, "WS080", "Åsa Öberg", "Deltid 80 %", dt.date(2023, 2, 1), None],
        [
            "Tromb AB",
            "1043",
            80,
            "Björn Åström",
            "Deltid 80 %",
            dt.date(2023, 3, 1),
            dt.date(2023, 9, 30),
        ],
        ["Tromb AB", 1044.0, 75.5, " Märta Sjöö ", dt.date(2024, 1, 2), 45292, None],
        [
            "Tromb AB",
            " 1 045 ",
            dt.datetime(2024, 1, 2, 8, 15, 30),
            "Pär Ek",
            True,
            "2024-01-01",
            None,
        ],
    ]
    sheet = parse_xlsx(write_xlsx(tmp_path / "p.xlsx", rows), PART_TIME.columns)
    assert sheet.table.column("Employee #").type == pa.int64()
    assert sheet.table.column("Employee #").to_pylist() == [1042, 1043, 1044, 1045]
    # Numbers in a text column lose the float's ".0"; date cells read as ISO text.
    assert sheet.table.column("Work Schedule #").to_pylist() == [
        "WS080",
        "80",
        "75.5",
        "2024-01-02 08:15:30",
    ]
    assert sheet.table.column("Employee Name").to_pylist() == [
        "Åsa Öberg",
        "Björn Åström",
        " Märta Sjöö ",  # text is kept as written
        "Pär Ek",
    ]
    assert sheet.table.column("Work Schedule Name").to_pylist() == [
        "Deltid 80 %",
        "Deltid 80 %",
        "2024-01-02",
        "TRUE",
    ]
    assert sheet.table.column("Date From").to_pylist() == [
        dt.date(2023, 2, 1),
        dt.date(2023, 3, 1),
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 1),
    ]
    assert sheet.table.column("Date To").to_pylist() == [None, dt.date(2023, 9, 30), None, None]


def test_extra_columns_are_left_out_and_reported(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        # Columns in another order than the catalog, with extras and an unlabelled column.
        ["Description", "Id", "Code", None, "Owner", "Last Modified By"],
        ["Konsulter", 1, "KONS", "note", "Data Ductus AB", "Åke Nilsson"],
        ["Säljare", 2, "SÄLJ", None, "Tromb AB", "Ylva Hägg"],
    ]
    sheet = parse_xlsx(write_xlsx(tmp_path / "e.xlsx", rows), GROUPS.columns)
    assert sheet.extra_labels == ("Id", "Last Modified By", "(unlabelled column D)")
    assert sheet.labels_found == ("Description", "Id", "Code", "Owner", "Last Modified By")
    assert sheet.table.column_names == ["Owner", "Code", "Description"]
    assert sheet.table.to_pylist() == [
        {"Owner": "Data Ductus AB", "Code": "KONS", "Description": "Konsulter"},
        {"Owner": "Tromb AB", "Code": "SÄLJ", "Description": "Säljare"},
    ]


def test_missing_labels_list_expected_and_found(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        ["Employee groups"],
        ["Owner", "Code", "Beskrivning"],
        ["Data Ductus AB", "KONS", "Konsulter"],
    ]
    with pytest.raises(FlexlinkHeaderError) as info:
        parse_xlsx(write_xlsx(tmp_path / "m.xlsx", rows), GROUPS.columns, source="the link")
    assert str(info.value) == (
        "the link is missing the labels ['Description']: expected ['Owner', 'Code', "
        "'Description'], found ['Owner', 'Code', 'Beskrivning'] in sheet row 2, the best match "
        "among the first 20 non-empty rows; was a column renamed or removed in the Xledger export?"
    )


def test_header_must_be_among_the_first_twenty_non_empty_rows(tmp_path: Path) -> None:
    notes: list[list[Any]] = [[f"note {n}"] for n in range(20)]
    rows = [*notes, ["Owner", "Code", "Description"], ["Data Ductus AB", "KONS", "Konsulter"]]
    with pytest.raises(FlexlinkHeaderError, match=r"missing the labels \['Owner', 'Code'"):
        parse_xlsx(write_xlsx(tmp_path / "late.xlsx", rows), GROUPS.columns)
    # Nineteen notes (and empty rows, which do not count) still find it.
    spaced: list[list[Any]] = [x for note in notes[:19] for x in (note, [])]
    sheet = parse_xlsx(write_xlsx(tmp_path / "ok.xlsx", [*spaced, *rows[20:]]), GROUPS.columns)
    assert sheet.header_row == 39
    assert sheet.table.num_rows == 1


def test_duplicate_expected_label_is_refused(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["Owner", "Code", "Description", "Code"], ["a", "b", "c", "d"]]
    with pytest.raises(FlexlinkHeaderError) as info:
        parse_xlsx(write_xlsx(tmp_path / "d.xlsx", rows), GROUPS.columns, source="the link")
    assert str(info.value) == (
        "the link: the label 'Code' appears twice in the header (sheet row 1, columns B and D)"
    )


def test_empty_sheet(tmp_path: Path) -> None:
    with pytest.raises(FlexlinkHeaderError) as info:
        parse_xlsx(write_xlsx(tmp_path / "empty.xlsx", []), GROUPS.columns, source="the link")
    assert str(info.value) == (
        "the link has no header row: the export is empty; expected the labels "
        "['Owner', 'Code', 'Description'], found none"
    )


def test_header_only_gives_zero_rows_with_the_schema(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "h.xlsx", [["Owner", "Code", "Description"]], styled_blank_rows=3)
    sheet = parse_xlsx(data, GROUPS.columns)
    assert sheet.table.num_rows == 0
    assert sheet.table.schema.names == ["Owner", "Code", "Description"]


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        (
            "12,5x",
            "Rate",
            "the value '12,5x' is not a number, so it does not fit the column type decimal",
        ),
        (
            "2024-02-30",
            "Date From",
            "the value '2024-02-30' is not a valid calendar date or time, so it does not fit the "
            "column type date",
        ),
        (
            dt.datetime(2024, 1, 31, 8, 30),
            "Date From",
            "the value 2024-01-31T08:30:00 has a time of day, not just a date, so it does not fit "
            "the column type date",
        ),
        (
            True,
            "Rate",
            "the value True is a boolean, not a number, so it does not fit the column type decimal",
        ),
    ],
)
def test_a_value_that_does_not_fit_names_row_column_and_value(
    tmp_path: Path, cell: object, column: str, message: str
) -> None:
    good: list[Any] = ["Projekt", "P1", "KE1", dt.date(2024, 1, 1), "SEK", 1]
    bad = list(good)
    bad[SETUP_LABELS.index(column)] = cell
    rows: list[list[Any]] = [["Title"], SETUP_LABELS, good, good, bad, good]
    with pytest.raises(FlexlinkValueError) as info:
        parse_xlsx(write_xlsx(tmp_path / "v.xlsx", rows), COST_SETUPS.columns, source="the link")
    assert str(info.value) == f"the link: sheet row 5, column {column!r}: {message}"
    assert isinstance(info.value, ValueConversionError)


def test_int_column_refuses_fractions(tmp_path: Path) -> None:
    header: list[Any] = [c.label for c in PART_TIME.columns]
    rows: list[list[Any]] = [header, ["Tromb AB", 12.5, "WS1", "x", "y", None, None]]
    with pytest.raises(FlexlinkValueError) as info:
        parse_xlsx(write_xlsx(tmp_path / "i.xlsx", rows), PART_TIME.columns, source="the link")
    assert str(info.value) == (
        "the link: sheet row 2, column 'Employee #': the value 12.5 is not a whole number, so it "
        "does not fit the column type int"
    )


def test_not_a_workbook() -> None:
    with pytest.raises(FlexlinkError) as info:
        parse_xlsx(b"PK\x03\x04 but no zip at all", GROUPS.columns, source="the link")
    assert str(info.value).startswith("the link is not a readable Excel workbook (")


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


# --- JSON -------------------------------------------------------------------------------------


def _json(fields: list[str], rows: list[list[Any]]) -> bytes:
    return json.dumps({"fields": [{"title": f} for f in fields], "rows": rows}).encode()


def test_json_variant() -> None:
    body = (
        b'{"fields": [{"title": "Object"}, {"title": "Object Value"}, {"title": "Cost Element"},'
        b' {"title": "Date From"}, {"title": "Cur"}, {"title": " Rate"}, {"title": "Id"}],'
        b' "rows": [["Projekt", "P10023 Kiruna", "KE100", "2024-01-31", "SEK",'
        b" 12345678901234.123456789012345678, 1],"
        b' ["Projekt", "P2", "KE200", "2024-02-01T00:00:00", "NOK", "1 234,50", 2],'
        b' ["Projekt", null, "KE300", null, "EUR", 0.1, 3]]}'
    )
    sheet = parse_json(body, COST_SETUPS.columns)
    assert sheet.header_row == 0
    assert sheet.extra_labels == ("Id",)
    assert sheet.table.schema.field("Rate").type == DECIMAL_TYPE
    assert sheet.table.to_pylist() == [
        _setup(r)
        for r in [
            [
                "Projekt",
                "P10023 Kiruna",
                "KE100",
                dt.date(2024, 1, 31),
                "SEK",
                Decimal("12345678901234.123456789012345678"),
            ],
            ["Projekt", "P2", "KE200", dt.date(2024, 2, 1), "NOK", Decimal("1234.50")],
            ["Projekt", None, "KE300", None, "EUR", Decimal("0.1")],
        ]
    ]


def test_json_numbers_in_text_columns_keep_their_literal() -> None:
    body = _json(["Owner", "Code", "Description"], [["Tromb AB", 100, "x"]])
    body = body.replace(b"100", b"100.50")
    sheet = parse_json(body, GROUPS.columns)
    assert sheet.table.column("Code").to_pylist() == ["100.50"]


def test_json_value_error_names_the_row() -> None:
    body = _json(
        [
            "Owner",
            "Employee #",
            "Work Schedule #",
            "Employee Name",
            "Work Schedule Name",
            "Date From",
            "Date To",
        ],
        [
            ["Tromb AB", 1, "WS", "A", "B", "2024-01-01", None],
            ["Tromb AB", "x12", "WS", "A", "B", "2024-01-01", None],
        ],
    )
    with pytest.raises(FlexlinkValueError) as info:
        parse_json(body, PART_TIME.columns, source="the link")
    assert str(info.value) == (
        "the link: JSON row 2, column 'Employee #': the value 'x12' is not a number, so it does "
        "not fit the column type int"
    )


def test_json_missing_labels() -> None:
    with pytest.raises(FlexlinkHeaderError) as info:
        parse_json(_json(["Owner", "Kod"], []), GROUPS.columns, source="the link")
    assert str(info.value) == (
        "the link is missing the labels ['Code', 'Description']: expected ['Owner', 'Code', "
        "'Description'], found ['Owner', 'Kod'] in the JSON fields; was a column renamed or "
        "removed in the Xledger export?"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1, 2]", "the document is not a JSON object"),
        (b'{"rows": []}', 'it has no "fields" list of {"title": ...} objects'),
        (
            b'{"fields": [{"name": "x"}], "rows": []}',
            'it has no "fields" list of {"title": ...} objects',
        ),
        (b'{"fields": [], "rows": {}}', 'it has no "rows" list of lists'),
        (b'{"fields": [', "it is not valid JSON: JSONDecodeError at line 1 column 13"),
    ],
)
def test_json_that_is_not_an_export(body: bytes, problem: str) -> None:
    with pytest.raises(FlexlinkError) as info:
        parse_json(body, GROUPS.columns, source="the link")
    assert str(info.value) == (
        'the link did not return a flexlink JSON export ({"fields": [{"title": ...}], '
        f'"rows": [[...]]}}): {problem}'
    )
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_json_row_with_the_wrong_length() -> None:
    body = _json(["Owner", "Code", "Description"], [["a", "b", "c"], ["a", "b"]])
    with pytest.raises(FlexlinkError) as info:
        parse_json(body, GROUPS.columns, source="the link")
    assert str(info.value) == "the link: JSON row 2 has 2 values but there are 3 fields"


def test_text_columns_of_cost_categories_read_date_time_cells(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        ["Owner", "Code", "Description", "Created", "Modified"],
        [
            "Tromb AB",
            "KK100",
            "Resekostnader",
            dt.datetime(2023, 5, 4, 13, 22, 10),
            dt.datetime(2024, 1, 1),
        ],
        ["Tromb AB", "KK110", "Hotell", "2023-05-04 13:22", None],
    ]
    sheet = parse_xlsx(write_xlsx(tmp_path / "c.xlsx", rows), COST_CATEGORIES.columns)
    assert sheet.table.column("Created").to_pylist() == ["2023-05-04 13:22:10", "2023-05-04 13:22"]
    assert sheet.table.column("Modified").to_pylist() == ["2024-01-01", None]  # midnight: a date


def test_json_header_is_the_fields_only() -> None:
    # A data row that happens to hold the labels must not be taken for the header.
    body = _json(
        ["Ägare", "Kod", "Beskrivning"], [["Owner", "Code", "Description"], ["a", "b", "c"]]
    )
    with pytest.raises(FlexlinkHeaderError, match="found \\['Ägare', 'Kod', 'Beskrivning'\\]"):
        parse_json(body, GROUPS.columns)


def test_whitespace_only_cells_are_null_and_blank_rows_are_skipped() -> None:
    body = _json(
        ["Owner", "Code", "Description"],
        [["Tromb AB", "  ", "x"], ["   ", "", None], ["Tromb AB", "K", "\t"]],
    )
    sheet = parse_json(body, GROUPS.columns)
    assert sheet.table.to_pylist() == [
        {"Owner": "Tromb AB", "Code": None, "Description": "x"},
        {"Owner": "Tromb AB", "Code": "K", "Description": None},
    ]
