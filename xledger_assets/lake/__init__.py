"""Parquet files in the lake: naming, publishing, reading back the current state."""

from __future__ import annotations

import re

from xledger_assets.lake.base import Lake
from xledger_assets.lake.local import LocalLake
from xledger_assets.lake.naming import FULL_SYNC, SYNC_CHANGES, LakeFile

#: ``scheme:`` at the start of a value: a URL, not a folder (one letter is a Windows drive).
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")


def open_lake(url: str) -> Lake:
    """The lake for ``XLEDGER_LAKE_URL``: ``abfs[s]://container@account.dfs.core.windows.net
    [/prefix]`` is Azure Data Lake Storage Gen2 (see :mod:`xledger_assets.lake.azure`), a path
    a local folder. Anything else that starts like a URL (``abfs:/…``, ``s3://…``, ``https://…``)
    is refused, so a typo never turns into a local folder named ``abfs:``."""
    text = url.strip()
    lowered = text.lower()
    if lowered.startswith(("abfs://", "abfss://")):
        from xledger_assets.lake.azure import AzureLake

        return AzureLake(url)
    m = _SCHEME.match(text)
    if m is not None:
        from xledger_assets.errors import ConfigurationError

        raise ConfigurationError(
            f"XLEDGER_LAKE_URL={url!r} is neither a local folder nor an Azure lake URL: use "
            "abfs://<container>@<account>.dfs.core.windows.net[/prefix] for Azure Data Lake "
            "Storage, or a folder path"
        )
    return LocalLake(url)


__all__ = ["FULL_SYNC", "SYNC_CHANGES", "Lake", "LakeFile", "LocalLake", "open_lake"]
