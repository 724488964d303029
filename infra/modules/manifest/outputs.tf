output "topics" {
  description = "Topics to create."
  value       = toset(local.document.topics)
}

output "dead_letter_topics" {
  description = "'<topic>-dead-letter' for every topic a retrying function subscribes to."
  value       = local.dead_letter_topics
}

output "variables" {
  description = "Every deploy variable's value (given in vars, else the manifest default)."
  value       = local.values
  precondition {
    condition     = length(local.missing) == 0
    error_message = "Deploy variables not set (add them to vars in terraform.tfvars): ${join(", ", local.missing)}."
  }
  precondition {
    condition     = length(local.unknown) == 0
    error_message = "Unknown deploy variables in vars: ${join(", ", local.unknown)}; function.yaml declares ${join(", ", sort(keys(local.declared)))}."
  }
}

output "environment" {
  description = "Each function's deployed environment (variables filled, built-ins added)."
  value       = local.environment
}

output "schedules" {
  description = "Cloud Scheduler jobs, variables filled."
  value       = local.schedules
}

output "functions" {
  description = "Every function with the manifest defaults applied."
  value       = local.functions
}

output "subscriptions" {
  description = "One direct push subscription per (function, trigger)."
  value       = local.subscriptions
}

output "dead_letter_topic" {
  description = "Function -> the dead-letter topic its handler republishes to."
  value       = local.dead_letter_topic
}

output "secrets" {
  description = "Secret Manager secret names referenced by any function."
  value       = local.secrets
}

output "grants" {
  description = "Role grants by function, kind (topic, bucket, dataset, project) and target."
  value       = { for g in local.grants : g.key => g }
}

output "apis" {
  description = "Google APIs to enable before anything else."
  value       = toset(try(local.document.apis, []))
}
