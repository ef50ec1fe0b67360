"""Scalars of the sandbox schema and the 64-bit ``Int`` swap.

graphql-core's built-in ``Int`` (``graphql.GraphQLInt``) is a process-wide singleton that rejects
values beyond 32 bits, and ``build_schema`` always wires that singleton in for the name ``Int``.
Xledger's ``Int`` carries 15-digit dbIds, so :func:`load_schema` builds the schema from SDL and
then swaps every reference to ``GraphQLInt`` for :data:`Int64`, a separate scalar that is also
called ``Int`` but accepts signed 64-bit values. Nothing global is patched: other schemas in the
process (Dagster's own GraphQL API, for one) keep the spec's 32-bit ``Int``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    IntValueNode,
    StringValueNode,
    ValueNode,
    assert_valid_schema,
    build_schema,
    print_ast,
)

MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1

_INT_RE = re.compile(r"-?\d+")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_DECIMAL_RE = re.compile(r"-?\d+(\.\d+)?")


def _check_int64(value: int, what: str) -> int:
    if not MIN_INT64 <= value <= MAX_INT64:
        raise GraphQLError(f"{what} cannot represent non 64-bit signed integer value: {value}")
    return value


# ---------------------------------------------------------------------------------------- Int


def _int_serialize(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_int64(value, "Int")
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return _check_int64(int(value), "Int")
    raise GraphQLError(f"Int cannot represent non-integer value: {value!r}")


def _int_parse_value(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_int64(value, "Int")
    if isinstance(value, float) and value.is_integer():
        return _check_int64(int(value), "Int")
    raise GraphQLError(f"Int cannot represent non-integer value: {value!r}")


def _int_parse_literal(node: ValueNode, _variables: Any = None) -> int:
    if not isinstance(node, IntValueNode):
        raise GraphQLError(f"Int cannot represent non-integer value: {print_ast(node)}", node)
    return _check_int64(int(node.value), "Int")


class _SandboxInt(GraphQLScalarType):
    """A scalar allowed to reuse the reserved name ``Int`` (graphql-core guards it in __new__)."""

    def __new__(cls, *_args: Any, **_kwargs: Any) -> _SandboxInt:
        return object.__new__(cls)


Int64: GraphQLScalarType = _SandboxInt(
    name="Int",
    description="Xledger's Int: a signed 64-bit integer (the spec's Int is 32-bit).",
    serialize=_int_serialize,
    parse_value=_int_parse_value,
    parse_literal=_int_parse_literal,
)

# ------------------------------------------------------------------------------- Int64String


def _i64s_serialize(value: Any) -> str:
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_check_int64(value, "Int64String"))
    raise GraphQLError(f"Int64String cannot represent value: {value!r}")


def _i64s_parse_value(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return _check_int64(value, "Int64String")
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return _check_int64(int(value.strip()), "Int64String")
    raise GraphQLError(f"Int64String cannot represent value: {value!r}")


def _i64s_parse_literal(node: ValueNode, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _i64s_parse_value(int(node.value) if isinstance(node, IntValueNode) else node.value)
    raise GraphQLError(f"Int64String cannot represent value: {print_ast(node)}", node)


Int64String = GraphQLScalarType(
    name="Int64String",
    description="A 64-bit integer sent as a string; input may be a string or an integer.",
    serialize=_i64s_serialize,
    parse_value=_i64s_parse_value,
    parse_literal=_i64s_parse_literal,
)

# ---------------------------------------------------------------------- decimals and dates


def _decimal_scalar(name: str) -> GraphQLScalarType:
    def serialize(value: Any) -> str:
        if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
            return value
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return str(value)
        raise GraphQLError(f"{name} cannot represent value: {value!r}")

    def parse_value(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise GraphQLError(f"{name} cannot represent value: {value!r}")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise GraphQLError(f"{name} cannot represent value: {value!r}") from None

    def parse_literal(node: ValueNode, _variables: Any = None) -> Decimal:
        if isinstance(node, IntValueNode | StringValueNode):
            return parse_value(node.value)
        raise GraphQLError(f"{name} cannot represent value: {print_ast(node)}", node)

    return GraphQLScalarType(
        name=name, serialize=serialize, parse_value=parse_value, parse_literal=parse_literal
    )


def _string_scalar(name: str, pattern: re.Pattern[str], shape: str) -> GraphQLScalarType:
    def check(value: Any) -> str:
        if isinstance(value, str) and pattern.fullmatch(value):
            return value
        raise GraphQLError(f"{name} must be a string {shape}, got {value!r}")

    def parse_literal(node: ValueNode, _variables: Any = None) -> str:
        if isinstance(node, StringValueNode):
            return check(node.value)
        raise GraphQLError(f"{name} must be a string {shape}, got {print_ast(node)}", node)

    return GraphQLScalarType(
        name=name, serialize=check, parse_value=check, parse_literal=parse_literal
    )


MoneyString = _decimal_scalar("MoneyString")
DecimalScalar = _decimal_scalar("Decimal")
Date = _string_scalar("Date", _DATE_RE, "yyyy-MM-dd")
DateTime = _string_scalar("DateTime", _DATETIME_RE, "yyyy-MM-ddTHH:mm:ss")

CUSTOM_SCALARS: dict[str, GraphQLScalarType] = {
    s.name: s for s in (Int64String, MoneyString, DecimalScalar, Date, DateTime)
}

# ----------------------------------------------------------------------------------- schema


def _swap(type_: GraphQLType) -> GraphQLType:
    """``type_`` with the built-in Int (possibly wrapped in lists/non-null) swapped for Int64."""
    if type_ is GraphQLInt:
        return Int64
    if isinstance(type_, GraphQLNonNull):
        inner = _swap(type_.of_type)
        return type_ if inner is type_.of_type else GraphQLNonNull(inner)  # type: ignore[type-var]
    if isinstance(type_, GraphQLList):
        inner = _swap(type_.of_type)
        return type_ if inner is type_.of_type else GraphQLList(inner)
    return type_


def _install_scalar(target: GraphQLScalarType, impl: GraphQLScalarType) -> None:
    target.serialize = impl.serialize  # type: ignore[method-assign]
    target.parse_value = impl.parse_value  # type: ignore[method-assign]
    target.parse_literal = impl.parse_literal  # type: ignore[method-assign]


def schema_sdl() -> str:
    """The SDL shipped as ``xledger_assets/sandbox/schema.graphql``."""
    return resources.files("xledger_assets.sandbox").joinpath("schema.graphql").read_text("utf-8")


@cache
def load_schema() -> GraphQLSchema:
    """Build the sandbox schema (cached): SDL + custom scalars + 64-bit ``Int``."""
    built = build_schema(schema_sdl())
    for name, type_ in built.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(type_, GraphQLScalarType) and name in CUSTOM_SCALARS:
            _install_scalar(type_, CUSTOM_SCALARS[name])
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field in type_.fields.values():
                field.type = _swap(field.type)  # type: ignore[assignment]
                for arg in field.args.values():
                    arg.type = _swap(arg.type)  # type: ignore[assignment]
        elif isinstance(type_, GraphQLInputObjectType):
            for input_field in type_.fields.values():
                input_field.type = _swap(input_field.type)  # type: ignore[assignment]
    types = [t for n, t in built.type_map.items() if not n.startswith("__") and t is not GraphQLInt]
    schema = GraphQLSchema(
        query=built.query_type,
        types=types,
        directives=built.directives,
        description=built.description,
        ast_node=built.ast_node,
    )
    assert_valid_schema(schema)
    if schema.type_map["Int"] is not Int64:  # pragma: no cover - guards the swap
        raise RuntimeError("sandbox schema still uses graphql-core's 32-bit Int")
    return schema
