"""A page read from its raw body by pyarrow.json (``xledger_assets.sync.pages.ArrowPages`` and
``RecordConverter.batch_from_struct``) gives exactly what ``orjson.loads`` and
``RecordConverter.batch`` give: the same batch, or the same error naming dataset, column, dbId
and value; and every body where that cannot be vouched for is left to the usual way."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa
import pytest

from xledger_assets.catalog import DEFAULT_CATALOG, Field
from xledger_assets.errors import ValueConversionError
from xledger_assets.sandbox.core import Sandbox
from xledger_assets.sync.convert import RecordConverter
from xledger_assets.sync.pages import ArrowPages
from xledger_assets_tests.unit.test_convert_fast import FIELDS, NORMAL, ODD

API = [d.name for d in DEFAULT_CATALOG.api]

TEXTS = [
    "Åsa Öberg",
    "P-20177",
    "",
    "Övertid 50 %",
    "a\nb\r\nc",
    "tab\there",
    'quote " and \\ backslash \\" \\\\',
    "slash / and \\/ and \u2028\u2029 separators",
    "emoji 😀 🇳🇴 and 𝄞",
    "中文 日本語 한국어",
    "ctrl \x01\x1f\x7f\x80\x9f",
    "nul \x00 inside",
    "NaN",
    "-Infinity",
    "Inf",
    "\ufeffbom inside",
    "a\u0301 combining",
    "x" * 300,
    "null",
    "1e400",
]

# How a page is written: compact, ASCII only (every non-ASCII letter a \\u escape, surrogate
# pairs for emoji), pretty-printed over many lines, "/" escaped as "\\/".
ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "compact": lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":")).encode(),
    "ascii": lambda o: json.dumps(o, ensure_ascii=True).encode(),
    "pretty": lambda o: json.dumps(o, ensure_ascii=False, indent=2).encode(),
    "slashes": lambda o: (
        json.dumps(o, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/").encode()
    ),
}

# Wire styles per column and page: the kind of JSON value a column's values have.
STYLES = {
    "id": ["int", "str", "mixed"],
    "int": ["int", "str", "mixed"],
    "decimal": ["str", "int", "float", "mixed"],
    "text": ["str"],
    "bool": ["bool"],
    "date": ["str"],
    "datetime": ["str"],
}


def wire_value(r: random.Random, f: Field, style: str, odd: bool) -> Any:
    if odd and r.random() < 0.3:
        return r.choice(ODD[f.type])
    if style == "mixed":
        style = r.choice([s for s in STYLES[f.type] if s != "mixed"])
    if f.type == "text":
        return r.choice(TEXTS)
    if f.type in ("id", "int"):
        n = r.randint(1, 10**15) if f.type == "id" else r.randint(-1000, 10**6)
        return n if style == "int" else str(n)
    if f.type == "decimal":
        if style == "int":
            return r.randint(-(10**6), 10**6)
        if style == "float":
            return r.randint(-(10**6), 10**6) / 100
        return NORMAL["decimal"](r)
    return NORMAL[f.type](r)


def tree_of(fields: tuple[Field, ...]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for f in fields:
        node = tree
        for part in f.parts[:-1]:
            node = node.setdefault(part, {})
        node[f.parts[-1]] = f
    return tree


def random_node(
    r: random.Random, tree: dict[str, Any], styles: dict[str, str], odd: set[str]
) -> dict[str, Any]:
    node: dict[str, Any] = {}
    for name, sub in tree.items():
        is_id = not isinstance(sub, dict) and sub.path == "dbId"
        roll = r.random()
        if roll < (0.002 if is_id else 0.08):
            continue  # missing key
        if roll < (0.004 if is_id else 0.16):
            node[name] = None  # null: a leaf or a whole object
        elif isinstance(sub, dict):
            node[name] = random_node(r, sub, styles, odd)
        else:
            node[name] = wire_value(r, sub, styles[sub.path], sub.path in odd)
    return node


def body_of(
    root: str, nodes: list[Any], *, has_next: bool = True, encoder: str = "compact", start: int = 0
) -> bytes:
    edges = [{"cursor": f"c{start + i}", "node": n} for i, n in enumerate(nodes)]
    answer = {"data": {root: {"edges": edges, "pageInfo": {"hasNextPage": has_next}}}}
    return ENCODERS[encoder](answer)


def outcome(fn: Callable[..., pa.RecordBatch], *args: Any) -> pa.RecordBatch | str:
    try:
        return fn(*args)
    except ValueConversionError as exc:
        return str(exc)


def assert_same(got: pa.RecordBatch | str, want: pa.RecordBatch | str) -> None:
    if isinstance(want, str):
        assert got == want
    else:
        assert isinstance(got, pa.RecordBatch), got
        assert got.schema == want.schema
        assert got.equals(want), (got.to_pylist()[:3], want.to_pylist()[:3])


class Both:
    """Today's way (orjson.loads, RecordConverter.batch) beside the Arrow one (ArrowPages,
    batch_from_struct, else batch), each with its own converter across pages, as in a load."""

    def __init__(self, name: str, fields: tuple[Field, ...], root: str) -> None:
        self.root = root
        self.today = RecordConverter(name, fields)
        self.careful = RecordConverter(name, fields)
        self.new = RecordConverter(name, fields)
        self.hook = ArrowPages(root, self.new)
        self.fast_pages = 0

    def page(self, body: bytes) -> bool:
        """Compare both ways on one page; True when the Arrow way read it."""
        edges = orjson.loads(body)["data"][self.root]["edges"]
        nodes = [e.get("node") for e in edges]
        kinds = ["ADDED"] * len(nodes)
        want = outcome(self.today.batch, nodes, kinds)
        assert_same(outcome(self.careful.careful_batch, nodes, kinds), want)
        fast = self.hook(body)
        if fast is None:
            got = outcome(self.new.batch, nodes, kinds)
        else:
            self.fast_pages += 1
            assert fast.size == len(nodes)
            assert fast.last_cursor == edges[-1]["cursor"]
            assert fast.has_next is orjson.loads(body)["data"][self.root]["pageInfo"]["hasNextPage"]
            got = outcome(self.new.batch_from_struct, fast.records, kinds)
        assert_same(got, want)
        return fast is not None


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", API)
def test_random_pages_of_every_api_dataset(name: str, seed: int) -> None:
    d = DEFAULT_CATALOG.api_dataset(name)
    r = random.Random(f"{name}-{seed}")
    tree = tree_of(d.fields)
    by_path = {f.path: f for f in d.fields}
    both = Both(d.name, d.fields, d.items_field)

    def style(f: Field) -> str:  # mostly one JSON type per column; floats and mixes now and then
        return r.choice(STYLES[f.type]) if r.random() < 0.04 else r.choice(STYLES[f.type][:2])

    styles = {f.path: style(f) for f in d.fields}
    for page in range(24):
        if page % 6 == 0:  # the wire kinds change now and then, for some columns
            for f in d.fields:
                if r.random() < 0.15:
                    styles[f.path] = style(f)
        odd = {f.path for f in d.fields if r.random() < 0.05} if page % 4 == 3 else set()
        nodes = [random_node(r, tree, styles, odd) for _ in range(r.choice([1, 5, 40]))]
        # A page is read by Arrow exactly when each leaf's values on it have one JSON type
        # that the fast path converts for the field (and few leaves changed their type).
        read_with = page_leaf_types(both.hook._last or both.new.page_type())
        types = json_types(nodes, tree)
        expected = (
            all(
                len(tags) == 1 and next(iter(tags)) in FAST_TYPES[by_path[p].type]
                for p, tags in types.items()
            )
            and sum(WIRE_TYPE[next(iter(t))] != read_with[p] for p, t in types.items()) < 16
        )
        body = body_of(d.items_field, nodes, encoder=r.choice(list(ENCODERS)), start=page * 100)
        assert both.page(body) == expected, f"page {page}: expected Arrow to read it: {expected}"
    assert both.fast_pages >= 3


WIRE_TYPE = {"int": pa.int64(), "str": pa.string(), "bool": pa.bool_()}
FAST_TYPES = {  # the JSON types the fast path converts, per field type
    "id": {"int", "str"},
    "int": {"int", "str"},
    "decimal": {"int", "str"},
    "text": {"str"},
    "date": {"str"},
    "datetime": {"str"},
    "bool": {"bool"},
}


def page_leaf_types(struct: pa.StructType | None, prefix: str = "") -> dict[str, pa.DataType]:
    assert struct is not None
    out: dict[str, pa.DataType] = {}
    for field in struct:
        if pa.types.is_struct(field.type):
            out.update(page_leaf_types(field.type, prefix + field.name + "."))
        else:
            out[prefix + field.name] = field.type
    return out


def json_types(nodes: list[Any], tree: dict[str, Any], prefix: str = "") -> dict[str, set[str]]:
    """The JSON types of the values (not null) of each leaf on a page."""
    out: dict[str, set[str]] = {}
    for name, sub in tree.items():
        values = [n.get(name) for n in nodes if isinstance(n, dict)]
        values = [v for v in values if v is not None]
        if isinstance(sub, dict):
            out.update(json_types(values, sub, prefix + name + "."))
        elif values:
            out[prefix + name] = {
                "int"
                if type(v) is int and -(2**63) <= v < 2**63
                else "str"
                if type(v) is str
                else "bool"
                if type(v) is bool
                else repr(type(v))
                for v in values
            }
    return out


@pytest.mark.parametrize("seed", range(8))
def test_random_pages_with_odd_values_and_broken_objects(seed: int) -> None:
    from xledger_assets_tests.unit.test_convert_fast import random_page

    r = random.Random(seed)
    both = Both("demo", FIELDS, "items")
    fast = 0
    for page in range(30):
        nodes = random_page(r, FIELDS, r.choice([1, 3, 20, 200]))
        fast += both.page(body_of("items", nodes, encoder=r.choice(list(ENCODERS)), start=page))
    assert both.fast_pages == fast


@pytest.mark.parametrize("field_type", sorted(ODD))
def test_odd_values_among_normal_ones(field_type: str) -> None:
    # Odd values of the column's own JSON type are read by Arrow; batch_from_struct must then
    # take the careful way for the column (or fail naming the value) exactly as batch does.
    fields = (Field("dbId", "id"), Field("x.v", field_type))  # type: ignore[arg-type]
    r = random.Random(field_type)
    fast = readable = 0
    for value in ODD[field_type]:
        for style in STYLES[field_type][:2]:
            both = Both("demo", fields, "items")
            f = fields[1]
            page = [{"dbId": i, "x": {"v": wire_value(r, f, style, False)}} for i in range(30)]
            both.page(body_of("items", page))  # learns the style
            page.insert(r.randrange(len(page)), {"dbId": 99, "x": {"v": value}})
            fast += both.page(body_of("items", page))
            readable += (
                isinstance(value, str)
                if style == "str"
                else type(value) is bool
                if style == "bool"
                else type(value) is int and -(2**63) <= value < 2**63
            )
    assert fast == readable  # exactly the values of the column's JSON type went through Arrow


@pytest.mark.parametrize("name", API)
def test_sandbox_pages_of_every_api_dataset(name: str) -> None:
    d = DEFAULT_CATALOG.api_dataset(name)
    records = Sandbox(seed=5, size=120).truth(d.items_field)
    nodes = [project(rec, tree_of(d.fields)) for rec in records]
    both = Both(d.name, d.fields, d.items_field)
    taken = [both.page(body_of(d.items_field, nodes[i : i + 40], start=i)) for i in (0, 40, 80)]
    assert taken == [True, True, True]


def project(record: Any, tree: dict[str, Any]) -> Any:
    """A record reduced to the selected fields, as the API answers the query."""
    if not isinstance(record, dict):
        return record
    return {
        name: project(record.get(name), sub) if isinstance(sub, dict) else record.get(name)
        for name, sub in tree.items()
    }


def test_values_as_they_come_over_the_wire() -> None:
    fields = (
        Field("dbId", "id"),
        Field("n", "int"),
        Field("d", "decimal"),
        Field("t", "text"),
        Field("o.dbId", "id"),
        Field("o.day", "date"),
        Field("o.at", "datetime"),
        Field("o.ok", "bool"),
    )
    both = Both("demo", fields, "items")
    rows = [
        {
            "dbId": 1,
            "n": -5,
            "d": "1.50",
            "t": "Å\n\"'\\",
            "o": {"dbId": 9, "day": "2024-02-29", "at": "2024-07-11T21:17:09", "ok": True},
        },
        {"dbId": 2, "n": None, "d": None, "t": None, "o": None},
        {"dbId": 3},
        {"dbId": 4, "o": {}},
        {"dbId": 2**63 - 1, "n": -(2**63), "d": "-99999999999999999999.999999999999999999"},
    ]
    for encoder in ENCODERS:
        both.page(body_of("items", rows, encoder=encoder))
    assert both.fast_pages == len(ENCODERS)  # the first guess of the wire kinds holds
    read = [
        both.page(body_of("items", page))
        for page in (
            [{"dbId": "10", "n": "11", "d": 12, "o": {"dbId": "13"}}],  # every kind changes
            [{"dbId": "14", "n": "15", "d": 16, "o": {"dbId": "17"}}],
            [{"dbId": 18, "d": 1e3}],  # a float decimal: the careful way
            [{"dbId": 19, "d": "2.5"}, {"dbId": "20"}],  # an id of two kinds: the careful way
            [{"dbId": 21, "d": "2.5", "n": 22, "o": {"ok": False}}],
        )
    ]
    assert read == [True, True, False, False, True]
    for page in (
        [{"dbId": 18, "d": 1e3}],  # a float decimal: the careful way
        [{"dbId": 19, "d": "2.5"}],  # a decimal as text again
        [{"dbId": 20, "d": "2.5"}],
        [{"dbId": 2**63}],  # beyond int64: the careful way (an error)
        [{"dbId": 1.0}],  # a float id
        [{"dbId": 21, "n": 1e2}],
        [{"dbId": 22, "n": 10**20}],
        [{"dbId": 23, "o": {"day": "2024-07-11T00:00:00", "at": "2024-07-11T21:17:09Z"}}],
        [{"dbId": 24, "o": {"day": "2024-07-11T10:00:00"}}],  # an error naming the value
        [{"dbId": 25, "d": "1e30"}],  # an error
        [{"dbId": None}],  # an error: no dbId
        [None, {"dbId": 26}],  # a null node: an error naming no dbId
        [{"dbId": 27, "o": "x"}],  # not an object: null, as today
    ):
        both.page(body_of("items", page))


def test_an_empty_struct_gives_the_empty_batch() -> None:
    for d in DEFAULT_CATALOG.api:
        c = RecordConverter(d.name, d.fields)
        page_type = c.page_type()
        assert page_type is not None
        empty = pa.array([], type=page_type)
        assert c.batch_from_struct(empty, []).equals(c.batch([], []))


def test_a_struct_of_another_shape_is_refused() -> None:
    c = RecordConverter("demo", (Field("dbId", "id"), Field("t", "text")))
    with pytest.raises(ValueError, match="not a page type"):
        c.batch_from_struct(pa.array([{"dbId": 1}], pa.struct([("dbId", pa.int64())])), ["ADDED"])
    wrong = pa.struct([("dbId", pa.int64()), ("t", pa.int64())])
    with pytest.raises(ValueError, match="not a page type"):
        c.batch_from_struct(pa.array([{"dbId": 1, "t": 2}], wrong), ["ADDED"])
    decimal = pa.struct([("dbId", pa.decimal128(38, 0)), ("t", pa.string())])
    with pytest.raises(ValueError, match="not a page type"):
        c.batch_from_struct(pa.array([{"dbId": 1, "t": "a"}], decimal), ["ADDED"])


GOOD = {"dbId": 1, "t": "a"}


def _fields() -> tuple[Field, ...]:
    return (Field("dbId", "id"), Field("t", "text"), Field("o.n", "int"))


def _page(*nodes: Any, has_next: bool = False, **extra: Any) -> dict[str, Any]:
    edges = [{"cursor": str(i), "node": n} for i, n in enumerate(nodes)]
    answer: dict[str, Any] = {
        "data": {"items": {"edges": edges, "pageInfo": {"hasNextPage": has_next}}}
    }
    answer.update(extra)
    return answer


VALID = orjson.dumps(_page(GOOD, {"dbId": 2, "t": None, "o": {"n": 3}}))

# Bodies the Arrow way must leave to orjson and the usual checks: each is read differently by
# orjson (or refused by it), or is a page the usual checks treat specially.
LEFT_ALONE: dict[str, bytes] = {
    "errors and data": orjson.dumps(_page(GOOD, errors=[{"message": "x", "code": "C"}])),
    "errors empty": orjson.dumps(_page(GOOD, errors=[])),
    "errors object": orjson.dumps(_page(GOOD, errors={"message": "x"})),
    "errors false": orjson.dumps(_page(GOOD, errors=False)),
    "only errors": b'{"errors": [{"message": "Your query timed out."}]}',
    "no data": b'{"other": 1}',
    "data null": b'{"data": null}',
    "data not an object": b'{"data": [1]}',
    "connection null": b'{"data": {"items": null}}',
    "connection missing": b'{"data": {}}',
    "another root": b'{"data": {"other": {"edges": []}}}',
    "edges null": b'{"data": {"items": {"edges": null, "pageInfo": {"hasNextPage": false}}}}',
    "edges empty": b'{"data": {"items": {"edges": [], "pageInfo": {"hasNextPage": true}}}}',
    "edges not a list": b'{"data": {"items": {"edges": {}, "pageInfo": {"hasNextPage": true}}}}',
    "no pageInfo": orjson.dumps({"data": {"items": {"edges": [{"cursor": "1", "node": GOOD}]}}}),
    "hasNextPage null": VALID.replace(b'"hasNextPage":false', b'"hasNextPage":null'),
    "hasNextPage text": VALID.replace(b'"hasNextPage":false', b'"hasNextPage":"false"'),
    "null edge": orjson.dumps(_page(GOOD)).replace(b'[{"cursor"', b'[null,{"cursor"'),
    "edge without cursor": orjson.dumps(_page(GOOD)).replace(b'"cursor":"0",', b""),
    "cursor a number": orjson.dumps(_page(GOOD)).replace(b'"cursor":"0"', b'"cursor":7'),
    "node not an object": orjson.dumps(_page(GOOD, "node")),
    "node a list": orjson.dumps(_page(GOOD, [1])),
    "id as text and number": orjson.dumps(_page({"dbId": "1"}, {"dbId": 2})),
    "text a number after retyping the id": orjson.dumps(_page({"dbId": "1", "t": 5})),
    "id a float": orjson.dumps(_page({"dbId": 1.0})),
    "id with an exponent": orjson.dumps(_page(GOOD)).replace(b'"dbId":1', b'"dbId":1e0'),
    "id beyond int64": orjson.dumps(_page({"dbId": 2**63})),
    "id beyond 64 bits": orjson.dumps(_page(GOOD)).replace(b'"dbId":1', b'"dbId":1' + b"0" * 25),
    "id negative zero float": orjson.dumps(_page(GOOD)).replace(b'"dbId":1', b'"dbId":-0.0'),
    "text a number": orjson.dumps(_page({"dbId": 1, "t": 5})),
    "text a bool": orjson.dumps(_page({"dbId": 1, "t": True})),
    "text an object": orjson.dumps(_page({"dbId": 1, "t": {"a": "b"}})),
    "object a string": orjson.dumps(_page({"dbId": 1, "o": "x"})),
    "object a list": orjson.dumps(_page({"dbId": 1, "o": []})),
    "NaN": VALID.replace(b'"n":3', b'"n":NaN'),
    "Infinity": VALID.replace(b'"n":3', b'"n":-Infinity'),
    "Inf": VALID.replace(b'"n":3', b'"n":Inf'),
    "unknown node field": orjson.dumps(_page({"dbId": 1, "extra": "x"})),
    "unknown field with NaN": VALID.replace(b'{"dbId":1,', b'{"z":NaN,"dbId":1,'),
    "unknown deep field": VALID.replace(
        b'{"dbId":1,', b'{"z":' + b"[" * 1100 + b"]" * 1100 + b',"dbId":1,'
    ),
    "unknown top-level field": VALID[:-1] + b',"extensions":{"cost":1}}',
    "unknown edge field": VALID.replace(b'{"cursor":"0"', b'{"x":1,"cursor":"0"'),
    "unknown pageInfo field": VALID.replace(
        b'"hasNextPage":false', b'"hasNextPage":false,"endCursor":"1"'
    ),
    "duplicate key": VALID.replace(b'{"dbId":1,', b'{"dbId":5,"dbId":1,'),
    "duplicate data": VALID[:-1] + b',"data":null}',
    "invalid UTF-8 in a value": orjson.dumps(_page({"dbId": 1, "t": "ab"})).replace(
        b"ab", b"a\xffb"
    ),
    "invalid UTF-8 in a skipped place": VALID.replace(b'"t":"a"', b'"t":"a","\xc0\xaf":1'),
    "encoded surrogate": orjson.dumps(_page({"dbId": 1, "t": "ab"})).replace(
        b"ab", b"\xed\xa0\x80"
    ),
    "lone high surrogate": orjson.dumps(_page({"dbId": 1, "t": "ab"})).replace(b"ab", b"\\ud800"),
    "lone low surrogate": orjson.dumps(_page({"dbId": 1, "t": "ab"})).replace(b"ab", b"\\udc00x"),
    "byte order mark": b"\xef\xbb\xbf" + VALID,
    "two documents": VALID + b"\n" + VALID,
    "two documents on a line": VALID + VALID,
    "trailing garbage": VALID + b" x",
    "trailing NUL": VALID + b"\x00",
    "truncated": VALID[: len(VALID) // 2],
    "truncated at the end": VALID[:-1],
    "html": b"<!DOCTYPE html><html><body>Maintenance</body></html>",
    "empty": b"",
    "whitespace": b" \n\t ",
    "a list": b"[" + VALID + b"]",
    "a number": b"5",
    "null": b"null",
    "control character in a string": VALID.replace(b'"t":"a"', b'"t":"a\x01"'),
    "trailing comma": VALID[:-1] + b",}",
    "comment": VALID + b" // done",
    "single quotes": VALID.replace(b'"t":"a"', b"\"t\":'a'"),
}


def test_valid_bodies_are_read() -> None:
    c = RecordConverter("demo", _fields())
    hook = ArrowPages("items", c)
    for body in (
        VALID,
        b" \r\n\t" + VALID + b" \r\n\t\n",
        json.dumps(orjson.loads(VALID), indent=3).encode(),
    ):
        fast = hook(body)
        assert fast is not None and fast.size == 2 and fast.last_cursor == "1"
        assert fast.has_next is False
    for body in (
        orjson.dumps(_page(GOOD, errors=None)),
        orjson.dumps(_page({"dbId": 1, "t": "NaN", "o": {"n": -0}}, has_next=True)),
        orjson.dumps(_page({"dbId": 1, "t": "ab"})).replace(b"ab", b"\\ud83d\\ude00"),
        json.dumps(_page({"dbId": 1, "t": "😀 Å"})).encode(),  # \\ud83d\\ude00 \\u00c5
        orjson.dumps(_page({"dbId": 1}, None, {})),  # a null node, an empty one
        orjson.dumps(_page({"dbId": "1", "o": {"n": "2"}})),  # ids of another JSON type
    ):
        assert hook(body) is not None, body


@pytest.mark.parametrize("case", sorted(LEFT_ALONE))
def test_bodies_left_to_orjson(case: str) -> None:
    c = RecordConverter("demo", _fields())
    assert ArrowPages("items", c)(LEFT_ALONE[case]) is None
