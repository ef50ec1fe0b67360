from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG, Field
from xledger_assets.errors import ValueConversionError
from xledger_assets.sync.convert import RecordConverter

FIELDS = (
    Field("dbId", "id"),
    Field("amount", "decimal"),
    Field("when", "datetime"),
    Field("day", "date"),
    Field("ok", "bool"),
    Field("owner.code", "text"),
    Field("owner.number", "int"),
)


def convert(nodes, kinds=None):
    c = RecordConverter("demo", FIELDS)
    return c.batch(nodes, kinds or ["ADDED"] * len(nodes))


def test_values_become_exact_types():
    batch = convert(
        [
            {
                "dbId": "112706067815138",
                "amount": "-1234.567891",
                "when": "2024-07-11T21:17:09",
                "day": "2024-07-11",
                "ok": True,
                "owner": {"code": "Å1", "number": "42"},
            },
            {
                "dbId": 5,
                "amount": 0.1,
                "when": "2024-07-11T21:17:09.123456789+02:00",
                "day": "2024-07-11T00:00:00",
                "ok": False,
                "owner": None,
            },
        ]
    )
    rows = batch.to_pylist()
    assert rows[0] == {
        "dbId": 112706067815138,
        "amount": Decimal("-1234.567891"),
        "when": datetime(2024, 7, 11, 21, 17, 9),
        "day": date(2024, 7, 11),
        "ok": True,
        "owner.code": "Å1",
        "owner.number": 42,
        "mutationType": "ADDED",
    }
    # JSON numbers keep their written decimal digits; a zone suffix is dropped, not applied.
    assert rows[1]["amount"] == Decimal("0.1")
    assert rows[1]["when"] == datetime(2024, 7, 11, 21, 17, 9, 123456)
    assert rows[1]["owner.code"] is None and rows[1]["owner.number"] is None
    assert batch.schema.field("amount").type == pa.decimal128(38, 18)
    assert batch.schema.field("when").type == pa.timestamp("us")


def test_all_null_nested_objects_keep_column_types():
    for d in DEFAULT_CATALOG.api:
        c = RecordConverter(d.name, d.fields)
        batch = c.batch([{"dbId": 1}], ["ADDED"])
        assert batch.schema == c.schema
        assert batch.column_names == [f.path for f in d.fields] + ["mutationType"]
        assert [
            v for k, v in batch.to_pylist()[0].items() if k not in ("dbId", "mutationType")
        ] == [None] * (len(d.fields) - 1)


@pytest.mark.parametrize(
    ("node", "column", "shown"),
    [
        ({"dbId": 7, "amount": "12,5"}, "amount", "'12,5'"),
        ({"dbId": 7, "amount": "1e30"}, "amount", "'1e30'"),
        ({"dbId": 7, "amount": "0.0000000000000000001"}, "amount", "'0.0000000000000000001'"),
        ({"dbId": 7, "owner": {"number": 1.5}}, "owner.number", "1.5"),
        (
            {"dbId": 7, "owner": {"number": "9223372036854775808"}},
            "owner.number",
            "'9223372036854775808'",
        ),
        ({"dbId": 7, "day": "2024-02-30"}, "day", "'2024-02-30'"),
        ({"dbId": 7, "day": "2024-02-03T10:00:00"}, "day", "'2024-02-03T10:00:00'"),
        ({"dbId": 7, "ok": "yes"}, "ok", "'yes'"),
        ({"dbId": 7, "owner": {"code": {"x": 1}}}, "owner.code", "{'x': 1}"),
    ],
)
def test_unfit_value_names_dataset_column_dbid_and_value(node, column, shown):
    with pytest.raises(ValueConversionError) as err:
        convert([node])
    assert str(err.value).startswith(f"demo: column {column!r} of dbId 7: value {shown} ")
    assert "nothing was written" in str(err.value)


def test_missing_dbid_fails():
    with pytest.raises(
        ValueConversionError, match="column 'dbId' of dbId None: value None is missing"
    ):
        convert([{"amount": "1"}])


def test_tombstones_hold_dbid_and_nulls():
    c = RecordConverter("demo", FIELDS)
    rows = c.tombstones([3, 4]).to_pylist()
    assert rows[0] == {**{f.path: None for f in FIELDS}, "dbId": 3, "mutationType": "DELETED"}
    assert [r["dbId"] for r in rows] == [3, 4]
