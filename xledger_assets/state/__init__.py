"""Sync state stores, chosen by ``XLEDGER_STATE_URL``."""

from __future__ import annotations

from xledger_assets.state.base import StateStore, SyncState
from xledger_assets.state.local import LocalStateStore


def open_state_store(url: str, *, env_label: str = "local") -> StateStore:
    """The store for ``XLEDGER_STATE_URL``: Azure App Configuration for ``https://…azconfig.io``
    (Azure identity) or a connection string ``Endpoint=...;Id=...;Secret=...`` (keys labelled
    ``env_label``, see :mod:`xledger_assets.state.appconfig`); otherwise a local JSON file."""
    # Same test as appconfig.looks_like_app_configuration, without importing the Azure SDK.
    text = url.strip().lower()
    fields = {p.partition("=")[0].strip() for p in text.split(";") if "=" in p}
    if text.startswith(("https://", "http://")) or (
        "endpoint" in fields and ("secret" in fields or "id" in fields)
    ):
        from xledger_assets.state.appconfig import AppConfigStateStore

        return AppConfigStateStore(url, env_label=env_label)
    return LocalStateStore(url)


__all__ = ["LocalStateStore", "StateStore", "SyncState", "open_state_store"]
