"""Sync state stores, chosen by ``XLEDGER_STATE_URL``."""

from __future__ import annotations

from xledger_assets.state.base import StateStore, SyncState
from xledger_assets.state.local import LocalStateStore


def open_state_store(url: str, *, env_label: str = "local") -> StateStore:
    """A local JSON file; App Configuration (``https://…azconfig.io`` or a connection string)
    comes with the Azure support."""
    if url.startswith(("https://", "http://")) or url.startswith("Endpoint="):
        from xledger_assets.errors import ConfigurationError

        raise ConfigurationError(
            "XLEDGER_STATE_URL points at Azure App Configuration, which this version does not "
            "support yet; use a local file path"
        )
    return LocalStateStore(url)


__all__ = ["LocalStateStore", "StateStore", "SyncState", "open_state_store"]
