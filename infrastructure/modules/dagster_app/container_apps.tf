# Three container apps from the one image; the command picks the role (see the Dockerfile).
# Secrets are Key Vault references resolved with the managed identity: no secret value appears
# in Terraform, its state, the pipeline or the image. A versionless reference follows the
# vault's newest version (rotating a secret needs no deploy, only a restart of the revision).

# ---- code server: loads the code location, answers the webserver and the daemon over gRPC, and
# executes the runs (Dagster's default run launcher starts them as its subprocesses). ----------
resource "azurerm_container_app" "code_server" {
  name                         = local.code_server_app
  container_app_environment_id = azurerm_container_app_environment.app.id
  resource_group_name          = azurerm_resource_group.app.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  registry {
    server   = data.azurerm_container_registry.images.login_server
    identity = azurerm_user_assigned_identity.app.id
  }

  dynamic "secret" {
    for_each = toset(concat(
      values(local.instance_secret_env),
      values(local.code_location_secret_env),
      values(local.optional_secret_env),
      values(local.flexlink_secret_env),
    ))
    content {
      name                = secret.value
      key_vault_secret_id = "${local.key_vault_uri}secrets/${secret.value}"
      identity            = azurerm_user_assigned_identity.app.id
    }
  }

  # Internal only: reachable inside the environment as <app name>:4000, never from outside.
  ingress {
    external_enabled           = false
    allow_insecure_connections = false
    transport                  = "tcp"
    target_port                = local.code_server_port
    exposed_port               = local.code_server_port

    traffic_weight {
      latest_revision = true
      percentage      = 100
    }
  }

  template {
    # Runs execute in this replica: exactly one, never scaled to zero.
    min_replicas = 1
    max_replicas = 1

    container {
      name   = "code-server"
      image  = var.image
      cpu    = 2.0
      memory = "4Gi"
      args = [
        "dagster", "code-server", "start",
        "-h", "0.0.0.0", "-p", tostring(local.code_server_port),
        "-m", "xledger_assets.definitions", "--location-name", "xledger_assets",
      ]

      dynamic "env" {
        for_each = local.instance_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.instance_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
      dynamic "env" {
        for_each = local.code_location_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.code_location_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
      dynamic "env" {
        for_each = local.optional_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
      dynamic "env" {
        for_each = local.flexlink_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }

      startup_probe {
        transport               = "TCP"
        port                    = local.code_server_port
        interval_seconds        = 10
        failure_count_threshold = 30
      }
      liveness_probe {
        transport        = "TCP"
        port             = local.code_server_port
        interval_seconds = 30
      }
    }
  }

  depends_on = [module.shared_data, azurerm_role_assignment.image_pull]
}

# ---- daemon: schedules, sensors, the run queue, run retries and monitoring. -----------------
resource "azurerm_container_app" "daemon" {
  name                         = "${local.name}-daemon"
  container_app_environment_id = azurerm_container_app_environment.app.id
  resource_group_name          = azurerm_resource_group.app.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  registry {
    server   = data.azurerm_container_registry.images.login_server
    identity = azurerm_user_assigned_identity.app.id
  }

  dynamic "secret" {
    for_each = toset(values(local.instance_secret_env))
    content {
      name                = secret.value
      key_vault_secret_id = "${local.key_vault_uri}secrets/${secret.value}"
      identity            = azurerm_user_assigned_identity.app.id
    }
  }

  # No ingress: the daemon only calls out (PostgreSQL, the code server).
  template {
    # Exactly one daemon: two would evaluate every schedule and sensor twice.
    min_replicas = 1
    max_replicas = 1

    container {
      name   = "daemon"
      image  = var.image
      cpu    = 0.5
      memory = "1Gi"
      args   = ["dagster-daemon", "run", "-w", local.workspace_file]

      dynamic "env" {
        for_each = local.instance_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.instance_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
      dynamic "env" {
        for_each = local.workspace_env
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  depends_on = [module.shared_data, azurerm_role_assignment.image_pull]
}

# ---- webserver: the UI and GraphQL, behind Entra ID sign-in (auth.tf). -----------------------
resource "azurerm_container_app" "webserver" {
  name                         = "${local.name}-webserver"
  container_app_environment_id = azurerm_container_app_environment.app.id
  resource_group_name          = azurerm_resource_group.app.name
  revision_mode                = "Single"
  workload_profile_name        = "Consumption"
  tags                         = local.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  registry {
    server   = data.azurerm_container_registry.images.login_server
    identity = azurerm_user_assigned_identity.app.id
  }

  dynamic "secret" {
    for_each = toset(concat(values(local.instance_secret_env), [local.auth_client_secret]))
    content {
      name                = secret.value
      key_vault_secret_id = "${local.key_vault_uri}secrets/${secret.value}"
      identity            = azurerm_user_assigned_identity.app.id
    }
  }

  # HTTPS only; every request must carry an Entra ID session (auth.tf), anonymous ones are
  # sent to the sign-in page. Optionally also limited to some address ranges.
  ingress {
    external_enabled           = true
    allow_insecure_connections = false
    transport                  = "auto"
    target_port                = local.webserver_port

    traffic_weight {
      latest_revision = true
      percentage      = 100
    }

    dynamic "ip_security_restriction" {
      for_each = var.webserver_allowed_ip_ranges
      content {
        name             = "allow-${ip_security_restriction.key}"
        action           = "Allow"
        ip_address_range = ip_security_restriction.value
      }
    }
  }

  template {
    min_replicas = 1
    max_replicas = var.webserver_max_replicas

    container {
      name   = "webserver"
      image  = var.image
      cpu    = 1.0
      memory = "2Gi"
      args = [
        "dagster-webserver", "-h", "0.0.0.0", "-p", tostring(local.webserver_port),
        "-w", local.workspace_file,
      ]

      dynamic "env" {
        for_each = local.instance_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = local.instance_secret_env
        content {
          name        = env.key
          secret_name = env.value
        }
      }
      dynamic "env" {
        for_each = local.workspace_env
        content {
          name  = env.key
          value = env.value
        }
      }

      startup_probe {
        transport               = "HTTP"
        port                    = local.webserver_port
        path                    = "/server_info"
        interval_seconds        = 10
        failure_count_threshold = 30
      }
      liveness_probe {
        transport        = "HTTP"
        port             = local.webserver_port
        path             = "/server_info"
        interval_seconds = 30
      }
      readiness_probe {
        transport        = "HTTP"
        port             = local.webserver_port
        path             = "/server_info"
        interval_seconds = 10
      }
    }
  }

  depends_on = [module.shared_data, azurerm_role_assignment.image_pull]
}
