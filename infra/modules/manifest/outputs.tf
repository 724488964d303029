output "topics" {
  description = "Topics to create; each also gets a '<topic>-dead-letter' topic."
  value       = toset(local.document.topics)
}

output "functions" {
  description = "Every function with the manifest defaults applied."
  value       = local.functions
}

output "subscriptions" {
  description = "One direct push subscription per (function, trigger)."
  value       = local.subscriptions
}

output "secrets" {
  description = "Secret Manager secret names referenced by any function."
  value       = local.secrets
}

output "grants" {
  description = "Role grants by function, kind (topic, bucket, dataset, project) and target."
  value       = { for g in local.grants : g.key => g }
}
