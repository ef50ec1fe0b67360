output "webserver_url" {
  description = "The Dagster UI (Entra ID sign-in). Register <url>/.auth/login/aad/callback as a redirect URI."
  value       = "https://${azurerm_container_app.webserver.ingress[0].fqdn}"
}

output "managed_identity_client_id" {
  value = azurerm_user_assigned_identity.app.client_id
}

output "managed_identity_principal_id" {
  value = azurerm_user_assigned_identity.app.principal_id
}

output "postgres_fqdn" {
  value = module.postgres.fqdn
}

output "container_apps" {
  description = "Names of the three container apps (for az containerapp revision restart)."
  value = {
    webserver   = azurerm_container_app.webserver.name
    daemon      = azurerm_container_app.daemon.name
    code_server = azurerm_container_app.code_server.name
  }
}

output "flexlink_variables" {
  description = "XLEDGER_FLEXLINK_* variables set from the vault's xledger-flexlink-* secrets."
  value       = sort(keys(local.flexlink_secret_env))
}

output "log_analytics_workspace_id" {
  value = azurerm_log_analytics_workspace.app.id
}
