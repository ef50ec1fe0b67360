"""Code references for the UI: where an asset's definition lives (factory, catalog entry, field
selection), so "View source" on an asset's page leads to the line that defines it."""

import inspect
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

from xledger_assets import catalog


@cache
def _catalog_lines() -> tuple[str, ...]:
    return tuple(Path(inspect.getfile(catalog)).read_text("utf-8").splitlines())


def catalog_line(kind: str, name: str) -> int | None:
    """The line of ``<kind>(`` whose first argument is ``"<name>"`` in catalog.py (1-based)."""
    lines = _catalog_lines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == f"{kind}(" and lines[i + 1].strip() == f'"{name}",':
            return i + 1
    return None


def code_references(
    factory: Callable[..., Any], kind: str, name: str, extra: Path | None = None
) -> dg.CodeReferencesMetadataValue:
    with warnings.catch_warnings():  # code references are "beta" in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _references(factory, kind, name, extra)


def _references(
    factory: Callable[..., Any], kind: str, name: str, extra: Path | None
) -> dg.CodeReferencesMetadataValue:
    refs: list[dg.LocalFileCodeReference] = [
        dg.LocalFileCodeReference(
            file_path=inspect.getfile(factory),
            line_number=inspect.getsourcelines(factory)[1],
            label="asset factory",
        ),
        dg.LocalFileCodeReference(
            file_path=inspect.getfile(catalog),
            line_number=catalog_line(kind, name),
            label="catalog entry",
        ),
    ]
    if extra is not None:
        refs.append(dg.LocalFileCodeReference(file_path=str(extra), label="field selection"))
    return dg.CodeReferencesMetadataValue(code_references=refs)  # type: ignore[arg-type]
