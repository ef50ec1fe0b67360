"""The schema: every contracted field path is selectable, types, strict validation, 64-bit Int."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import graphql
import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

from xledger_assets.catalog import API_DATASETS
from xledger_assets.sandbox import ENTITIES, Sandbox, load_schema, schema_sdl

from .conftest import Api

NAMES = list(ENTITIES)
VALUE_SHAPES: dict[str, Any] = {
    "text": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "id": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, str) and re.fullmatch(r"\d+", v) is not None)
    ),
    "date": lambda v: isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) is not None,
    "datetime": lambda v: (
        isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", v) is not None
    ),
    "decimal": lambda v: isinstance(v, str) and re.fullmatch(r"-?\d+\.\d{2,6}", v) is not None,
}


def fields_of(entity: str) -> list[tuple[str, str]]:
    text = resources.files("xledger_assets.queries").joinpath(f"{entity}.fields").read_text()
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            path, kind = line.split()
            out.append((path, kind))
    return out


def selection(paths: list[str]) -> str:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})

    def render(t: dict[str, Any]) -> str:
        return " ".join(f"{k} {{ {render(v)} }}" if v else k for k, v in t.items())

    return render(tree)


def walk(record: Any, path: str) -> Any:
    for part in path.split("."):
        if record is None:
            return None
        record = record.get(part)
    return record


def test_entities_match_the_catalog() -> None:
    got = {(e.name, e.items_field, e.deltas_field, e.id_list_type) for e in ENTITIES.values()}
    want = {(d.name, d.items_field, d.deltas_field, d.id_list_type) for d in API_DATASETS}
    assert got == want


def test_sdl_is_shipped_and_builds() -> None:
    sdl = schema_sdl()
    assert "enum OwnerSet" in sdl and "scalar Int64String" in sdl
    schema = load_schema()
    query = schema.query_type
    assert query is not None
    for spec in ENTITIES.values():
        field = query.fields[spec.items_field]
        assert set(field.args) == {"first", "after", "last", "ownerSet", "filter"}
        filter_type = graphql.get_named_type(field.args["filter"].type)
        assert filter_type.name == f"{spec.node_type}_Filter"
        dbid_in = filter_type.fields["dbId_in"].type  # type: ignore[union-attr]
        assert str(dbid_in) == f"[{spec.id_list_type}]"
        assert spec.deltas_field in query.fields
    owner_set = schema.get_type("OwnerSet")
    assert set(owner_set.values) == {"CURRENT", "UPPER", "LOWER", "MINE", "ALL"}  # type: ignore[union-attr]
    assert set(schema.get_type("MutationType").values) == {"ADDED", "UPDATED", "DELETED"}  # type: ignore[union-attr]


@pytest.mark.parametrize("entity", NAMES)
def test_every_contracted_path_is_selectable_and_typed(api: Api, entity: str) -> None:
    spec = ENTITIES[entity]
    fields = fields_of(entity)
    query = (
        f"query Q($first: Int!) {{ {spec.items_field}(first: $first, ownerSet: MINE) {{ "
        f"edges {{ cursor node {{ {selection([p for p, _ in fields])} }} }} "
        f"pageInfo {{ hasNextPage }} }} }}"
    )
    edges = api.gql(query, {"first": 10000})[spec.items_field]["edges"]
    truth = api.sandbox.truth(entity)
    assert len(edges) == len(truth) == 30
    for edge, record in zip(edges, truth, strict=True):
        assert isinstance(edge["cursor"], str) and edge["cursor"]
        node = edge["node"]
        assert node["dbId"] is not None
        for path, kind in fields:
            value = walk(node, path)
            assert value == walk(record, path), (entity, path)
            assert value is None or VALUE_SHAPES[kind](value), (entity, path, value)


@pytest.mark.parametrize("entity", NAMES)
def test_seed_data_is_realistic(entity: str) -> None:
    sandbox = Sandbox(seed=3, size=400)
    records = sandbox.truth(entity)
    for path, _ in fields_of(entity):
        values = [walk(r, path) for r in records]
        assert any(v is not None for v in values), f"{entity}.{path} is always null"
    ids = [int(r["dbId"]) for r in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(str(i)) == 15 for i in ids)
    text = str(records)
    assert re.search("[åäöøÅÄÖØ]", text)


def test_seed_data_has_nulls_negatives_and_string_ids() -> None:
    sandbox = Sandbox(seed=3, size=400)
    timesheets = sandbox.truth("timesheets")
    assert any(r["project"] is None for r in timesheets)
    assert any(r["text"] is None for r in timesheets)
    assert any(r["workingHours"].startswith("-") for r in timesheets)
    assert all(isinstance(r["dbId"], str) for r in timesheets)  # Int64String
    assert all(isinstance(r["owner"]["dbId"], str) for r in timesheets)  # nested Int64String
    assert all(isinstance(r["employee"]["dbId"], int) for r in timesheets)
    employees = sandbox.truth("employees")
    assert any(r["contact"] is None for r in employees)
    assert any(r["employmentTo"] is None for r in employees)
    transactions = sandbox.truth("transactions")
    assert any(r["amount"].startswith("-") for r in transactions)
    scales = {len(r["hourlyRevenueCurrency"].split(".")[1]) for r in timesheets}
    assert scales == {4}
    rates = {len(r["exchangeRate"].split(".")[1]) for r in sandbox.truth("ar_transactions")}
    assert rates == {6}


def _check_keys(value: Any, type_: Any, where: str) -> None:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            for item in value or []:
                _check_keys(item, type_.of_type, where)
            return
        type_ = type_.of_type
    if isinstance(type_, GraphQLObjectType) and value is not None:
        assert isinstance(value, dict), where
        for key, sub in value.items():
            assert key in type_.fields, f"{where}.{key} is not a field of {type_.name}"
            _check_keys(sub, type_.fields[key].type, f"{where}.{key}")


@pytest.mark.parametrize("entity", NAMES)
def test_stored_records_only_use_schema_fields(entity: str) -> None:
    schema = load_schema()
    node_type = schema.get_type(ENTITIES[entity].node_type)
    for record in Sandbox(seed=5, size=60).truth(entity):
        _check_keys(record, node_type, entity)


ID_LISTS = [
    ("timesheets", "[Int64String!]", "[Int!]"),
    ("transactions", "[Int64String!]", "[Int!]"),
    ("projects", "[Int!]", "[Int64String!]"),
    ("employees", "[Int!]", "[Int64String!]"),
    ("customers", "[Int!]", "[Int64String!]"),
    ("suppliers", "[Int!]", "[Int64String!]"),
    ("ar_transactions", "[Int!]", "[Int64String!]"),
    ("ap_transactions", "[Int!]", "[Int64String!]"),
]


@pytest.mark.parametrize(("entity", "right", "wrong"), ID_LISTS)
def test_dbid_in_list_type_is_checked(api: Api, entity: str, right: str, wrong: str) -> None:
    field = ENTITIES[entity].items_field
    ids = api.sandbox.ids(entity)[:3]
    q = "query R($ids: %s) { %s(first: 100, filter: {dbId_in: $ids}) { edges { node { dbId } } } }"
    edges = api.gql(q % (right, field), {"ids": ids})[field]["edges"]
    assert [int(e["node"]["dbId"]) for e in edges] == ids
    errors = api.errors(q % (wrong, field), {"ids": ids})
    assert "used in position expecting type" in errors[0]["message"]
    assert "data" not in api.post(q % (wrong, field), {"ids": ids}).json()


def test_int64string_accepts_strings_and_ints(api: Api) -> None:
    ids = api.sandbox.ids("timesheets")[:2]
    q = (
        "query R($ids: [Int64String!]) { "
        "timesheets(filter: {dbId_in: $ids}) { edges { node { dbId } } } }"
    )
    for variables in ({"ids": ids}, {"ids": [str(i) for i in ids]}):
        edges = api.gql(q, variables)["timesheets"]["edges"]
        assert [e["node"]["dbId"] for e in edges] == [str(i) for i in ids]
    literal = (
        f'{{ timesheets(filter: {{dbId_in: ["{ids[0]}", {ids[1]}]}}) '
        "{ edges { node { dbId } } } }"
    )
    assert len(api.gql(literal)["timesheets"]["edges"]) == 2
    bad = api.errors(q, {"ids": ["12x"]})
    assert "Int64String" in bad[0]["message"]


def test_int_is_64_bit_for_this_schema_only(api: Api) -> None:
    ids = api.sandbox.ids("projects")[:1]
    assert ids[0] > 2**31
    literal = f"{{ projects(filter: {{dbId_in: [{ids[0]}]}}) {{ edges {{ node {{ dbId }} }} }} }}"
    assert api.gql(literal)["projects"]["edges"] == [{"node": {"dbId": ids[0]}}]
    assert api.errors(
        "query($i: [Int!]) { projects(filter: {dbId_in: $i}) { pageInfo { hasNextPage } } }",
        {"i": [2**63]},
    )
    # graphql-core's own Int (used by every other schema in the process) is still 32-bit
    with pytest.raises(graphql.GraphQLError):
        graphql.GraphQLInt.serialize(2**40)
    other = graphql.build_schema("type Query { n: Int }")
    result = graphql.graphql_sync(other, "{ n }", root_value={"n": 2**40})
    assert result.errors


def test_first_is_capped_at_10000(api: Api) -> None:
    errors = api.errors("{ projects(first: 10001) { edges { cursor } } }")
    assert errors[0]["message"] == '"first" must be at most 10000, got 10001'
    assert api.errors("{ project_deltas(first: 20000) { edges { cursor } } }")
    assert api.errors("{ projects(last: 10001) { edges { cursor } } }")
    assert api.errors("{ projects(first: -1) { edges { cursor } } }")
    assert (
        len(api.gql("{ projects(first: 10000) { edges { cursor } } }")["projects"]["edges"]) == 30
    )


def test_validation_is_strict(api: Api) -> None:
    assert (
        "Cannot query field" in api.errors("{ projects { edges { node { nope } } } }")[0]["message"]
    )
    assert api.errors("{ projects(ownerSet: EVERYONE) { edges { cursor } } }")
    assert api.errors('{ projects(filter: {dbId_in: ["x"]}) { edges { cursor } } }')
    assert api.errors("{ projects(filter: {unknownField: 1}) { edges { cursor } } }")
    assert api.errors("{ projects { edges { node } } }")  # object without selection
    assert api.errors("{ projects(first: 10) { edges { cursor } ")  # syntax error
    assert api.errors(
        '{ timesheets(filter: {assignmentDate_gte: "yesterday"}) { edges { cursor } } }'
    )


def test_introspection_works(api: Api) -> None:
    data = api.gql('{ __type(name: "Timesheet_Filter") { inputFields { name } } }')
    names = {f["name"] for f in data["__type"]["inputFields"]}
    assert {"dbId_in", "modifiedAt_gte", "assignmentDate_gte"} <= names
