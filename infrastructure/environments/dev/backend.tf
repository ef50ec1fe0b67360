# Terraform state in the state storage account (Entra ID auth, no account key). The account,
# its resource group and container come from the pipeline's variable group:
#   terraform init -backend-config="resource_group_name=$TF_STATE_RESOURCE_GROUP" \
#     -backend-config="storage_account_name=$TF_STATE_STORAGE_ACCOUNT" \
#     -backend-config="container_name=$TF_STATE_CONTAINER"
terraform {
  backend "azurerm" {
    key              = "xledger-assets/dev.tfstate"
    use_azuread_auth = true
  }
}
