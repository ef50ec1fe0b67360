"""``PRODUCTION_VARIABLES`` against the code: the contract's variables are there, the secrets
are exactly the credentials, and every ``XLEDGER_*`` variable listed is one the code reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import xledger_assets
from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.errors import ConfigurationError
from xledger_assets.flexlinks.sources import flexlink_sources
from xledger_assets.production import (
    CODE_SERVER,
    PRODUCTION_VARIABLES,
    ROLES,
    key_vault_secrets,
    production_variables,
    variables_for,
)
from xledger_assets.settings import Settings, api_token

ALERT_WEBHOOK = "XLEDGER_ALERT_WEBHOOK_URL"  # read by the failure-alert sensor (alerts.py)
CONTRACT = {
    "XLEDGER_API_URL",
    "XLEDGER_API_TOKEN",
    "XLEDGER_LAKE_URL",
    "XLEDGER_STATE_URL",
    "XLEDGER_ENV",
    *(d.env_var for d in DEFAULT_CATALOG.flexlinks),
}


class Recorder(dict):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self.asked.add(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        return super().__iter__()


def test_names_are_unique_and_roles_known():
    names = [v.name for v in PRODUCTION_VARIABLES]
    assert len(names) == len(set(names))
    for v in PRODUCTION_VARIABLES:
        assert v.roles and set(v.roles) <= set(ROLES), v


def test_the_contracts_variables_are_all_there():
    names = {v.name for v in PRODUCTION_VARIABLES}
    assert names >= CONTRACT
    assert {v.name for v in variables_for("code_server")} >= CONTRACT


def test_secrets_are_exactly_the_credentials():
    secrets = {v.name for v in PRODUCTION_VARIABLES if v.secret}
    flexlinks = {d.env_var for d in DEFAULT_CATALOG.flexlinks}
    assert secrets == {"XLEDGER_API_TOKEN", "DAGSTER_PG_PASSWORD", ALERT_WEBHOOK, *flexlinks}
    for v in PRODUCTION_VARIABLES:
        if v.secret:
            assert v.set_by == "app"  # a secret is never baked into the image
    assert len(key_vault_secrets()) == len(set(key_vault_secrets()))


def test_xledger_settings_stay_in_the_code_server():
    for v in PRODUCTION_VARIABLES:
        if v.name.startswith("XLEDGER_"):
            assert v.roles == CODE_SERVER, v.name


def test_every_listed_xledger_variable_is_named_in_the_code():
    """A stale entry (a variable no module reads any more) fails here."""
    package = Path(xledger_assets.__file__).parent
    sources = " ".join(p.read_text() for p in package.rglob("*.py") if p.name != "production.py")
    for v in PRODUCTION_VARIABLES:
        if v.name.startswith("XLEDGER_FLEXLINK_"):
            assert "XLEDGER_FLEXLINK_" in sources  # catalog.FlexlinkDataset.env_var
        elif v.name.startswith("XLEDGER_"):
            assert f'"{v.name}"' in sources, v.name


def test_the_settings_variables_are_read_by_the_code():
    listed = {
        v.name
        for v in PRODUCTION_VARIABLES
        if v.name.startswith("XLEDGER_") and v.name not in ("XLEDGER_UI_URL", ALERT_WEBHOOK)
    }
    env = Recorder(
        {
            "XLEDGER_ENV": "prod",
            "XLEDGER_API_TOKEN": "x",
            **{d.env_var: "https://x/Flex/1.xlsx?t=abc" for d in DEFAULT_CATALOG.flexlinks},
        }
    )
    Settings.from_env(env)
    api_token(env)
    for d in DEFAULT_CATALOG.flexlinks:
        # The per-subsidiary variable wants JSON; reading it is what counts here.
        with contextlib.suppress(ConfigurationError):
            flexlink_sources(d, env)
    assert listed <= env.asked, listed - env.asked


def test_a_new_flexlink_adds_its_variable():
    from dataclasses import replace

    from xledger_assets.catalog import Catalog

    template = DEFAULT_CATALOG.flexlinks[0]
    extra = replace(template, name="holiday_calendars")
    catalog = Catalog(DEFAULT_CATALOG.api, (*DEFAULT_CATALOG.flexlinks, extra))
    added = {v.name: v for v in production_variables(catalog)}["XLEDGER_FLEXLINK_HOLIDAY_CALENDARS"]
    assert added.key_vault_secret == "xledger-flexlink-holiday-calendars"
    assert added.roles == CODE_SERVER


@pytest.mark.parametrize("role", ROLES)
def test_every_role_loads_the_instance(role: str):
    names = {v.name for v in variables_for(role)}
    assert {"DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "AZURE_CLIENT_ID"} <= names
