variable "environment" {
  description = "dev or prod: names, tags, XLEDGER_ENV (the App Configuration label)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "location" {
  type = string
}

variable "resource_group_name" {
  description = "Resource group created for this environment's app."
  type        = string
}

variable "image" {
  description = "The image all three container apps run: <registry>.azurecr.io/xledger-assets:<commit>."
  type        = string
}

variable "container_registry" {
  description = "The existing registry the image is pulled from (with the managed identity)."
  type = object({
    name                = string
    resource_group_name = string
  })
}

variable "shared_data" {
  description = "The existing storage account, container, App Configuration store and Key Vault."
  type = object({
    resource_group_name    = string
    storage_account_name   = string
    container_name         = string
    app_configuration_name = string
    key_vault_name         = string
  })
}

variable "xledger_api_url" {
  type    = string
  default = "https://www.xledger.net/graphql"
}

variable "xledger_owner_set" {
  description = "XLEDGER_OWNER_SET (CURRENT, UPPER, LOWER, MINE, ALL); empty: not sent."
  type        = string
  default     = ""
}

variable "network" {
  description = "The app's virtual network: a /23 (or larger) for Container Apps, a /28 for PostgreSQL."
  type = object({
    address_space         = string
    container_apps_subnet = string
    postgres_subnet       = string
  })
}

variable "postgres" {
  type = object({
    sku_name              = string
    storage_mb            = optional(number, 32768)
    backup_retention_days = optional(number, 7)
    geo_redundant_backup  = optional(bool, false)
    high_availability     = optional(bool, false)
    password_version      = optional(number, 1)
  })
}

variable "webserver_auth" {
  description = <<-EOT
    Entra ID sign-in in front of the webserver (no anonymous access). client_id: an existing app
    registration whose redirect URI is https://<webserver fqdn>/.auth/login/aad/callback; its
    client secret is the Key Vault secret dagster-webserver-auth-client-secret.
    allowed_group_object_ids: only members of these groups get in (empty: anyone in the tenant).
  EOT
  type = object({
    tenant_id                = string
    client_id                = string
    allowed_group_object_ids = optional(list(string), [])
  })
}

variable "webserver_allowed_ip_ranges" {
  description = "CIDR ranges allowed to reach the webserver at all (empty: any address, still signed in)."
  type        = list(string)
  default     = []
}

variable "webserver_max_replicas" {
  type    = number
  default = 1
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "tags" {
  type    = map(string)
  default = {}
}
