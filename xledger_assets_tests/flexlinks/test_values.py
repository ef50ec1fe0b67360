"""Cell conversions: every accepted notation, and refusals instead of guesses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xledger_assets.flexlinks.values import (
    UnfitValue,
    parse_number_text,
    to_bool,
    to_date,
    to_datetime,
    to_decimal,
    to_int,
    to_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", Decimal("12")),
        ("1 234,50", Decimal("1234.50")),
        ("1\u00a0234,50", Decimal("1234.50")),
        ("1\u202f234 567,5", Decimal("1234567.5")),
        ("1,234.5", Decimal("1234.5")),
        ("1.234,5", Decimal("1234.5")),
        ("1'234.50", Decimal("1234.50")),
        ("12,5", Decimal("12.5")),
        ("0.125", Decimal("0.125")),
        (",5", Decimal("0.5")),
        ("1,234,567", Decimal("1234567")),
        ("1.234.567", Decimal("1234567")),
        ("1.234.567,89", Decimal("1234567.89")),
        ("-12,5", Decimal("-12.5")),
        ("\u22123,5", Decimal("-3.5")),
        ("+7", Decimal("7")),
        ("  42  ", Decimal("42")),
        ("1.5E3", Decimal("1500")),
    ],
)
def test_numbers_typed_as_text(text: str, expected: Decimal) -> None:
    assert parse_number_text(text) == expected


@pytest.mark.parametrize(
    "text", ["12,5x", "abc", "", "1,23.4", "12 34", "1 234.567,5", "1.2.3,4,5", "--1", "1e"]
)
def test_text_that_is_no_number_is_refused(text: str) -> None:
    with pytest.raises(UnfitValue):
        parse_number_text(text)


def test_decimal_cells() -> None:
    assert to_decimal(0.1) == Decimal("0.1")  # the double's shortest text, not its binary value
    assert to_decimal(1234.5) == Decimal("1234.5")
    assert to_decimal(12) == Decimal("12")
    assert to_decimal(Decimal("12345678901234567890.123456789012345678")) == Decimal(
        "12345678901234567890.123456789012345678"
    )
    assert to_decimal("1 234,50") == Decimal("1234.50")
    assert to_decimal("") is None
    assert to_decimal("   ") is None
    assert to_decimal(None) is None
    assert to_decimal(Decimal("1.5")).as_tuple().exponent == -18  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("0.0000000000000000001"), "has more than 18 decimal places"),
        (1e-19, "has more than 18 decimal places"),
        (Decimal("1E20"), "is too large for a decimal with 20 integer digits"),
        (True, "is a boolean, not a number"),
        (dt.date(2024, 1, 1), "is a date, not a number"),
        ("n/a", "is not a number"),
    ],
)
def test_decimals_that_do_not_fit(value: object, reason: str) -> None:
    with pytest.raises(UnfitValue) as info:
        to_decimal(value)
    assert info.value.reason == reason


def test_int_cells() -> None:
    assert to_int(12.0) == 12
    assert to_int(12) == 12
    assert to_int("12") == 12
    assert to_int("1 234") == 1234
    assert to_int("12,0") == 12
    assert to_int(Decimal("7")) == 7
    assert to_int("") is None
    assert to_int(2**63 - 1) == 2**63 - 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (12.5, "is not a whole number"),
        ("12,5", "is not a whole number"),
        (True, "is a boolean, not a number"),
        (2**63, "does not fit in 64 bits"),
        ("twelve", "is not a number"),
    ],
)
def test_ints_that_do_not_fit(value: object, reason: str) -> None:
    with pytest.raises(UnfitValue) as info:
        to_int(value)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(2024, 1, 31), dt.date(2024, 1, 31)),
        (dt.datetime(2024, 1, 31), dt.date(2024, 1, 31)),
        (45292.0, dt.date(2024, 1, 1)),
        (45292, dt.date(2024, 1, 1)),
        (1.0, dt.date(1900, 1, 1)),
        (59.0, dt.date(1900, 2, 28)),
        (61.0, dt.date(1900, 3, 1)),
        ("2024-01-31", dt.date(2024, 1, 31)),
        ("2024-1-5", dt.date(2024, 1, 5)),
        ("31.12.2023", dt.date(2023, 12, 31)),
        ("1.2.2024", dt.date(2024, 2, 1)),
        (" 2024-01-31T00:00:00 ", dt.date(2024, 1, 31)),
        ("31.12.2023 00:00", dt.date(2023, 12, 31)),
        ("", None),
        (None, None),
    ],
)
def test_dates(value: object, expected: dt.date | None) -> None:
    assert to_date(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2024-02-30", "is not a valid calendar date or time"),
        ("12/31/2023", "is not a date (expected a date cell, yyyy-mm-dd or dd.mm.yyyy)"),
        ("20240131", "is not a date (expected a date cell, yyyy-mm-dd or dd.mm.yyyy)"),
        (dt.datetime(2024, 1, 31, 8, 30), "has a time of day, not just a date"),
        ("2024-01-31 08:30", "has a time of day, not just a date"),
        (45292.5, "is an Excel serial number with a time of day, not a date"),
        (60.0, "is Excel's serial 60, the nonexistent 1900-02-29"),
        (0.0, "is outside the range of Excel serial dates"),
        (True, "is a boolean, not a date-time"),
    ],
)
def test_dates_that_do_not_fit(value: object, reason: str) -> None:
    with pytest.raises(UnfitValue) as info:
        to_date(value)
    assert info.value.reason == reason


def test_datetimes() -> None:
    assert to_datetime(45292.5) == dt.datetime(2024, 1, 1, 12, 0)
    assert to_datetime("2024-01-31 08:30:15") == dt.datetime(2024, 1, 31, 8, 30, 15)
    assert to_datetime("31.01.2024 08:30") == dt.datetime(2024, 1, 31, 8, 30)
    assert to_datetime(dt.date(2024, 1, 31)) == dt.datetime(2024, 1, 31)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  Konsulter Luleå ", "  Konsulter Luleå "),  # kept as written
        ("", None),
        ("   ", None),  # whitespace only: as empty as an empty cell
        (None, None),
        (12.0, "12"),
        (100, "100"),
        (12.5, "12.5"),
        (-3.0, "-3"),
        (1e16, "1e+16"),
        (Decimal("12.50"), "12.50"),
        (True, "TRUE"),
        (dt.date(2024, 1, 31), "2024-01-31"),
        (dt.datetime(2024, 1, 31, 13, 5, 6), "2024-01-31 13:05:06"),
        (dt.time(8, 30), "08:30:00"),
    ],
)
def test_text(value: object, expected: str | None) -> None:
    assert to_text(value) == expected


def test_bools() -> None:
    assert to_bool(True) is True
    assert to_bool("FALSE") is False
    assert to_bool("Ja") is True
    assert to_bool(0.0) is False
    assert to_bool("") is None
    with pytest.raises(UnfitValue):
        to_bool("maybe")
