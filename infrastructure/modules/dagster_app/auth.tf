# Entra ID authentication (Container Apps "Easy Auth") in front of the webserver: a request
# without a signed-in session is redirected to the Microsoft sign-in page, never served. Only
# users of the tenant (and, when given, of the allowed groups) get a session.
resource "azapi_resource" "webserver_auth" {
  type      = "Microsoft.App/containerApps/authConfigs@2024-03-01"
  name      = "current"
  parent_id = azurerm_container_app.webserver.id

  body = {
    properties = {
      platform = {
        enabled = true
      }
      globalValidation = {
        unauthenticatedClientAction = "RedirectToLoginPage"
        redirectToProvider          = "azureactivedirectory"
      }
      httpSettings = {
        requireHttps = true
      }
      identityProviders = {
        azureActiveDirectory = {
          enabled = true
          registration = {
            clientId                = var.webserver_auth.client_id
            clientSecretSettingName = local.auth_client_secret
            openIdIssuer            = "https://login.microsoftonline.com/${var.webserver_auth.tenant_id}/v2.0"
          }
          validation = merge(
            { allowedAudiences = ["api://${var.webserver_auth.client_id}"] },
            # Only members of the allowed groups, when any are given.
            {
              for policy, groups in { defaultAuthorizationPolicy = var.webserver_auth.allowed_group_object_ids } :
              policy => { allowedPrincipals = { groups = groups } } if length(groups) > 0
            },
          )
        }
      }
    }
  }
}
