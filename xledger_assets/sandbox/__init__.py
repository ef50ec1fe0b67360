"""Xledger sandbox: a local, Xledger-compatible GraphQL server for tests and the demo.

- :class:`Sandbox`: data and logic (records, delta logs, clock, faults, meter), no HTTP.
- :class:`SandboxServer`: the sandbox over HTTP on 127.0.0.1, in a background thread.
- ``python -m xledger_assets.sandbox --port 0``: the same as a process.
"""

from .core import (
    BAD_FORMAT_MESSAGE,
    DEFAULT_RETENTION,
    DEFAULT_SIZE,
    DEFAULT_TOKEN,
    INVALID_TOKEN_MESSAGE,
    MAX_PAGE,
    Clock,
    Reply,
    Sandbox,
)
from .data import ENTITIES, EntitySpec, entity_spec
from .faults import FAULT_KINDS, Fault
from .scalars import load_schema, schema_sdl
from .server import RouteHandler, SandboxServer


def flexlink_env(api_url: str, seed: int = 1) -> dict[str, str]:
    """The ``XLEDGER_FLEXLINK_*`` variables for the flexlinks that a sandbox started with this
    ``seed`` (``python -m xledger_assets.sandbox --seed <seed>``) serves under ``/Flex/``.

    ``api_url`` is the sandbox's GraphQL URL (or its base URL).
    """
    from .flexlinks import FlexlinkSandbox

    base = api_url.rstrip("/").removesuffix("/graphql")
    return FlexlinkSandbox(seed=seed).env(base)


__all__ = [
    "BAD_FORMAT_MESSAGE",
    "DEFAULT_RETENTION",
    "DEFAULT_SIZE",
    "DEFAULT_TOKEN",
    "ENTITIES",
    "FAULT_KINDS",
    "INVALID_TOKEN_MESSAGE",
    "MAX_PAGE",
    "Clock",
    "EntitySpec",
    "Fault",
    "Reply",
    "RouteHandler",
    "Sandbox",
    "SandboxServer",
    "entity_spec",
    "flexlink_env",
    "load_schema",
    "schema_sdl",
]
