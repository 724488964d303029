# Provider-free: reads function.yaml and normalizes it (defaults applied, triggers as lists,
# role grants grouped by kind). The root module builds every resource from these outputs, and
# `terraform test` checks the logic without any cloud access.

locals {
  document = yamldecode(file(var.manifest_path))

  builtin_defaults = {
    runtime               = "python312"
    memory                = "256Mi"
    timeout               = 60
    max_instances         = 10
    concurrency           = 1
    retry                 = true
    max_delivery_attempts = 10
  }
  defaults = merge(local.builtin_defaults, try(local.document.defaults, {}))

  functions = {
    for name, spec in local.document.functions : name => {
      name                  = name
      resource_name         = replace(name, "_", "-")
      source                = spec.source
      entry_point           = spec.entry_point
      public                = try(spec.public, false)
      runtime               = try(spec.runtime, local.defaults.runtime)
      memory                = try(spec.memory, local.defaults.memory)
      timeout               = try(spec.timeout, local.defaults.timeout)
      max_instances         = try(spec.max_instances, local.defaults.max_instances)
      concurrency           = try(spec.concurrency, local.defaults.concurrency)
      retry                 = try(spec.retry, local.defaults.retry)
      max_delivery_attempts = try(spec.max_delivery_attempts, local.defaults.max_delivery_attempts)
      environment           = try(spec.environment, {})
      secrets               = try(spec.secrets, {})
      roles                 = try(spec.roles, [])
      triggers = [
        for t in flatten([spec.trigger]) : { topic = t.topic, filter = try(t.filter, "") }
        if t != "http"
      ]
    }
  }

  subscriptions = merge([
    for name, f in local.functions : {
      for index, t in f.triggers : "${f.resource_name}-${index}" => {
        function = name
        topic    = t.topic
        filter   = try(t.filter, "")
        retry    = f.retry
        attempts = f.max_delivery_attempts
      }
    }
  ]...)

  secrets = toset(flatten([for f in local.functions : values(f.secrets)]))

  grants = flatten([
    for name, f in local.functions : [
      for r in f.roles : {
        key      = "${name}/${r.role}/${try(r.topic, try(r.bucket, try(r.dataset, "project")))}"
        function = name
        role     = r.role
        kind     = can(r.topic) ? "topic" : can(r.bucket) ? "bucket" : can(r.dataset) ? "dataset" : "project"
        target   = try(r.topic, try(r.bucket, try(r.dataset, "")))
      }
    ]
  ])
}
