"""Dagster resources: thin handles that build the plain-Python client, lake and state store.

Fields left unset fall back to the environment variables of the contract, read when a run
starts (not at import), so a missing token fails the API assets only, with a plain message.
"""

import os

import dagster as dg

from xledger_assets.lake import Lake, open_lake
from xledger_assets.settings import Settings, api_token
from xledger_assets.state import StateStore, open_state_store
from xledger_assets.sync.engine import SyncSettings
from xledger_assets.xledger.client import XledgerClient


def _settings() -> Settings:
    return Settings.from_env(os.environ)


class XledgerApiResource(dg.ConfigurableResource):
    """The Xledger GraphQL API. The token always comes from XLEDGER_API_TOKEN."""

    api_url: str | None = None

    def settings(self) -> Settings:
        return _settings()

    def client(self) -> XledgerClient:
        settings = self.settings()
        return XledgerClient(self.api_url or settings.api_url, api_token(os.environ))

    def sync_settings(self) -> SyncSettings:
        s = self.settings()
        return SyncSettings(
            page_size=s.page_size,
            refetch_chunk=s.refetch_chunk,
            retention_margin=s.retention_margin,
            owner_set=s.owner_set,
        )


class LakeStoreResource(dg.ConfigurableResource):
    """The lake (XLEDGER_LAKE_URL) and the sync state (XLEDGER_STATE_URL)."""

    lake_url: str | None = None
    state_url: str | None = None

    def lake(self) -> Lake:
        return open_lake(self.lake_url or _settings().lake_url)

    def state_store(self) -> StateStore:
        s = _settings()
        return open_state_store(self.state_url or s.state_url, env_label=s.env)
