output "webserver_url" {
  value = module.dagster_app.webserver_url
}

output "container_apps" {
  value = module.dagster_app.container_apps
}

output "flexlink_variables" {
  value = module.dagster_app.flexlink_variables
}

output "postgres_fqdn" {
  value = module.dagster_app.postgres_fqdn
}
