output "fqdn" {
  description = "DAGSTER_PG_HOST (resolves privately inside the virtual network)."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}

output "port" {
  value = 5432
}

output "database_name" {
  value = azurerm_postgresql_flexible_server_database.dagster.name
}

output "administrator_login" {
  value = azurerm_postgresql_flexible_server.this.administrator_login
}

output "password_secret_name" {
  description = "The Key Vault secret the container apps reference as DAGSTER_PG_PASSWORD."
  value       = var.administrator_password_secret_name
}

output "subnet_id" {
  value = azurerm_subnet.postgres.id
}
