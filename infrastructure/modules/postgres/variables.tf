variable "name" {
  description = "Server name (globally unique: <name>.postgres.database.azure.com)."
  type        = string
}

variable "resource_group_name" {
  type = string
}

variable "location" {
  type = string
}

variable "virtual_network_id" {
  description = "The app's virtual network: the server gets a delegated subnet in it."
  type        = string
}

variable "virtual_network_name" {
  type = string
}

variable "subnet_prefix" {
  description = "Address prefix of the server's delegated subnet (a /28 is enough)."
  type        = string
}

variable "client_subnet_prefix" {
  description = "The only address range allowed to reach port 5432 (the container apps' subnet)."
  type        = string
}

variable "key_vault_id" {
  description = "Key Vault holding the administrator password (read at apply time, never stored in state)."
  type        = string
}

variable "administrator_password_secret_name" {
  description = "Key Vault secret holding the administrator password."
  type        = string
  default     = "dagster-postgres-password"
}

variable "administrator_password_version" {
  description = "Bump after changing the password secret in Key Vault so that apply sends the new one."
  type        = number
  default     = 1
}

variable "administrator_login" {
  type    = string
  default = "dagster"
}

variable "database_name" {
  type    = string
  default = "dagster"
}

variable "postgres_version" {
  type    = string
  default = "16"
}

variable "sku_name" {
  description = "B_Standard_B1ms is plenty for Dagster's run and event storage in dev."
  type        = string
}

variable "storage_mb" {
  type    = number
  default = 32768
}

variable "backup_retention_days" {
  type    = number
  default = 7
}

variable "geo_redundant_backup" {
  type    = bool
  default = false
}

variable "high_availability" {
  description = "Zone-redundant standby (General Purpose or Memory Optimized SKUs only)."
  type        = bool
  default     = false
}

variable "tags" {
  type    = map(string)
  default = {}
}
