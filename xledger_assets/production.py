"""The environment of the deployed code location: the one list of the variables production sets.

Three containers run the one image (``Dockerfile``): the webserver, the daemon and the code
server, which also executes the runs (Dagster's default run launcher starts each run as a
subprocess of the code server). ``PRODUCTION_VARIABLES`` says, for every variable, which of them
needs it, whether it is a secret (then it is a Key Vault reference, never a value in Terraform,
YAML or the pipeline) and whether the image or the container app sets it.

``infrastructure/modules/dagster_app`` sets these variables and the tests in
``xledger_assets_tests/deploy`` prove it, so a variable added here and forgotten there fails CI.
Flexlink variables come from the catalog: adding a flexlink adds its variable here, and Terraform
finds the matching Key Vault secret by name (:func:`flexlink_secret_name`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from xledger_assets.catalog import DEFAULT_CATALOG, Catalog

Role = Literal["webserver", "daemon", "code_server"]
ROLES: tuple[Role, ...] = ("webserver", "daemon", "code_server")
EVERY_ROLE: tuple[Role, ...] = ROLES
#: Runs execute inside the code server container, so the Xledger settings live only there.
CODE_SERVER: tuple[Role, ...] = ("code_server",)
#: The webserver and the daemon reach the code server over gRPC (``deploy/workspace.yaml``).
WORKSPACE_READERS: tuple[Role, ...] = ("webserver", "daemon")

#: Key Vault secrets whose names start with this become flexlink variables
#: (``xledger-flexlink-employee-groups`` -> ``XLEDGER_FLEXLINK_EMPLOYEE_GROUPS``).
FLEXLINK_SECRET_PREFIX = "xledger-flexlink-"
API_TOKEN_SECRET = "xledger-api-token"
#: Optional: when the vault has no such secret, the failure alert only logs.
ALERT_WEBHOOK_SECRET = "xledger-alert-webhook-url"
DATABASE_PASSWORD_SECRET = "dagster-postgres-password"
#: The Entra ID app registration's client secret, read by the webserver's built-in authentication
#: (not an environment variable of the code: Container Apps reads it from the app's secrets).
WEBSERVER_AUTH_SECRET = "dagster-webserver-auth-client-secret"


@dataclass(frozen=True)
class ProductionVariable:
    """One environment variable of a production container."""

    name: str
    description: str
    roles: tuple[Role, ...]
    #: The Key Vault secret the container app references; set for secrets only.
    key_vault_secret: str | None = None
    #: ``image``: an ``ENV`` of the Dockerfile (a path inside the image); ``app``: the container
    #: app sets it (Terraform).
    set_by: Literal["app", "image"] = "app"
    #: Set only when its Key Vault secret exists (the code has a default for it).
    optional: bool = False

    @property
    def secret(self) -> bool:
        return self.key_vault_secret is not None


def flexlink_secret_name(dataset: str) -> str:
    """The Key Vault secret holding a flexlink dataset's URL (Key Vault names allow no ``_``)."""
    return FLEXLINK_SECRET_PREFIX + dataset.replace("_", "-")


def env_var_for_secret(secret_name: str) -> str:
    """The variable Terraform sets from a Key Vault secret: ``upper(replace(name, "-", "_"))``."""
    return secret_name.upper().replace("-", "_")


def _flexlink_variables(catalog: Catalog) -> list[ProductionVariable]:
    out = []
    for d in catalog.flexlinks:
        what = (
            'JSON object {"<subsidiary>": "<flexlink url>", ...}'
            if d.per_subsidiary
            else "flexlink URL"
        )
        secret = flexlink_secret_name(d.name)
        assert env_var_for_secret(secret) == d.env_var, (secret, d.env_var)
        out.append(ProductionVariable(d.env_var, f"{d.name}: {what}", CODE_SERVER, secret))
    return out


def production_variables(catalog: Catalog = DEFAULT_CATALOG) -> tuple[ProductionVariable, ...]:
    """Every variable a production container reads, for ``catalog``'s flexlinks."""
    return (
        # -- the code location (xledger_assets/settings.py, flexlinks, lake, state) --------------
        ProductionVariable("XLEDGER_ENV", "dev or prod: App Configuration label", CODE_SERVER),
        ProductionVariable("XLEDGER_API_URL", "Xledger GraphQL endpoint", CODE_SERVER),
        ProductionVariable("XLEDGER_API_TOKEN", "Xledger API token", CODE_SERVER, API_TOKEN_SECRET),
        ProductionVariable(
            "XLEDGER_OWNER_SET", "ownerSet sent with item queries (empty: not sent)", CODE_SERVER
        ),
        ProductionVariable(
            "XLEDGER_LAKE_URL", "abfs://<container>@<account>.dfs.core.windows.net", CODE_SERVER
        ),
        ProductionVariable(
            "XLEDGER_STATE_URL",
            "App Configuration endpoint https://<store>.azconfig.io",
            CODE_SERVER,
        ),
        *_flexlink_variables(catalog),
        ProductionVariable(
            "XLEDGER_UI_URL", "the webserver's URL, for the link in failure alerts", CODE_SERVER
        ),
        ProductionVariable(
            "XLEDGER_ALERT_WEBHOOK_URL",
            "Teams/Slack incoming webhook for run-failure alerts",
            CODE_SERVER,
            ALERT_WEBHOOK_SECRET,
            optional=True,
        ),
        # -- Azure identity: DefaultAzureCredential picks the user-assigned managed identity -----
        ProductionVariable(
            "AZURE_CLIENT_ID",
            "client id of the managed identity (lake, state, compute logs)",
            EVERY_ROLE,
        ),
        # -- the Dagster instance (deploy/dagster.yaml) ------------------------------------------
        ProductionVariable(
            "DAGSTER_HOME", "folder holding dagster.yaml", EVERY_ROLE, set_by="image"
        ),
        ProductionVariable(
            "PGSSLROOTCERT",
            "CA bundle libpq verifies the PostgreSQL server against (sslmode verify-full)",
            EVERY_ROLE,
            set_by="image",
        ),
        ProductionVariable("DAGSTER_PG_HOST", "PostgreSQL server FQDN", EVERY_ROLE),
        ProductionVariable("DAGSTER_PG_PORT", "PostgreSQL port", EVERY_ROLE),
        ProductionVariable("DAGSTER_PG_DB", "PostgreSQL database", EVERY_ROLE),
        ProductionVariable("DAGSTER_PG_USERNAME", "PostgreSQL login", EVERY_ROLE),
        ProductionVariable(
            "DAGSTER_PG_PASSWORD", "PostgreSQL password", EVERY_ROLE, DATABASE_PASSWORD_SECRET
        ),
        ProductionVariable(
            "DAGSTER_COMPUTE_LOG_STORAGE_ACCOUNT", "storage account for compute logs", EVERY_ROLE
        ),
        ProductionVariable(
            "DAGSTER_COMPUTE_LOG_CONTAINER", "container for compute logs (the lake's)", EVERY_ROLE
        ),
        ProductionVariable(
            "DAGSTER_COMPUTE_LOG_PREFIX", "blob prefix for compute logs", EVERY_ROLE
        ),
        # -- the workspace (deploy/workspace.yaml) -----------------------------------------------
        ProductionVariable(
            "DAGSTER_CODE_SERVER_HOST", "code server host (its app name)", WORKSPACE_READERS
        ),
        ProductionVariable("DAGSTER_CODE_SERVER_PORT", "code server gRPC port", WORKSPACE_READERS),
    )


PRODUCTION_VARIABLES: tuple[ProductionVariable, ...] = production_variables()


def variables_for(role: Role, *, set_by: str | None = None) -> list[ProductionVariable]:
    """The variables one container needs (optionally only those the image or the app sets)."""
    return [
        v
        for v in PRODUCTION_VARIABLES
        if role in v.roles and (set_by is None or v.set_by == set_by)
    ]


def key_vault_secrets() -> list[str]:
    """Every Key Vault secret production reads, flexlinks included."""
    names = [v.key_vault_secret for v in PRODUCTION_VARIABLES if v.key_vault_secret]
    return [*names, WEBSERVER_AUTH_SECRET]
