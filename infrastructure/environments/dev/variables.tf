variable "image_tag" {
  description = "The image tag to deploy: the commit the pipeline built (-var image_tag=...)."
  type        = string
}

variable "location" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "container_registry" {
  type = object({
    name                = string
    resource_group_name = string
  })
}

variable "shared_data" {
  type = object({
    resource_group_name    = string
    storage_account_name   = string
    container_name         = string
    app_configuration_name = string
    key_vault_name         = string
  })
}

variable "xledger_api_url" {
  type = string
}

variable "xledger_owner_set" {
  type    = string
  default = ""
}

variable "network" {
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
  type = object({
    tenant_id                = string
    client_id                = string
    allowed_group_object_ids = optional(list(string), [])
  })
}

variable "webserver_allowed_ip_ranges" {
  type    = list(string)
  default = []
}

variable "tags" {
  type    = map(string)
  default = {}
}
