# The shared data stores exist already and are not managed here: this module only reads them
# (data sources) and grants the app's managed identity the narrowest role on each.

data "azurerm_storage_account" "lake" {
  name                = var.storage_account_name
  resource_group_name = var.resource_group_name
}

data "azurerm_storage_container" "lake" {
  name               = var.container_name
  storage_account_id = data.azurerm_storage_account.lake.id
}

data "azurerm_app_configuration" "state" {
  name                = var.app_configuration_name
  resource_group_name = var.resource_group_name
}

data "azurerm_key_vault" "secrets" {
  name                = var.key_vault_name
  resource_group_name = var.resource_group_name
}

# Every secret in the vault (names and versionless ids, never values). The flexlink secrets among
# them become container-app secrets and environment variables without any edit here.
data "azurerm_key_vault_secrets" "all" {
  key_vault_id = data.azurerm_key_vault.secrets.id
}

locals {
  flexlink_secrets = {
    for s in data.azurerm_key_vault_secrets.all.secrets :
    s.name => s.id if startswith(s.name, var.flexlink_secret_prefix) && s.enabled
  }
}

# Lake files and compute logs: read/write blobs in the one container, nothing else in the account.
resource "azurerm_role_assignment" "lake_container" {
  scope                = data.azurerm_storage_container.lake.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = var.principal_id
  principal_type       = "ServicePrincipal"
  description          = "xledger-assets: lake files and Dagster compute logs in ${var.container_name}"
}

# Sync state: keys are created, compare-and-swapped and deleted (locks), so data owner.
resource "azurerm_role_assignment" "state_store" {
  scope                = data.azurerm_app_configuration.state.id
  role_definition_name = "App Configuration Data Owner"
  principal_id         = var.principal_id
  principal_type       = "ServicePrincipal"
  description          = "xledger-assets: sync state and locks"
}

# Container Apps resolve the Key Vault references with the managed identity: read secrets only.
resource "azurerm_role_assignment" "key_vault_secrets" {
  scope                = data.azurerm_key_vault.secrets.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = var.principal_id
  principal_type       = "ServicePrincipal"
  description          = "xledger-assets: Key Vault references of the container apps"
}
