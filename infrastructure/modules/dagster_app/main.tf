# The Dagster deployment of one environment on Azure Container Apps: three apps from one image
# (webserver, daemon, code server), a user-assigned managed identity for everything they reach,
# PostgreSQL for Dagster's storage, and the existing shared data stores (read, never managed).

locals {
  name               = "xledger-${var.environment}"
  webserver_port     = 3000
  code_server_port   = 4000
  code_server_app    = "${local.name}-code"
  compute_log_prefix = "_dagster/compute-logs"
  workspace_file     = "/opt/dagster/home/workspace.yaml"
  api_token_secret   = "xledger-api-token"
  auth_client_secret = "dagster-webserver-auth-client-secret"
  key_vault_uri      = module.shared_data.key_vault_uri
  tags = merge(var.tags, {
    application = "xledger-assets"
    environment = var.environment
  })

  # ---- environment of the containers (xledger_assets/production.py lists every variable) ----
  # Every role: the Dagster instance (deploy/dagster.yaml) and the identity.
  instance_env = {
    AZURE_CLIENT_ID                     = azurerm_user_assigned_identity.app.client_id
    DAGSTER_PG_HOST                     = module.postgres.fqdn
    DAGSTER_PG_PORT                     = tostring(module.postgres.port)
    DAGSTER_PG_DB                       = module.postgres.database_name
    DAGSTER_PG_USERNAME                 = module.postgres.administrator_login
    DAGSTER_COMPUTE_LOG_STORAGE_ACCOUNT = module.shared_data.storage_account_name
    DAGSTER_COMPUTE_LOG_CONTAINER       = module.shared_data.container_name
    DAGSTER_COMPUTE_LOG_PREFIX          = "${local.compute_log_prefix}/${var.environment}"
  }
  # Environment variable => Key Vault secret (the container-app secret has the same name).
  instance_secret_env = {
    DAGSTER_PG_PASSWORD = module.postgres.password_secret_name
  }

  # Webserver and daemon: where the code server is (deploy/workspace.yaml).
  workspace_env = {
    DAGSTER_CODE_SERVER_HOST = local.code_server_app
    DAGSTER_CODE_SERVER_PORT = tostring(local.code_server_port)
  }

  # Code server (which also executes the runs): the code location's settings.
  code_location_env = {
    XLEDGER_ENV       = var.environment
    XLEDGER_API_URL   = var.xledger_api_url
    XLEDGER_OWNER_SET = var.xledger_owner_set
    XLEDGER_LAKE_URL  = module.shared_data.lake_url
    XLEDGER_STATE_URL = module.shared_data.app_configuration_endpoint
    XLEDGER_UI_URL    = "https://${azurerm_container_app.webserver.ingress[0].fqdn}"
  }
  code_location_secret_env = {
    XLEDGER_API_TOKEN = local.api_token_secret
  }
  # Optional secrets: referenced only when the vault has them (a missing Key Vault reference
  # would stop the revision). Without the webhook the failure alert only logs.
  optional_secrets = {
    XLEDGER_ALERT_WEBHOOK_URL = "xledger-alert-webhook-url"
  }
  optional_secret_env = {
    for name, secret in local.optional_secrets : name => secret
    if contains(module.shared_data.secret_names, secret)
  }
  # Every Key Vault secret named xledger-flexlink-<dataset> becomes XLEDGER_FLEXLINK_<DATASET>:
  # adding a flexlink is a catalog entry plus a Key Vault secret, no edit here.
  flexlink_secret_env = {
    for name, _id in module.shared_data.flexlink_secrets : upper(replace(name, "-", "_")) => name
  }
}

resource "azurerm_resource_group" "app" {
  name     = var.resource_group_name
  location = var.location
  tags     = local.tags
}

resource "azurerm_user_assigned_identity" "app" {
  name                = "${local.name}-dagster"
  location            = azurerm_resource_group.app.location
  resource_group_name = azurerm_resource_group.app.name
  tags                = local.tags
}

module "shared_data" {
  source = "../shared_data"

  resource_group_name    = var.shared_data.resource_group_name
  storage_account_name   = var.shared_data.storage_account_name
  container_name         = var.shared_data.container_name
  app_configuration_name = var.shared_data.app_configuration_name
  key_vault_name         = var.shared_data.key_vault_name
  principal_id           = azurerm_user_assigned_identity.app.principal_id
}

module "postgres" {
  source = "../postgres"

  name                           = "${local.name}-dagster"
  resource_group_name            = azurerm_resource_group.app.name
  location                       = azurerm_resource_group.app.location
  virtual_network_id             = azurerm_virtual_network.app.id
  virtual_network_name           = azurerm_virtual_network.app.name
  subnet_prefix                  = var.network.postgres_subnet
  client_subnet_prefix           = var.network.container_apps_subnet
  key_vault_id                   = module.shared_data.key_vault_id
  administrator_password_version = var.postgres.password_version
  sku_name                       = var.postgres.sku_name
  storage_mb                     = var.postgres.storage_mb
  backup_retention_days          = var.postgres.backup_retention_days
  geo_redundant_backup           = var.postgres.geo_redundant_backup
  high_availability              = var.postgres.high_availability
  tags                           = local.tags
}

# ---- images: pulled with the managed identity ------------------------------------------------
data "azurerm_container_registry" "images" {
  name                = var.container_registry.name
  resource_group_name = var.container_registry.resource_group_name
}

resource "azurerm_role_assignment" "image_pull" {
  scope                = data.azurerm_container_registry.images.id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_user_assigned_identity.app.principal_id
  principal_type       = "ServicePrincipal"
  description          = "xledger-assets: pull the Dagster image"
}

# ---- network: the Container Apps environment and PostgreSQL share a virtual network ---------
resource "azurerm_virtual_network" "app" {
  name                = "${local.name}-vnet"
  location            = azurerm_resource_group.app.location
  resource_group_name = azurerm_resource_group.app.name
  address_space       = [var.network.address_space]
  tags                = local.tags
}

resource "azurerm_subnet" "container_apps" {
  name                 = "container-apps"
  resource_group_name  = azurerm_resource_group.app.name
  virtual_network_name = azurerm_virtual_network.app.name
  address_prefixes     = [var.network.container_apps_subnet]

  delegation {
    name = "container-apps"
    service_delegation {
      name    = "Microsoft.App/environments"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_network_security_group" "container_apps" {
  name                = "${local.name}-apps-nsg"
  location            = azurerm_resource_group.app.location
  resource_group_name = azurerm_resource_group.app.name
  tags                = local.tags
  # Azure's default rules: the webserver's ingress comes through the environment's load
  # balancer; traffic inside the virtual network (code server gRPC, PostgreSQL) is allowed.
}

resource "azurerm_subnet_network_security_group_association" "container_apps" {
  subnet_id                 = azurerm_subnet.container_apps.id
  network_security_group_id = azurerm_network_security_group.container_apps.id
}

# ---- logs ------------------------------------------------------------------------------------
resource "azurerm_log_analytics_workspace" "app" {
  name                = "${local.name}-logs"
  location            = azurerm_resource_group.app.location
  resource_group_name = azurerm_resource_group.app.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

resource "azurerm_container_app_environment" "app" {
  name                           = "${local.name}-apps"
  location                       = azurerm_resource_group.app.location
  resource_group_name            = azurerm_resource_group.app.name
  infrastructure_subnet_id       = azurerm_subnet.container_apps.id
  internal_load_balancer_enabled = false
  logs_destination               = "log-analytics"
  log_analytics_workspace_id     = azurerm_log_analytics_workspace.app.id
  tags                           = local.tags

  workload_profile {
    name                  = "Consumption"
    workload_profile_type = "Consumption"
  }

  depends_on = [azurerm_subnet_network_security_group_association.container_apps]
}
