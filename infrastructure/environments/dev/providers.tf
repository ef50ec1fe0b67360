terraform {
  required_version = ">= 1.11"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.30"
    }
    azapi = {
      source  = "Azure/azapi"
      version = "~> 2.2"
    }
  }
}

# Credentials: the pipeline's `xledger` service connection (ARM_* variables); the subscription
# is the service connection's (ARM_SUBSCRIPTION_ID).
provider "azurerm" {
  features {}
  storage_use_azuread = true
}

provider "azapi" {}
