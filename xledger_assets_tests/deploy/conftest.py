"""Fixtures for the deployment checks: a TLS-only PostgreSQL, Azurite over HTTPS, and the
production instance files (``deploy/dagster.yaml``, ``deploy/workspace.yaml``)."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from xledger_assets_tests.deploy.azurite_tls import AzuriteTls, start_azurite_tls
from xledger_assets_tests.deploy.postgres import PostgresServer, missing_tools, start_postgres

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INFRA = REPO / "infrastructure"


def production_instance_config() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "dagster.yaml").read_text())


def instance_config_for_test(compute_logs: dict[str, Any]) -> dict[str, Any]:
    """``deploy/dagster.yaml`` with only the ``compute_logs`` block swapped for the test."""
    config = copy.deepcopy(production_instance_config())
    config["compute_logs"] = compute_logs
    return config


def write_instance(home: Path, config: dict[str, Any]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    missing = missing_tools()
    if missing:
        reason = (
            "PostgreSQL is not installed here (missing: "
            + ", ".join(missing)
            + "); .ci/run installs it with apt-get (postgresql, openssl)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)  # CI must really run these checks
        pytest.skip(reason)
    with start_postgres() as server:
        yield server


@pytest.fixture
def pg_env(pg_server: PostgresServer) -> dict[str, str]:
    """A fresh database and login for one test, as the variables deploy/dagster.yaml reads."""
    suffix = uuid.uuid4().hex[:10]
    user, database, password = f"dagster_{suffix}", f"dagster_{suffix}", uuid.uuid4().hex
    pg_server.create_database(database, user, password)
    return {
        "DAGSTER_PG_HOST": pg_server.host,
        "DAGSTER_PG_PORT": str(pg_server.port),
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USERNAME": user,
        "DAGSTER_PG_PASSWORD": password,
        # The image sets Debian's CA bundle here; the test server's own certificate is its root.
        "PGSSLROOTCERT": str(pg_server.ca_file),
    }


@pytest.fixture(scope="session")
def azurite_tls() -> Iterator[AzuriteTls]:
    with start_azurite_tls() as running:
        yield running
