"""The fast (whole-page Arrow) conversion gives exactly what the careful per-value path gives:
the same batch, or the same error naming dataset, column, dbId and value."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pyarrow as pa
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG, Field
from xledger_assets.errors import ValueConversionError
from xledger_assets.sandbox.core import Sandbox
from xledger_assets.sync import convert
from xledger_assets.sync.convert import RecordConverter

FIELDS = (
    Field("dbId", "id"),
    Field("amount", "decimal"),
    Field("when", "datetime"),
    Field("day", "date"),
    Field("ok", "bool"),
    Field("owner.code", "text"),
    Field("owner.number", "int"),
    Field("owner.group.dbId", "id"),
    Field("owner.group.rate", "decimal"),
    Field("note", "text"),
)

NORMAL: dict[str, Any] = {
    "id": lambda r: r.choice([r.randint(1, 10**15), str(r.randint(1, 10**15))]),
    "int": lambda r: r.randint(-1000, 10**6),
    "text": lambda r: r.choice(["Åsa Öberg", "P-20177", "", "Övertid 50 %", "a\nb", "x" * 90]),
    "bool": lambda r: r.random() < 0.5,
    "date": lambda r: f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "datetime": lambda r: (
        f"20{r.randint(10, 29)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    ),
    "decimal": lambda r: f"{r.randint(-(10**6), 10**6) / 100:.2f}",
}

ODD: dict[str, list[Any]] = {
    "id": [
        0,
        -1,
        2**63 - 1,
        2**63,
        -(2**63),
        -(2**63) - 1,
        10**40,
        "123",
        "007",
        "-0",
        "+5",
        " 42 ",
        "0x1F",
        "0X1f",
        "1e3",
        "١٢٣",
        "12.0",
        "",
        "abc",
        "9223372036854775807",
        "9223372036854775808",
        1.0,
        1.5,
        1e20,
        True,
        False,
        {"x": 1},
        [1],
    ],
    "int": [0, -5, 2**63, "12", "x", 1.0, 2.5, True, "0x10"],
    "text": ["Ω", "", 5, 1.5, True, {"x": 1}, ["a"], "0x1F"],
    "bool": [True, False, "true", "FALSE", "True", "yes", 1, 0, 1.0, {"x": 1}],
    "date": [
        "2024-07-11",
        "2024-02-30",
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        "0001-01-01",
        "9999-12-31",
        "20240711",
        "2024-W28-4",
        "2024-07-11T00:00:00",
        "2024-07-11 00:00:00",
        "2024-07-11T10:00:00",
        " 2024-07-11",
        "2024-7-1",
        "2024-13-01",
        "2024-07-11Z",
        "x" * 10,
        "å" * 5,
        5,
        True,
    ],
    "datetime": [
        "2024-07-11T21:17:09",
        "2024-07-11 21:17:09",
        "2024-07-11T21:17:09.1",
        "2024-07-11T21:17:09.123456",
        "2024-07-11T21:17:09.1234567",
        "2024-07-11T21:17:09Z",
        "2024-07-11T21:17:09+02:00",
        "2024-07-11T21:17:09+24:00",
        "2024-07-11T21:17:09-00:00",
        "2024-07-11T21:17:09+0200",
        "2024-07-11T24:00:00",
        "2024-07-11T23:59:60",
        "2024-07-11T21:60:00",
        "2024-07-11T21:17",
        "2024-07-11",
        "2024-07-11T21",
        "0000-01-01T00:00:00",
        "0001-01-01T00:00:00",
        "2024-02-30T00:00:00",
        " 2024-07-11T21:17:09",
        "2024-07-11T21:17:09 ",
        "20240711T211709",
        "2024-07-11T21:17:0Z",
        "2024-07-11t21:17:09",
        "ååå" * 6,
        5,
    ],
    "decimal": [
        "1.5",
        "-1234.567891",
        "+1.5",
        ".5",
        "5.",
        "1e3",
        "1E-19",
        "1e30",
        "1e19",
        "12345678901234567890123.5",
        "99999999999999999999.999999999999999999",
        "-99999999999999999999.5",
        "100000000000000000000",
        "0.0000000000000000001",
        "1.0000000000000000000",
        "00000000000000000000000001.5",
        "NaN",
        "Infinity",
        "1_000",
        " 1.5 ",
        "12,5",
        "-0",
        "-0.00",
        "١٢٣",
        0.1,
        1.5,
        1e-7,
        5,
        10**19,
        10**20,
        10**25,
        -3,
        True,
        {"x": 1},
    ],
}


def _outcome(fn: Any, nodes: list[Any], kinds: list[str]) -> Any:
    try:
        return fn(nodes, kinds)
    except ValueConversionError as exc:
        return str(exc)


def assert_same(fast: RecordConverter, careful: RecordConverter, nodes: list[Any]) -> Any:
    kinds = ["ADDED"] * len(nodes)
    got = _outcome(fast.batch, nodes, kinds)
    want = _outcome(careful.careful_batch, nodes, kinds)
    if isinstance(want, str):
        assert got == want
    else:
        assert isinstance(got, pa.RecordBatch), got
        assert got.schema == want.schema
        assert got.equals(want), (got.to_pylist(), want.to_pylist())
    return got


def _set(node: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            return  # the parent is null or not an object: nothing to set
        node = child
    node[parts[-1]] = value


def random_page(r: random.Random, fields: tuple[Field, ...], n: int) -> list[Any]:
    odd_columns = {f.path for f in fields if r.random() < 0.15}
    nodes: list[Any] = []
    for _ in range(n):
        node: dict[str, Any] = {"owner": {"group": {}}}
        if r.random() < 0.05:
            node["owner"] = None
        elif r.random() < 0.02:
            node["owner"] = r.choice(["x", 5, ["a"]])
        elif r.random() < 0.05:
            node["owner"]["group"] = r.choice([None, "g", 1])
        for f in fields:
            if r.random() < 0.1 and f.path != "dbId":
                continue  # missing key
            if r.random() < 0.1:
                value = None
            elif f.path in odd_columns and r.random() < 0.5:
                value = r.choice(ODD[f.type])
            else:
                value = NORMAL[f.type](r)
            _set(node, f.path, value)
        if r.random() < 0.003:
            nodes.append(r.choice([None, "node", [1, 2]]))
        else:
            nodes.append(node)
    return json.loads(json.dumps(nodes))  # plain JSON values (json keeps ints beyond 64 bits)


@pytest.mark.parametrize("seed", range(12))
def test_fast_equals_careful_on_random_pages(seed: int) -> None:
    r = random.Random(seed)
    fast, careful = RecordConverter("demo", FIELDS), RecordConverter("demo", FIELDS)
    for _ in range(40):  # one converter across pages: what it learns must not leak wrongly
        assert_same(fast, careful, random_page(r, FIELDS, r.choice([1, 3, 20, 200])))


@pytest.mark.parametrize("field_type", sorted(ODD))
def test_each_odd_value_alone_and_among_normal_ones(field_type: str) -> None:
    fields = (Field("dbId", "id"), Field("x.v", field_type))  # type: ignore[arg-type]
    r = random.Random(field_type)
    for value in ODD[field_type]:
        fast, careful = RecordConverter("demo", fields), RecordConverter("demo", fields)
        assert_same(fast, careful, [{"dbId": 7, "x": {"v": value}}])
        page = [{"dbId": i, "x": {"v": NORMAL[field_type](r)}} for i in range(1, 50)]
        page.insert(r.randrange(len(page)), {"dbId": 99, "x": {"v": value}})
        assert_same(fast, careful, page)
        assert_same(
            fast, careful, [{"dbId": i, "x": {"v": NORMAL[field_type](r)}} for i in range(9)]
        )


def test_arrow_decimal_overflow_is_not_taken() -> None:
    # Arrow's text-to-decimal cast turns "1e30" into another number without an error.
    c = RecordConverter("demo", (Field("dbId", "id"), Field("amount", "decimal")))
    with pytest.raises(ValueConversionError, match="'1e30' does not fit"):
        c.batch([{"dbId": 1, "amount": "1e30"}], ["ADDED"])
    with pytest.raises(ValueConversionError, match=r"'12345678901234567890123\.5' does not fit"):
        c.batch([{"dbId": 1, "amount": "12345678901234567890123.5"}], ["ADDED"])


def test_float_decimals_keep_their_written_digits_beside_fast_columns() -> None:
    fields = (Field("dbId", "id"), Field("amount", "decimal"), Field("code", "text"))
    c = RecordConverter("demo", fields)
    rows = c.batch(
        orjson.loads(b'[{"dbId": "1", "amount": 0.1, "code": "a"}, {"dbId": 2, "amount": 2}]'),
        ["ADDED", "ADDED"],
    ).to_pylist()
    assert [str(r["amount"]) for r in rows] == ["0.100000000000000000", "2.000000000000000000"]
    assert [r["dbId"] for r in rows] == [1, 2]


@pytest.mark.parametrize("dataset", [d.name for d in DEFAULT_CATALOG.api])
def test_sandbox_pages_take_the_fast_path_for_every_column(
    dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = DEFAULT_CATALOG.api_dataset(dataset)
    nodes = orjson.loads(orjson.dumps(Sandbox(seed=3, size=400).truth(d.items_field)))
    fast, careful = RecordConverter(d.name, d.fields), RecordConverter(d.name, d.fields)
    want = careful.careful_batch(nodes, ["ADDED"] * len(nodes))
    assert fast.batch(nodes, ["ADDED"] * len(nodes)).equals(want)  # learns the wire kinds
    slow: list[str] = []
    original = convert.RecordConverter._careful_column

    def spy(self: RecordConverter, f: Field, *args: Any) -> pa.Array:
        slow.append(f.path)
        return original(self, f, *args)

    monkeypatch.setattr(convert.RecordConverter, "_careful_column", spy)
    assert fast.batch(nodes, ["ADDED"] * len(nodes)).equals(want)
    assert slow == []  # every column went through Arrow


def test_a_page_of_other_wire_shapes_relearns_and_stays_exact() -> None:
    fields = (Field("dbId", "id"), Field("n", "int"), Field("d", "decimal"))
    fast, careful = RecordConverter("demo", fields), RecordConverter("demo", fields)
    assert_same(fast, careful, [{"dbId": 1, "n": 5, "d": "1.5"}])
    assert_same(fast, careful, [{"dbId": "2", "n": "6", "d": 7}])  # all three switch
    assert_same(fast, careful, [{"dbId": 3, "n": 8, "d": "2.5"}])  # and back
    assert_same(fast, careful, [{"dbId": 4, "n": True, "d": "2.5"}])  # bool in an int: error
