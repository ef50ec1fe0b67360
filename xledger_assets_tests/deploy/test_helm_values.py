"""``helm/values-aks.yaml`` (official Dagster chart, AKS): the scale-out path keeps the production
instance's choices and runs each run in its own pod; no secret in the file. (No helm or cluster
here: the keys follow the chart's values schema of the pinned version.)"""

from __future__ import annotations

from typing import Any

import yaml

from xledger_assets.production import variables_for
from xledger_assets_tests.deploy.conftest import REPO, production_instance_config
from xledger_assets_tests.deploy.secrets_scan import secret_findings

VALUES = REPO / "helm" / "values-aks.yaml"


def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def test_each_run_is_its_own_pod():
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    [deployment] = v["dagster-user-deployments"]["deployments"]
    assert v["dagster-user-deployments"]["enabled"] is True
    assert deployment["codeServerArgs"][:2] == ["-m", "xledger_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert deployment["image"]["repository"].endswith(".azurecr.io/xledger-assets")


def test_same_instance_choices_as_deploy_dagster_yaml():
    v, instance = values(), production_instance_config()
    pg = v["postgresql"]
    assert pg["enabled"] is False and v["generatePostgresqlPasswordSecret"] is False
    db = instance["storage"]["postgres"]["postgres_db"]
    assert pg["postgresqlScheme"] == db["scheme"]
    assert pg["postgresqlParams"]["sslmode"] == db["params"]["sslmode"] == "verify-full"
    queue = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert (
        queue["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    )
    assert (
        v["concurrency"]["pools"]["defaultLimit"]
        == instance["concurrency"]["pools"]["default_limit"]
    )
    assert v["dagsterDaemon"]["runRetries"]["enabled"] is True
    assert v["computeLogManager"]["type"] == "AzureBlobComputeLogManager"
    assert (
        "defaultAzureCredential" in v["computeLogManager"]["config"]["azureBlobComputeLogManager"]
    )
    assert v["telemetry"] == {"enabled": False}


def test_code_location_settings_are_set_and_secrets_come_from_a_secret():
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    plain = {e["name"] for e in deployment["env"]}
    for variable in variables_for("code_server"):
        if variable.name.startswith("XLEDGER_") and not variable.secret:
            assert variable.name in plain, variable.name
        if variable.secret:
            assert variable.name not in plain, variable.name
    assert deployment["envSecrets"] == [{"name": "xledger-assets-secrets"}]


def test_no_secret_in_the_values():
    assert secret_findings(VALUES) == []
    assert "postgresqlPassword" not in values()["postgresql"]
