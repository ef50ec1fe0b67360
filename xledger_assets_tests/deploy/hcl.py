"""Reading ``infrastructure/`` with python-hcl2 (8.x), offline: no provider, no ``terraform``.

python-hcl2 keeps the quotes of string literals and block labels (``'"azurerm_container_app"'``)
and returns expressions as ``"${...}"`` strings; :func:`unquote` and :class:`Module` hide that.
A small resolver follows ``local.*``, ``var.*`` (module arguments, then defaults) and
``module.<name>.<output>`` references far enough to check the wiring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

META_KEYS = (
    "__is_block__",
    "__comments__",
    "__inline_comments__",
    "__start_line__",
    "__end_line__",
)


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(value: Any) -> Any:
    """Quotes removed from strings and keys, python-hcl2's bookkeeping keys dropped."""
    if isinstance(value, dict):
        return {unquote(k): clean(v) for k, v in value.items() if k not in META_KEYS}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return unquote(value)


def load_file(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return hcl2.load(f)


def _blocks(raw: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [clean(b) for b in raw.get(kind, [])]


@dataclass
class Module:
    """The ``.tf`` files of one folder."""

    path: Path
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ephemeral: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[(kind, name)]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {n: body for (k, n), body in self.resources.items() if k == kind}


def _typed(blocks: list[dict[str, Any]], into: dict[tuple[str, str], dict[str, Any]]) -> None:
    for block in blocks:
        for kind, named in block.items():
            for name, body in named.items():
                into[(kind, name)] = body


def _named(blocks: list[dict[str, Any]], into: dict[str, dict[str, Any]]) -> None:
    for block in blocks:
        into.update(block)


@cache
def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        raw = load_file(tf)
        _typed(_blocks(raw, "resource"), module.resources)
        _typed(_blocks(raw, "data"), module.data)
        _typed(_blocks(raw, "ephemeral"), module.ephemeral)
        for block in _blocks(raw, "locals"):
            module.locals.update(block)
        _named(_blocks(raw, "variable"), module.variables)
        _named(_blocks(raw, "output"), module.outputs)
        _named(_blocks(raw, "module"), module.modules)
        module.terraform += _blocks(raw, "terraform")
        module.providers += _blocks(raw, "provider")
    return module


_REF = re.compile(r"^\$\{(local|var|module)\.([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?\}$")


def resolve(
    value: Any, module: Module, arguments: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """Follow a bare ``${local.x}``, ``${var.x}`` or ``${module.m.o}`` to a literal when it is
    one; anything else (functions, interpolations, unknowns) comes back unchanged."""
    if depth > 10 or not isinstance(value, str):
        return value
    match = _REF.match(value)
    if not match:
        return value
    kind, name, attr = match.groups()
    if kind == "local" and attr is None and name in module.locals:
        return resolve(module.locals[name], module, arguments, depth + 1)
    if kind == "var" and attr is None:
        if arguments is not None and name in arguments:
            return arguments[name]  # the caller's expression: not resolved further
        default = module.variables.get(name, {}).get("default")
        return value if default is None else default
    if kind == "module" and attr is not None and name in module.modules:
        call = module.modules[name]
        child = load_module((module.path / call["source"]).resolve())
        output = child.outputs.get(attr, {}).get("value", value)
        return resolve(output, child, call, depth + 1)
    return value
