"""Turn one spreadsheet (or JSON) cell into the Python value of its column type.

Xledger's exports are edited, re-saved and produced in several locales, so a column's cells do
not all arrive the same way: a number can be a number cell or text (``"1 234,50"``,
``"1,234.5"``), a date a date cell, an Excel serial number or text (``2024-01-31``,
``31.12.2023``). Each converter accepts every form that has one unambiguous meaning and raises
:class:`UnfitValue` for anything else; guessing would put wrong numbers in the lake silently.

Cells come from python-calamine (``str``, ``float``, ``int``, ``bool``, ``date``, ``datetime``,
``time``, ``timedelta``; an empty cell is ``""``) or from JSON (``str``, ``int``, ``Decimal``,
``bool``, ``None``). Decimals never pass through binary floating point except when the cell itself
is an Excel number (a double), and then via its shortest round-trip text: ``12.3`` stays ``12.3``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from functools import cache

#: Excel's 1900 date system: serial 1 is 1900-01-01, and serial 60 is the 1900-02-29 that never
#: was (Lotus 1-2-3's leap-year bug), so from serial 61 on day 0 is 1899-12-30.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_MAX_SERIAL = (dt.date(9999, 12, 31) - _EXCEL_EPOCH).days

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: The lake's decimal type is decimal128(38, 18): 18 fractional and 20 integer digits.
DECIMAL_SCALE = 18
_DECIMAL_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_DECIMAL_LIMIT = Decimal(10) ** (38 - DECIMAL_SCALE)
_DECIMAL_CONTEXT = Context(prec=80)

#: Integral floats up to this size are written without ``.0`` in text columns; beyond it a
#: double no longer holds every integer Excel can show, so ``repr`` (``1e+16``) is more honest.
_INTEGRAL_TEXT_LIMIT = 1e15


class UnfitValue(ValueError):
    """A cell that does not fit its column type; ``reason`` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Cell = object
Converter = Callable[[Cell], object]


def is_blank(value: Cell) -> bool:
    """Empty, or text of nothing but whitespace: becomes null in every column type.

    Whitespace-only text counts as empty because calamine already reads a whitespace-only
    inline string as ``""``; treating the shared-string spelling of the same cell differently
    would make the result depend on how the file was saved.
    """
    return value is None or (isinstance(value, str) and not value.strip())


# --- text -------------------------------------------------------------------------------------


def to_text(value: Cell) -> str | None:
    """Text as written (whitespace-only text is null, see :func:`is_blank`); a number or date
    cell in a text column as the text Excel would show.

    Integral numbers lose the float's ``.0`` (a code ``12`` typed into Excel is the number 12).
    A date cell becomes ``yyyy-mm-dd``, a date-time cell ``yyyy-mm-dd HH:MM:SS``: calamine
    reports a date-formatted cell at midnight as a date, so a midnight value reads ``yyyy-mm-dd``.
    """
    if is_blank(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _INTEGRAL_TEXT_LIMIT:
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.timedelta):
        return str(value)
    raise UnfitValue(f"is a {type(value).__name__}, which has no text form")


# --- numbers ----------------------------------------------------------------------------------


@cache
def _number_pattern(decimal_sep: str, group_sep: str) -> re.Pattern[str]:
    group = rf"\d{{1,3}}(?:{re.escape(group_sep)}\d{{3}})+|\d+" if group_sep else r"\d+"
    return re.compile(
        rf"(?P<sign>[+-]?)(?P<int>{group})?(?:{re.escape(decimal_sep)}(?P<frac>\d+))?"
        r"(?:[eE](?P<exp>[+-]?\d+))?"
    )


def parse_number_text(text: str) -> Decimal:
    """A number typed as text, in the notations Xledger's users produce.

    - grouping by spaces (also no-break spaces) or apostrophes: ``1 234,50``, ``1'234.50``;
    - both ``,`` and ``.``: the last one is the decimal separator (``1,234.5``, ``1.234,5``);
    - one ``,`` only: the decimal separator, as in the Nordic locales Xledger is used in
      (``12,5``); several: grouping (``1,234,567``); the same for ``.``;
    - groups must be three digits, so ``1,23.4`` is refused rather than guessed.
    """
    s = text.strip().replace("\u2212", "-")
    s = re.sub(r"[\u00a0\u202f\u2009]", " ", s)
    spaced = next((c for c in (" ", "'") if c in s), "")
    commas, dots = s.count(","), s.count(".")
    if commas and dots:
        decimal_sep = "," if s.rfind(",") > s.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
    elif commas > 1:
        decimal_sep, group_sep = ".", ","
    elif dots > 1:
        decimal_sep, group_sep = ",", "."
    elif commas == 1:
        decimal_sep, group_sep = ",", spaced
    else:
        decimal_sep, group_sep = ".", spaced
    if spaced and group_sep != spaced:
        raise UnfitValue("mixes grouping separators")
    match = _number_pattern(decimal_sep, group_sep).fullmatch(s)
    if not match or not (match["int"] or match["frac"]):
        raise UnfitValue("is not a number")
    digits = (match["int"] or "0").replace(group_sep, "") if group_sep else (match["int"] or "0")
    literal = f"{match['sign']}{digits}.{match['frac'] or '0'}e{match['exp'] or '0'}"
    return Decimal(literal)


def _as_decimal(value: Cell) -> Decimal:
    """Any numeric cell as an exact Decimal (before any range check)."""
    if isinstance(value, bool):
        raise UnfitValue("is a boolean, not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise UnfitValue("is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnfitValue("is not a finite number")
        return value
    if isinstance(value, str):
        return parse_number_text(value)
    raise UnfitValue(f"is a {_kind(value)}, not a number")


def to_int(value: Cell) -> int | None:
    """Whole numbers only (``12``, ``12.0``, ``"1 234"``); ``12.5`` does not fit."""
    if is_blank(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number: int = value
    else:
        exact = _as_decimal(value)
        if exact != exact.to_integral_value(context=_DECIMAL_CONTEXT):
            raise UnfitValue("is not a whole number")
        number = int(exact)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise UnfitValue("does not fit in 64 bits")
    return number


def to_decimal(value: Cell) -> Decimal | None:
    """An exact decimal that fits decimal128(38, 18), returned at scale 18."""
    if is_blank(value):
        return None
    exact = _as_decimal(value)
    try:
        quantized = exact.quantize(_DECIMAL_QUANTUM, context=_DECIMAL_CONTEXT)
    except InvalidOperation:
        quantized = None
    if quantized is None or abs(quantized) >= _DECIMAL_LIMIT:
        raise UnfitValue(f"is too large for a decimal with {38 - DECIMAL_SCALE} integer digits")
    if quantized != exact:
        raise UnfitValue(f"has more than {DECIMAL_SCALE} decimal places")
    return quantized


# --- dates ------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_TIME = re.compile(r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?")


def _serial_to_datetime(serial: Decimal) -> dt.datetime:
    if not 1 <= serial < _MAX_SERIAL + 1:
        raise UnfitValue("is outside the range of Excel serial dates")
    days = int(serial)
    if days == 60:
        raise UnfitValue("is Excel's serial 60, the nonexistent 1900-02-29")
    base = _EXCEL_EPOCH if days > 60 else _EXCEL_EPOCH + dt.timedelta(days=1)
    micros = round((serial - days) * 86_400_000_000)
    return dt.datetime.combine(base, dt.time()) + dt.timedelta(days=days, microseconds=micros)


def _parse_datetime_text(text: str) -> dt.datetime:
    s = text.strip()
    for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_DOTTED_DATE, (2, 1, 0))):
        head = pattern.match(s)
        if not head:
            continue
        tail = _TIME.fullmatch(s, head.end())
        if not tail:
            continue
        parts = head.groups()
        year, month, day = (int(parts[i]) for i in order)
        hour, minute, second, frac = tail.groups()
        try:
            return dt.datetime(
                year,
                month,
                day,
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((frac or "0").ljust(6, "0")),
            )
        except ValueError:
            raise UnfitValue("is not a valid calendar date or time") from None
    raise UnfitValue("is not a date (expected a date cell, yyyy-mm-dd or dd.mm.yyyy)")


def to_datetime(value: Cell) -> dt.datetime | None:
    """A wall-clock date-time: a date(-time) cell, an Excel serial number, or ISO/dotted text."""
    if is_blank(value):
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        return _parse_datetime_text(value)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _serial_to_datetime(_as_decimal(value))
    raise UnfitValue(f"is a {_kind(value)}, not a date-time")


def to_date(value: Cell) -> dt.date | None:
    """A calendar date; a value with a time of day other than midnight does not fit."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    is_number = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if is_number and _as_decimal(value) != int(_as_decimal(value)):
        raise UnfitValue("is an Excel serial number with a time of day, not a date")
    moment = to_datetime(value)
    if moment is None:
        return None
    if moment.time() != dt.time():
        raise UnfitValue("has a time of day, not just a date")
    return moment.date()


# --- booleans ---------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "ja", "1"})
_FALSE = frozenset({"false", "no", "nej", "nei", "0"})


def to_bool(value: Cell) -> bool | None:
    """A boolean cell, 0/1, or TRUE/FALSE-like text (English and Scandinavian)."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise UnfitValue("is not a boolean (expected TRUE/FALSE)")


def _kind(value: Cell) -> str:
    if isinstance(value, dt.datetime):
        return "date-time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dt.time):
        return "time of day"
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, bool):
        return "boolean"
    return type(value).__name__


#: One converter per catalog field type; a new flexlink column type needs only an entry here.
CONVERTERS: dict[str, Converter] = {
    "text": to_text,
    "int": to_int,
    "id": to_int,
    "decimal": to_decimal,
    "date": to_date,
    "datetime": to_datetime,
    "bool": to_bool,
}
