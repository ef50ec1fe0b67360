"""GraphQL execution for the sandbox, with a fast path for plain-dict subtrees.

graphql-core resolves every field through its full machinery (resolve info, path, completion),
about 3 µs per field: a page of 10,000 timesheets takes close to a second. Below the root
fields the sandbox only serves plain dicts through default resolvers, so
:class:`FastExecutionContext` completes such an object subtree with a plan compiled once per
selection: read the key, serialize leaves with the type's own ``serialize``, recurse into
objects and lists. Fragments, aliases, ``@skip``/``@include`` and ``__typename`` go through
graphql-core's own ``collect_subfields``. Anything the plan does not model (a custom resolver,
field arguments, a null for a non-null field, a serialize error, a non-dict value) makes the
plan give up and graphql-core completes that subtree itself, so results and errors are exactly
graphql-core's. Validation is always graphql-core's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionContext,
    ExecutionResult,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    execute_sync,
)
from graphql.pyutils import Path

_LEAF, _OBJECT, _LIST, _TYPENAME = range(4)

# one step of a plan: (response key, field name, kind, non-null, argument)
Step = tuple[str, str, int, bool, Any]
Plan = list[Step]


class _GiveUp(Exception):
    pass


def _run(plan: Plan, source: Any) -> dict[str, Any]:
    if type(source) is not dict:
        raise _GiveUp
    out: dict[str, Any] = {}
    get = source.get
    for key, name, kind, non_null, arg in plan:
        if kind == _TYPENAME:
            out[key] = arg
            continue
        value = get(name)
        if value is None:
            if non_null:
                raise _GiveUp
            out[key] = None
        elif kind == _LEAF:
            serialized = arg(value)
            if serialized is None:
                raise _GiveUp
            out[key] = serialized
        elif kind == _OBJECT:
            out[key] = _run(arg, value)
        else:  # _LIST of (item non-null, item kind, item arg)
            out[key] = _run_list(arg, value)
    return out


def _run_list(arg: tuple[bool, int, Any], value: Any) -> list[Any]:
    if type(value) is not list:
        raise _GiveUp
    item_non_null, item_kind, item_arg = arg
    items: list[Any] = []
    append = items.append
    for item in value:
        if item is None:
            if item_non_null:
                raise _GiveUp
            append(None)
        elif item_kind == _OBJECT:
            append(_run(item_arg, item))
        else:
            serialized = item_arg(item)
            if serialized is None:
                raise _GiveUp
            append(serialized)
    return items


class FastExecutionContext(ExecutionContext):
    """graphql-core's execution context with a compiled fast path for dict subtrees."""

    def _plan(
        self, return_type: GraphQLObjectType, field_nodes: list[FieldNode], depth: int = 0
    ) -> Plan | None:
        if return_type.is_type_of is not None or depth > 30:
            return None
        plan: Plan = []
        for key, nodes in self.collect_subfields(return_type, field_nodes).items():
            name = nodes[0].name.value
            if name == "__typename":
                plan.append((key, name, _TYPENAME, True, return_type.name))
                continue
            field_def = return_type.fields.get(name)
            if field_def is None or field_def.resolve is not None:
                return None
            if any(node.arguments for node in nodes):
                return None
            type_ = field_def.type
            non_null = isinstance(type_, GraphQLNonNull)
            if non_null:
                type_ = type_.of_type  # type: ignore[union-attr]
            if isinstance(type_, GraphQLList):
                item = type_.of_type
                item_non_null = isinstance(item, GraphQLNonNull)
                if item_non_null:
                    item = item.of_type  # type: ignore[union-attr]
                step = self._step(item, nodes, depth)
                if step is None:
                    return None
                plan.append((key, name, _LIST, non_null, (item_non_null, *step)))
                continue
            step = self._step(type_, nodes, depth)
            if step is None:
                return None
            plan.append((key, name, step[0], non_null, step[1]))
        return plan

    def _step(self, type_: Any, nodes: list[FieldNode], depth: int) -> tuple[int, Any] | None:
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            serialize: Callable[[Any], Any] = type_.serialize
            return _LEAF, serialize
        if isinstance(type_, GraphQLObjectType):
            sub = self._plan(type_, nodes, depth + 1)
            return None if sub is None else (_OBJECT, sub)
        return None  # lists of lists, interfaces, unions: leave to graphql-core

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_nodes: list[FieldNode],
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
    ) -> Any:
        if type(result) is dict:
            plan = self._plan(return_type, field_nodes)
            if plan is not None:
                try:
                    return _run(plan, result)
                except Exception:
                    pass  # graphql-core redoes this subtree and reports the errors
        return super().complete_object_value(return_type, field_nodes, info, path, result)


def execute_fast(
    schema: GraphQLSchema,
    document: DocumentNode,
    root_value: Any = None,
    context_value: Any = None,
    variable_values: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """``graphql.execute_sync`` with :class:`FastExecutionContext` (document pre-validated)."""
    return execute_sync(
        schema,
        document,
        root_value=root_value,
        context_value=context_value,
        variable_values=variable_values,
        operation_name=operation_name,
        execution_context_class=FastExecutionContext,
    )
