output "lake_url" {
  description = "XLEDGER_LAKE_URL: the lake's container through the ADLS Gen2 (dfs) name."
  value       = "abfs://${data.azurerm_storage_container.lake.name}@${data.azurerm_storage_account.lake.name}.dfs.core.windows.net"
}

output "storage_account_name" {
  value = data.azurerm_storage_account.lake.name
}

output "container_name" {
  value = data.azurerm_storage_container.lake.name
}

output "app_configuration_endpoint" {
  description = "XLEDGER_STATE_URL: the store's endpoint (the identity signs in, no connection string)."
  value       = data.azurerm_app_configuration.state.endpoint
}

output "key_vault_id" {
  value = data.azurerm_key_vault.secrets.id
}

output "key_vault_uri" {
  description = "https://<vault>.vault.azure.net/ (Key Vault references are <uri>secrets/<name>)."
  value       = data.azurerm_key_vault.secrets.vault_uri
}

output "secret_names" {
  description = "Names of the vault's enabled secrets (for the optional ones)."
  value       = toset([for s in data.azurerm_key_vault_secrets.all.secrets : s.name if s.enabled])
}

output "flexlink_secrets" {
  description = "Flexlink secrets of the vault: name => versionless secret id."
  value       = local.flexlink_secrets
}

output "role_assignment_ids" {
  description = "Depend on these before anything resolves a Key Vault reference or touches the data."
  value = [
    azurerm_role_assignment.lake_container.id,
    azurerm_role_assignment.state_store.id,
    azurerm_role_assignment.key_vault_secrets.id,
  ]
}
