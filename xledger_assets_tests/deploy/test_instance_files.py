"""``deploy/dagster.yaml`` and ``deploy/workspace.yaml`` against Dagster's own schemas, and the
environment variables they read against ``xledger_assets/production.py``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster_azure.blob.compute_log_manager import AzureBlobComputeLogManager

from xledger_assets.production import EVERY_ROLE, PRODUCTION_VARIABLES, WORKSPACE_READERS
from xledger_assets_tests.deploy.conftest import DEPLOY, REPO, production_instance_config

ENV = {
    "DAGSTER_PG_HOST": "xledger-prod-dagster.postgres.database.azure.com",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_COMPUTE_LOG_STORAGE_ACCOUNT": "ddbistorage",
    "DAGSTER_COMPUTE_LOG_CONTAINER": "xledger-prod",
    "DAGSTER_COMPUTE_LOG_PREFIX": "_dagster/compute-logs/prod",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
}


def env_references(value: Any) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return {value["env"]}
        return set().union(*(env_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_references(v) for v in value)) if value else set()
    return set()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return ENV


def test_production_instance_validates_against_dagsters_schema(env, tmp_path: Path):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _custom_class = dagster_instance_config(str(tmp_path))
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2 would pick psycopg 3 otherwise
    assert db["params"]["sslmode"] == "verify-full"
    assert db["hostname"] == {"env": "DAGSTER_PG_HOST"}
    assert config["telemetry"] == {"enabled": False}
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    pools = config["concurrency"]["pools"]
    assert pools["default_limit"] == 2  # the xledger_api pool
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == 4
    assert runs["tag_concurrency_limits"] == [
        {"key": "xledger/dataset", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    assert config["compute_logs"]["class"] == "AzureBlobComputeLogManager"


def test_local_instance_files_are_kept_for_make_demo():
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert "storage" not in local  # SQLite under .dagster_home
    assert yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    production = production_instance_config()
    local_runs = local["concurrency"]["runs"]["tag_concurrency_limits"]
    assert production["concurrency"]["runs"]["tag_concurrency_limits"] == local_runs


def test_compute_log_block_matches_the_managers_config_type(env):
    block = production_instance_config()["compute_logs"]
    assert block["module"] == "dagster_azure.blob.compute_log_manager"
    result = process_config(
        resolve_to_config_type(AzureBlobComputeLogManager.config_type()), block["config"]
    )
    assert result.success, result.errors
    value = result.value
    assert value["storage_account"] == "ddbistorage"
    assert value["container"] == "xledger-prod"
    assert value["prefix"] == "_dagster/compute-logs/prod"
    assert value["endpoint_suffix"] == "core.windows.net"
    assert "access_key_or_sas_token" not in value and "secret_credential" not in value
    # Built as the instance builds it: the managed identity, the account's real endpoint.
    manager = AzureBlobComputeLogManager.from_config_value(None, value)  # type: ignore[arg-type]
    assert manager._blob_client.url == "https://ddbistorage.blob.core.windows.net/"
    assert type(manager._blob_client.credential).__name__ == "DefaultAzureCredential"
    assert manager._container_client.container_name == "xledger-prod"


def test_every_variable_the_files_read_is_a_production_variable():
    variables = {v.name: v for v in PRODUCTION_VARIABLES}
    instance_vars = env_references(production_instance_config())
    workspace_vars = env_references(yaml.safe_load((DEPLOY / "workspace.yaml").read_text()))
    assert instance_vars and workspace_vars
    for name in instance_vars:
        assert name in variables, name
        assert variables[name].roles == EVERY_ROLE, name  # every container loads the instance
    for name in workspace_vars:
        assert set(WORKSPACE_READERS) <= set(variables[name].roles), name
    secret = {n for n in instance_vars | workspace_vars if variables[n].secret}
    assert secret == {"DAGSTER_PG_PASSWORD"}


def test_workspace_points_at_the_code_server_over_grpc():
    [entry] = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    server = entry["grpc_server"]
    assert server == {
        "host": {"env": "DAGSTER_CODE_SERVER_HOST"},
        "port": {"env": "DAGSTER_CODE_SERVER_PORT"},
        "location_name": "xledger_assets",
    }
