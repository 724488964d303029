# Provider-free: reads function.yaml and normalizes it (defaults applied, triggers as lists,
# role grants grouped by kind). The root module builds every resource from these outputs, and
# `terraform test` checks the logic without any cloud access.

locals {
  document = yamldecode(file(var.manifest_path))

  builtin_defaults = {
    runtime               = "python311"
    memory                = "256Mi"
    timeout               = 60
    max_instances         = 10
    concurrency           = 1
    retry                 = true
    max_delivery_attempts = 10
  }
  defaults = merge(local.builtin_defaults, try(local.document.defaults, {}))

  # Deploy variables: given in var.vars, else the manifest default (which may use ${project}
  # and ${region}). Required ones (no default) that are not given are named by the
  # precondition on output.variables.
  declared  = try(local.document.variables, {})
  builtins  = { project = var.project, region = var.region }
  missing   = sort([for n, v in local.declared : n if try(v.default, null) == null && !contains(keys(var.vars), n)])
  unknown   = sort([for n in keys(var.vars) : n if !contains(keys(local.declared), n)])
  raw_value = { for n, v in local.declared : n => lookup(var.vars, n, try(v.default, null)) if lookup(var.vars, n, try(v.default, null)) != null }
  values = merge(
    { for n in local.missing : n => "" }, # only so the plan gets to the precondition naming them
    { for n in keys(local.raw_value) : n => templatestring(local.raw_value[n], local.builtins) },
    local.builtins,
  )

  functions = {
    for name, spec in local.document.functions : name => {
      name                  = name
      resource_name         = replace(name, "_", "-")
      source                = spec.source
      entry_point           = spec.entry_point
      extras                = try(spec.extras, [])
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

  # The dead-letter topic the handler republishes to: the first trigger's topic's.
  dead_letter_topic = {
    for name, f in local.functions : name => "${f.triggers[0].topic}-dead-letter"
    if length(f.triggers) > 0 && f.retry
  }
  dead_letter_topics = toset([
    for t in local.document.topics : "${t}-dead-letter"
    if anytrue([for f in values(local.functions) : f.retry && contains([for x in f.triggers : x.topic], t)])
  ])

  # The deployed environment: the manifest's (variables filled) plus the built-ins both
  # deploy paths set (see Function.environment_with in shared/cievents/deploy/manifest.py).
  environment = {
    for name, f in local.functions : name => merge(
      { for k in keys(f.environment) : k => templatestring(local.functions[name].environment[k], local.values) },
      { GOOGLE_CLOUD_PROJECT = lookup(f.environment, "GOOGLE_CLOUD_PROJECT", var.project) },
      { CIEVENTS_TRACING = lookup(f.environment, "CIEVENTS_TRACING", lookup(local.values, "tracing", "off")) },
      contains(f.extras, "firestore") ? { CIEVENTS_STORE = lookup(f.environment, "CIEVENTS_STORE", "firestore:cievents") } : {},
      contains(keys(local.dead_letter_topic), name) ? { CIEVENTS_DEAD_LETTER = "projects/${var.project}/topics/${local.dead_letter_topic[name]}" } : {},
    )
  }

  schedule_spec = try(local.document.schedules, {})
  schedules = {
    for name, s in local.schedule_spec : name => {
      resource_name = "cievents-${replace(name, "_", "-")}"
      schedule      = templatestring(local.schedule_spec[name].schedule, local.values)
      time_zone     = can(s.time_zone) ? templatestring(local.schedule_spec[name].time_zone, local.values) : "Etc/UTC"
      topic         = s.topic
      attributes    = s.attributes
      data          = try(s.data, "{}")
    }
  }

  # Every role of every function's service account (the same list as Manifest.grants()).
  grants = concat(
    flatten([
      for name, f in local.functions : [
        for secret in sort(distinct(values(f.secrets))) : {
          key  = "${name}/roles/secretmanager.secretAccessor/${secret}", function = name
          role = "roles/secretmanager.secretAccessor", kind = "secret", target = secret
        }
      ]
    ]),
    [
      for name, topic in local.dead_letter_topic : {
        key  = "${name}/roles/pubsub.publisher/${topic}", function = name
        role = "roles/pubsub.publisher", kind = "dead_letter_topic", target = topic
      }
    ],
    [
      for name, f in local.functions : {
        key  = "${name}/roles/run.invoker/${name}", function = name
        role = "roles/run.invoker", kind = "invoker", target = name
      } if length(f.triggers) > 0
    ],
    # Spans to Cloud Trace: write-only, so every function has it.
    [
      for name, f in local.functions : {
        key  = "${name}/roles/cloudtrace.agent/project", function = name
        role = "roles/cloudtrace.agent", kind = "project", target = ""
      }
    ],
    flatten([
      for name, f in local.functions : [
        for r in f.roles : {
          key      = "${name}/${r.role}/${try(r.topic, try(r.bucket, try(r.dataset, "project")))}"
          function = name
          role     = r.role
          kind     = can(r.topic) ? "topic" : can(r.bucket) ? "bucket" : can(r.dataset) ? "dataset" : "project"
          target   = try(r.topic, try(r.bucket, try(r.dataset, "")))
        }
      ]
    ]),
  )
}
