terraform {
  required_version = ">= 1.11"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.30, < 5.0"
    }
    # Container Apps authentication (authConfigs) is not in azurerm yet.
    azapi = {
      source  = "Azure/azapi"
      version = ">= 2.2, < 3.0"
    }
  }
}
