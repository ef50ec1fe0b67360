"""``infrastructure/`` read offline with python-hcl2: it parses, its layout explains itself, and
its wiring matches the code (``xledger_assets/production.py``): every production variable is set
by the container app of each role that needs it, secrets only as Key Vault references, every Key
Vault secret documented, roles no wider than the one container / store / vault."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from xledger_assets.catalog import DEFAULT_CATALOG
from xledger_assets.production import (
    FLEXLINK_SECRET_PREFIX,
    PRODUCTION_VARIABLES,
    ROLES,
    WEBSERVER_AUTH_SECRET,
    env_var_for_secret,
    flexlink_secret_name,
    key_vault_secrets,
    variables_for,
)
from xledger_assets_tests.deploy.conftest import INFRA, REPO
from xledger_assets_tests.deploy.hcl import Module, clean, load_file, load_module, resolve
from xledger_assets_tests.deploy.secrets_scan import secret_findings

ENVIRONMENTS = ("dev", "prod")
APP = INFRA / "modules" / "dagster_app"
SHARED = INFRA / "modules" / "shared_data"
POSTGRES = INFRA / "modules" / "postgres"
APP_OF_ROLE = {"webserver": "webserver", "daemon": "daemon", "code_server": "code_server"}
FLEXLINK_LOCAL = "flexlink_secret_env"
OPTIONAL_LOCAL = "optional_secret_env"


def tf_files() -> list[Path]:
    return sorted(INFRA.rglob("*.tf")) + sorted(INFRA.rglob("*.tfvars"))


def app() -> Module:
    return load_module(APP)


def container(app_body: dict) -> dict:
    [template] = app_body["template"]
    [main] = template["container"]
    return main


def env_of(role: str) -> dict[str, dict]:
    """Environment variable => how the role's container app sets it (value or secret_name)."""
    module = app()
    main = container(module.resource("azurerm_container_app", APP_OF_ROLE[role]))
    out: dict[str, dict] = {}
    for block in main.get("env", []):
        out[block["name"]] = block
    for dynamic in main.get("dynamic", []):
        for kind, body in dynamic.items():
            assert kind == "env", kind
            [content] = body["content"]
            source = body["for_each"]
            local = re.fullmatch(r"\$\{local\.(\w+)\}", source)
            assert local, f"{role}: env for_each must be a local map, not {source}"
            if local.group(1) == FLEXLINK_LOCAL:
                for d in DEFAULT_CATALOG.flexlinks:  # filled from the vault (see the test below)
                    out[d.env_var] = {"secret_name": flexlink_secret_name(d.name)}
                continue
            if local.group(1) == OPTIONAL_LOCAL:  # the literal map, kept if the vault has it
                for name, secret in module.locals["optional_secrets"].items():
                    out[name] = {"secret_name": secret, "optional": True}
                continue
            mapping = module.locals[local.group(1)]
            assert isinstance(mapping, dict), f"local.{local.group(1)} must be a literal map"
            for name, value in mapping.items():
                if "secret_name" in content:
                    out[name] = {"secret_name": resolve(value, module)}
                else:
                    out[name] = {"value": value}
    return out


def secrets_of(role: str) -> list[dict]:
    body = app().resource("azurerm_container_app", APP_OF_ROLE[role])
    found = list(body.get("secret", []))
    for dynamic in body.get("dynamic", []):
        if "secret" in dynamic:
            [content] = dynamic["secret"]["content"]
            found.append({**content, "for_each": dynamic["secret"]["for_each"]})
    return found


def all_modules() -> list[Module]:
    return [load_module(p.parent) for p in sorted(INFRA.rglob("main.tf"))]


# ---- parsing and layout --------------------------------------------------------------------


def test_every_terraform_file_parses():
    files = tf_files()
    assert len(files) >= 20, files
    for path in files:
        assert isinstance(load_file(path), dict), path


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed here")
def test_terraform_fmt_accepts_every_file():
    """HashiCorp's own parser, where a terraform binary happens to exist (no providers needed)."""
    done = subprocess.run(
        ["terraform", "fmt", "-recursive", "-check", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_layout_explains_itself():
    assert sorted(p.name for p in (INFRA / "environments").iterdir()) == list(ENVIRONMENTS)
    assert sorted(p.name for p in (INFRA / "modules").iterdir()) == [
        "dagster_app",
        "postgres",
        "shared_data",
    ]
    assert (INFRA / "README.md").exists()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_backend_providers_tfvars_and_one_app_module(env: str):
    root = load_module(INFRA / "environments" / env)
    [backend] = [t["backend"] for t in root.terraform if "backend" in t]
    azurerm = backend[0]["azurerm"]
    assert azurerm["key"] == f"xledger-assets/{env}.tfstate"
    assert azurerm["use_azuread_auth"] is True
    assert "access_key" not in azurerm and "sas_token" not in azurerm
    [required] = [t["required_providers"] for t in root.terraform if "required_providers" in t]
    assert required[0]["azurerm"]["version"].startswith("~> 4.")
    assert list(root.modules) == ["dagster_app"]
    call = root.modules["dagster_app"]
    assert call["source"] == "../../modules/dagster_app"
    assert call["environment"] == env
    assert not root.resources, "environments only call the app module"
    tfvars = clean(load_file(INFRA / "environments" / env / "terraform.tfvars"))
    assert set(tfvars) <= set(root.variables), set(tfvars) - set(root.variables)
    shared = tfvars["shared_data"]
    assert shared["storage_account_name"] == "ddbistorage"
    assert shared["container_name"] == f"xledger-{env}"


def test_app_module_calls_the_postgres_and_shared_data_modules():
    assert {n: m["source"] for n, m in app().modules.items()} == {
        "shared_data": "../shared_data",
        "postgres": "../postgres",
    }


# ---- no secrets anywhere in the configuration ------------------------------------------------


def test_no_secret_values_in_terraform():
    findings = [f for path in tf_files() for f in secret_findings(path)]
    assert findings == []
    for module in all_modules():
        for (kind, name), body in module.resources.items():
            assert "value" not in body or kind != "azurerm_key_vault_secret", (kind, name)
            for secret in body.get("secret", []):
                assert "value" not in secret, (kind, name, "secret with a literal value")


# ---- the wiring: production.py <-> the container apps -------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_container_app_sets_exactly_the_variables_of_its_role(role: str):
    env = env_of(role)
    expected = {v.name for v in variables_for(role, set_by="app")}
    assert set(env) == expected, (
        f"missing {sorted(expected - set(env))}, unexpected {sorted(set(env) - expected)}"
    )
    for variable in variables_for(role, set_by="app"):
        how = env[variable.name]
        if variable.secret:
            expected_how = {"secret_name": variable.key_vault_secret}
            if variable.optional:
                expected_how["optional"] = True
            assert how == expected_how, variable.name
        else:
            assert "value" in how and "secret_name" not in how, variable.name


def test_image_sets_the_image_variables():
    dockerfile = (REPO / "Dockerfile").read_text()
    runtime = dockerfile.split(" AS runtime", 1)[1]
    for variable in PRODUCTION_VARIABLES:
        if variable.set_by == "image":
            assert re.search(rf"\b{variable.name}=\S+", runtime), variable.name


@pytest.mark.parametrize("role", ROLES)
def test_secrets_are_key_vault_references_with_the_managed_identity(role: str):
    secrets = secrets_of(role)
    assert secrets, role
    for secret in secrets:
        assert "value" not in secret
        assert re.fullmatch(
            r"\$\{local\.key_vault_uri\}secrets/\$\{secret\.value\}", secret["key_vault_secret_id"]
        )
        assert secret["identity"] == "${azurerm_user_assigned_identity.app.id}"
    assert app().locals["key_vault_uri"] == "${module.shared_data.key_vault_uri}"
    # every secret an env var names is declared on that app
    declared = " ".join(s["for_each"] for s in secrets)
    for name, how in env_of(role).items():
        if "secret_name" in how:
            group = (
                FLEXLINK_LOCAL
                if name.startswith("XLEDGER_FLEXLINK_")
                else OPTIONAL_LOCAL
                if how.get("optional")
                else None
            )
            local = group or next(
                k for k, v in app().locals.items() if isinstance(v, dict) and name in v
            )
            assert f"local.{local}" in declared, (role, name)


def test_flexlink_variables_come_from_the_vaults_flexlink_secrets():
    """No flexlink is named in Terraform: the vault's xledger-flexlink-* secrets are listed and
    each becomes upper(replace(name, "-", "_")), which is exactly the catalog's variable."""
    shared = load_module(SHARED)
    assert shared.variables["flexlink_secret_prefix"]["default"] == FLEXLINK_SECRET_PREFIX
    listing = shared.locals["flexlink_secrets"]
    assert "data.azurerm_key_vault_secrets.all.secrets" in listing
    assert "startswith(s.name, var.flexlink_secret_prefix)" in listing
    assert shared.outputs["flexlink_secrets"]["value"] == "${local.flexlink_secrets}"
    expression = app().locals[FLEXLINK_LOCAL]
    assert "module.shared_data.flexlink_secrets" in expression
    assert 'upper(replace(name, "-", "_")) => name' in expression
    for d in DEFAULT_CATALOG.flexlinks:
        secret = flexlink_secret_name(d.name)
        assert secret.startswith(FLEXLINK_SECRET_PREFIX)
        assert env_var_for_secret(secret) == d.env_var == secret.upper().replace("-", "_")
    text = " ".join(p.read_text() for p in tf_files())
    for d in DEFAULT_CATALOG.flexlinks:
        assert d.env_var not in text and flexlink_secret_name(d.name) not in text


def test_optional_secrets_are_referenced_only_when_the_vault_has_them():
    expression = app().locals[OPTIONAL_LOCAL]
    assert "local.optional_secrets" in expression
    assert "if contains(module.shared_data.secret_names, secret)" in expression
    shared = load_module(SHARED)
    assert "if s.enabled" in shared.outputs["secret_names"]["value"]
    optional = {v.name: v.key_vault_secret for v in PRODUCTION_VARIABLES if v.optional}
    assert app().locals["optional_secrets"] == optional


def test_every_key_vault_secret_is_documented():
    docs = (REPO / "docs" / "operations.md").read_text()
    referenced = {resolve(v, app()) for v in app().locals["instance_secret_env"].values()}
    referenced |= {resolve(v, app()) for v in app().locals["code_location_secret_env"].values()}
    referenced |= set(app().locals["optional_secrets"].values())
    referenced.add(resolve("${local.auth_client_secret}", app()))
    postgres = load_module(POSTGRES)
    [password] = postgres.ephemeral.values()
    referenced.add(resolve(password["name"], postgres))
    assert referenced == {*key_vault_secrets()} - {
        flexlink_secret_name(d.name) for d in DEFAULT_CATALOG.flexlinks
    }
    for name in [*referenced, *key_vault_secrets()]:
        assert f"`{name}`" in docs, f"{name} is not documented in docs/operations.md"
    assert f"`{FLEXLINK_SECRET_PREFIX}<dataset>`" in docs


# ---- the apps ----------------------------------------------------------------------------------


def test_webserver_is_behind_entra_id_sign_in():
    module = app()
    web = module.resource("azurerm_container_app", "webserver")
    [ingress] = web["ingress"]
    assert ingress["external_enabled"] is True
    assert ingress["allow_insecure_connections"] is False
    [auth] = module.of_type("azapi_resource").values()
    assert auth["type"].startswith("Microsoft.App/containerApps/authConfigs@")
    assert auth["parent_id"] == "${azurerm_container_app.webserver.id}"
    props = auth["body"]["properties"]
    assert props["platform"]["enabled"] is True
    assert props["globalValidation"]["unauthenticatedClientAction"] == "RedirectToLoginPage"
    assert props["httpSettings"]["requireHttps"] is True
    aad = props["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    issuer = aad["registration"]["openIdIssuer"]
    assert issuer == "https://login.microsoftonline.com/${var.webserver_auth.tenant_id}/v2.0"
    assert resolve(aad["registration"]["clientSecretSettingName"], module) == WEBSERVER_AUTH_SECRET
    assert "AllowAnonymous" not in (APP / "auth.tf").read_text()


def test_only_the_webserver_is_reachable_from_outside():
    module = app()
    code = module.resource("azurerm_container_app", "code_server")
    [ingress] = code["ingress"]
    assert ingress["external_enabled"] is False
    assert ingress["transport"] == "tcp"
    assert resolve(ingress["exposed_port"], module) == 4000
    assert "ingress" not in module.resource("azurerm_container_app", "daemon")
    env = module.resource("azurerm_container_app_environment", "app")
    assert env["internal_load_balancer_enabled"] is False
    assert env["infrastructure_subnet_id"] == "${azurerm_subnet.container_apps.id}"
    assert env["logs_destination"] == "log-analytics"
    assert env["log_analytics_workspace_id"] == "${azurerm_log_analytics_workspace.app.id}"


@pytest.mark.parametrize("role", ["daemon", "code_server"])
def test_exactly_one_daemon_and_one_code_server(role: str):
    [template] = app().resource("azurerm_container_app", role)["template"]
    assert (template["min_replicas"], template["max_replicas"]) == (1, 1)


def test_the_commands_pick_the_roles():
    module = app()
    args = {
        role: [
            resolve(a, module)
            for a in container(module.resource("azurerm_container_app", role))["args"]
        ]
        for role in ROLES
    }
    assert args["webserver"][0] == "dagster-webserver"
    assert args["daemon"][:2] == ["dagster-daemon", "run"]
    assert args["code_server"][:3] == ["dagster", "code-server", "start"]
    assert "xledger_assets.definitions" in args["code_server"]
    for role in ("webserver", "daemon"):
        assert "/opt/dagster/home/workspace.yaml" in args[role]
    for role in ROLES:
        body = module.resource("azurerm_container_app", role)
        assert container(body)["image"] == "${var.image}"
        assert body["identity"][0]["type"] == "UserAssigned"
        assert body["registry"][0]["identity"] == "${azurerm_user_assigned_identity.app.id}"


# ---- least privilege and the shared data ---------------------------------------------------------


def test_role_assignments_are_the_narrowest():
    assignments = {
        (m.path.name, n): (b["role_definition_name"], b["scope"])
        for m in all_modules()
        for n, b in m.of_type("azurerm_role_assignment").items()
    }
    assert assignments == {
        ("shared_data", "lake_container"): (
            "Storage Blob Data Contributor",
            "${data.azurerm_storage_container.lake.id}",
        ),
        ("shared_data", "state_store"): (
            "App Configuration Data Owner",
            "${data.azurerm_app_configuration.state.id}",
        ),
        ("shared_data", "key_vault_secrets"): (
            "Key Vault Secrets User",
            "${data.azurerm_key_vault.secrets.id}",
        ),
        ("dagster_app", "image_pull"): ("AcrPull", "${data.azurerm_container_registry.images.id}"),
    }
    shared = load_module(SHARED)
    container_data = shared.data[("azurerm_storage_container", "lake")]
    assert container_data["storage_account_id"] == "${data.azurerm_storage_account.lake.id}"
    for module in all_modules():
        for name, body in module.of_type("azurerm_role_assignment").items():
            assert body["principal_id"] in (
                "${var.principal_id}",
                "${azurerm_user_assigned_identity.app.principal_id}",
            ), name


def test_shared_data_is_read_never_managed():
    shared = load_module(SHARED)
    assert set(shared.data) == {
        ("azurerm_storage_account", "lake"),
        ("azurerm_storage_container", "lake"),
        ("azurerm_app_configuration", "state"),
        ("azurerm_key_vault", "secrets"),
        ("azurerm_key_vault_secrets", "all"),
    }
    managed_kinds = {k for m in all_modules() for (k, _n) in m.resources}
    forbidden = {
        "azurerm_storage_account",
        "azurerm_storage_container",
        "azurerm_app_configuration",
        "azurerm_key_vault",
        "azurerm_key_vault_secret",
        "azurerm_key_vault_access_policy",
    }
    assert not managed_kinds & forbidden


def test_postgres_is_private_and_tls_only():
    postgres = load_module(POSTGRES)
    server = postgres.resource("azurerm_postgresql_flexible_server", "this")
    assert server["public_network_access_enabled"] is False
    assert server["delegated_subnet_id"] == "${azurerm_subnet.postgres.id}"
    assert "administrator_password" not in server  # write-only, from an ephemeral read
    assert server["administrator_password_wo"] == (
        "${ephemeral.azurerm_key_vault_secret.administrator_password.value}"
    )
    settings = {
        b["name"]: b["value"]
        for b in postgres.of_type("azurerm_postgresql_flexible_server_configuration").values()
    }
    assert settings["require_secure_transport"] == "on"
    assert settings["ssl_min_protocol_version"] == "TLSv1.2"
    nsg = postgres.resource("azurerm_network_security_group", "postgres")
    allow = [r for r in nsg["security_rule"] if r["access"] == "Allow"]
    assert [(r["source_address_prefix"], r["destination_port_range"]) for r in allow] == [
        ("${var.client_subnet_prefix}", "5432")
    ]
    call = app().modules["postgres"]
    assert call["client_subnet_prefix"] == "${var.network.container_apps_subnet}"


def test_checkov_skips_carry_a_reason():
    skips = [
        (path, line)
        for path in tf_files()
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    for path, line in skips:
        match = re.search(r"checkov:skip=(CKV2?_[A-Z0-9_]+):(.*)$", line)
        assert match and len(match.group(2).strip()) >= 20, (path, line)
