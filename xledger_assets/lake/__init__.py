"""Parquet files in the lake: naming, publishing, reading back the current state."""

from __future__ import annotations

from xledger_assets.lake.base import Lake
from xledger_assets.lake.local import LocalLake
from xledger_assets.lake.naming import FULL_SYNC, SYNC_CHANGES, LakeFile


def open_lake(url: str) -> Lake:
    """The lake for ``XLEDGER_LAKE_URL``: ``abfs[s]://container@account.dfs.core.windows.net
    [/prefix]`` is Azure Data Lake Storage Gen2 (see :mod:`xledger_assets.lake.azure`), anything
    else a local folder."""
    lowered = url.strip().lower()
    if lowered.startswith(("abfs://", "abfss://")):
        from xledger_assets.lake.azure import AzureLake

        return AzureLake(url)
    if lowered.startswith(("az://", "adl://", "wasb://", "wasbs://", "https://", "http://")):
        from xledger_assets.errors import ConfigurationError

        raise ConfigurationError(
            f"XLEDGER_LAKE_URL={url}: use abfs://<container>@<account>.dfs.core.windows.net"
            "[/prefix] for Azure, or a local folder"
        )
    return LocalLake(url)


__all__ = ["FULL_SYNC", "SYNC_CHANGES", "Lake", "LakeFile", "LocalLake", "open_lake"]
