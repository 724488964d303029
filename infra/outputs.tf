output "ingest_url" {
  description = "Point each vendor's webhook at <ingest_url>/<source>."
  value       = google_cloudfunctions2_function.function["ingest"].service_config[0].uri
}

output "function_urls" {
  description = "Every function's URL."
  value       = { for k, f in google_cloudfunctions2_function.function : k => f.service_config[0].uri }
}

output "service_accounts" {
  description = "The service account each function runs as."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}

output "secrets_to_fill" {
  description = "Secret Manager secrets created without a value: add a version to each."
  value       = sort(tolist(module.manifest.secrets))
}
