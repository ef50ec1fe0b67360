# dev: configuration only. No secret belongs here: the Xledger token, the flexlink URLs, the
# database password and the sign-in client secret are Key Vault secrets (docs/operations.md).
# The names of the existing shared resources must match the real ones.
location            = "norwayeast"
resource_group_name = "xledger-dev-rg"

container_registry = {
  name                = "ddbiregistry"
  resource_group_name = "ddbi-shared-rg"
}

shared_data = {
  resource_group_name    = "ddbi-shared-rg"
  storage_account_name   = "ddbistorage"
  container_name         = "xledger-dev"
  app_configuration_name = "ddbi-appconfig"
  key_vault_name         = "ddbi-keyvault"
}

# Xledger's demo environment; the operators use the live token there too.
xledger_api_url = "https://demo.xledger.net/graphql"

network = {
  address_space         = "10.60.0.0/22"
  container_apps_subnet = "10.60.0.0/23"
  postgres_subnet       = "10.60.2.0/28"
}

postgres = {
  sku_name              = "B_Standard_B1ms"
  backup_retention_days = 7
}

webserver_auth = {
  tenant_id                = "00000000-0000-0000-0000-000000000000" # the company's Entra tenant id
  client_id                = "00000000-0000-0000-0000-000000000000" # app registration "xledger-dagster-dev"
  allowed_group_object_ids = []
}

tags = {
  owner = "team:data-platform"
}
