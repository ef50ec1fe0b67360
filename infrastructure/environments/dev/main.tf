module "dagster_app" {
  source = "../../modules/dagster_app"

  environment         = "dev"
  location            = var.location
  resource_group_name = var.resource_group_name
  image               = "${var.container_registry.name}.azurecr.io/xledger-assets:${var.image_tag}"
  container_registry  = var.container_registry
  shared_data         = var.shared_data
  xledger_api_url     = var.xledger_api_url
  xledger_owner_set   = var.xledger_owner_set
  network             = var.network
  postgres            = var.postgres
  webserver_auth      = var.webserver_auth

  webserver_allowed_ip_ranges = var.webserver_allowed_ip_ranges
  tags                        = var.tags
}
