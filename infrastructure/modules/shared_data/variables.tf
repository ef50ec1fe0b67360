variable "resource_group_name" {
  description = "Resource group holding the existing storage account, App Configuration store and Key Vault."
  type        = string
}

variable "storage_account_name" {
  description = "The existing storage account of the lake (ddbistorage)."
  type        = string
}

variable "container_name" {
  description = "The lake's container in that account for this environment (xledger-dev, xledger-prod)."
  type        = string
}

variable "app_configuration_name" {
  description = "The existing App Configuration store holding the sync state (one label per environment)."
  type        = string
}

variable "key_vault_name" {
  description = "The existing Key Vault (RBAC authorization) holding the secrets."
  type        = string
}

variable "principal_id" {
  description = "Object id of the app's managed identity, granted access below."
  type        = string
}

variable "flexlink_secret_prefix" {
  description = "Key Vault secrets named <prefix><dataset> become XLEDGER_FLEXLINK_<DATASET>."
  type        = string
  default     = "xledger-flexlink-"
}
