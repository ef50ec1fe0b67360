"""Flexlinks: Excel (or JSON) export links made in the Xledger UI, read whole on every run.

A flexlink dataset is a catalog entry (:class:`~xledger_assets.catalog.FlexlinkDataset`: labels
and types) plus one environment variable holding the link; :func:`read_flexlink` is all an asset
needs. Nothing here imports Dagster.

The link's URL is its credential (``?t=<token>``): it is registered for redaction as soon as it is
read from the environment and never appears in a message, a log line or the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import httpx
import pyarrow as pa

from xledger_assets.arrow_types import arrow_type
from xledger_assets.catalog import FlexlinkDataset
from xledger_assets.errors import FlexlinkError, FlexlinkSubsidiaryError
from xledger_assets.flexlinks.download import DownloadSettings, FlexlinkPayload, download_flexlink
from xledger_assets.flexlinks.sheet import ParsedSheet, parse_json, parse_xlsx
from xledger_assets.flexlinks.sources import FlexlinkSource, flexlink_sources
from xledger_assets.redact import install_log_redaction

__all__ = [
    "SUBSIDIARY_COLUMN",
    "DownloadSettings",
    "FlexlinkSource",
    "FlexlinkTable",
    "flexlink_schema",
    "flexlink_sources",
    "parse_json",
    "parse_xlsx",
    "read_flexlink",
]

#: The column that tags each row of a per-subsidiary dataset with its subsidiary (last column).
SUBSIDIARY_COLUMN = "Subsidiary"


@dataclass(frozen=True)
class FlexlinkTable:
    """What one run read: the table plus what the asset reports as metadata.

    ``table`` has exactly the contract's columns in order (:func:`flexlink_schema`).
    ``rows_per_source`` maps each subsidiary (or, for a single link, the dataset name) to its row
    count, in download order. ``labels_found`` are the header labels seen (all sources, first
    seen first); ``extra_labels`` those the catalog does not expect, which were left out.
    ``source_format`` is ``mixed`` when subsidiaries' links differ.
    """

    table: pa.Table
    rows_per_source: Mapping[str, int]
    labels_found: tuple[str, ...]
    extra_labels: tuple[str, ...]
    source_format: Literal["xlsx", "json", "mixed"]

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def summary(self) -> dict[str, object]:
        """Plain values for asset metadata (no URL, no token)."""
        return {
            "rows": self.num_rows,
            "rows_per_source": dict(self.rows_per_source),
            "labels_found": list(self.labels_found),
            "extra_labels": list(self.extra_labels),
            "source_format": self.source_format,
        }


def flexlink_schema(dataset: FlexlinkDataset) -> pa.Schema:
    """The lake schema of ``dataset``: its labels as column names, then ``Subsidiary`` if any."""
    fields = [pa.field(c.label, arrow_type(c.type)) for c in dataset.columns]
    if dataset.per_subsidiary:
        fields.append(pa.field(SUBSIDIARY_COLUMN, pa.string()))
    return pa.schema(fields)


def read_flexlink(
    dataset: FlexlinkDataset,
    env: Mapping[str, str] | None = None,
    *,
    client: httpx.Client | None = None,
    settings: DownloadSettings | None = None,
) -> FlexlinkTable:
    """Download and parse every link of ``dataset`` into one table.

    ``env`` defaults to ``os.environ``. A per-subsidiary dataset is all or nothing: every link is
    tried, and if any fails a :class:`FlexlinkSubsidiaryError` names each failed subsidiary and
    nothing is returned (a subsidiary with zero rows is fine). Raises
    :class:`~xledger_assets.errors.ConfigurationError` for a missing or malformed variable and
    :class:`~xledger_assets.errors.FlexlinkError` subclasses for dead links, download failures,
    missing labels and values that do not fit their column.
    """
    install_log_redaction()
    sources = flexlink_sources(dataset, os.environ if env is None else env)
    settings = settings or DownloadSettings()
    own_client = client is None
    http = client or httpx.Client(follow_redirects=True)
    try:
        if not dataset.per_subsidiary:
            (source,) = sources
            payload, sheet = _read_source(source, dataset, http, settings)
            return FlexlinkTable(
                table=sheet.table,
                rows_per_source={source.key: sheet.table.num_rows},
                labels_found=sheet.labels_found,
                extra_labels=sheet.extra_labels,
                source_format=payload.format,
            )
        return _read_subsidiaries(sources, dataset, http, settings)
    finally:
        if own_client:
            http.close()


def _read_source(
    source: FlexlinkSource,
    dataset: FlexlinkDataset,
    client: httpx.Client,
    settings: DownloadSettings,
) -> tuple[FlexlinkPayload, ParsedSheet]:
    payload = download_flexlink(source, client, settings)
    parse = parse_json if payload.format == "json" else parse_xlsx
    return payload, parse(payload.body, dataset.columns, source=source.describe)


def _read_subsidiaries(
    sources: tuple[FlexlinkSource, ...],
    dataset: FlexlinkDataset,
    client: httpx.Client,
    settings: DownloadSettings,
) -> FlexlinkTable:
    """Every subsidiary's rows, tagged, in the order of the variable's JSON object."""
    tables: list[pa.Table] = []
    counts: dict[str, int] = {}
    formats: set[str] = set()
    labels: dict[str, None] = {}
    extras: dict[str, None] = {}
    failures: dict[str, FlexlinkError] = {}
    for source in sources:
        assert source.subsidiary is not None
        try:
            payload, sheet = _read_source(source, dataset, client, settings)
        except FlexlinkError as exc:
            failures[source.subsidiary] = exc
            continue
        rows = sheet.table.num_rows
        tag = pa.array([source.subsidiary] * rows, type=pa.string())
        tables.append(sheet.table.append_column(pa.field(SUBSIDIARY_COLUMN, pa.string()), tag))
        counts[source.subsidiary] = rows
        formats.add(payload.format)
        labels.update(dict.fromkeys(sheet.labels_found))
        extras.update(dict.fromkeys(sheet.extra_labels))
    if failures:
        names = ", ".join(repr(name) for name in failures)
        details = "; ".join(str(exc) for exc in failures.values())
        raise FlexlinkSubsidiaryError(
            f"{dataset.name}: {len(failures)} of {len(sources)} subsidiary links failed "
            f"({names}), so nothing was read: {details}",
            failures,
        )
    return FlexlinkTable(
        table=pa.concat_tables(tables).combine_chunks(),
        rows_per_source=counts,
        labels_found=tuple(labels),
        extra_labels=tuple(extras),
        source_format="json" if formats == {"json"} else "xlsx" if formats == {"xlsx"} else "mixed",
    )
