# terraform test: the manifest logic, against the repository's own function.yaml.
variables {
  manifest_path = "../../../function.yaml"
}

run "defaults_are_applied" {
  command = plan

  assert {
    condition     = output.functions["slack_notify"].runtime == "python312"
    error_message = "functions without a runtime get the manifest default"
  }
  assert {
    condition     = output.functions["ingest"].concurrency == 20 && output.functions["ingest"].public
    error_message = "per-function keys override the defaults"
  }
}

run "every_pubsub_function_has_a_subscription" {
  command = plan

  assert {
    condition = alltrue([
      for name, f in output.functions :
      length(f.triggers) == 0 || contains([for s in values(output.subscriptions) : s.function], name)
    ])
    error_message = "each topic-triggered function needs a push subscription"
  }
  assert {
    condition     = output.subscriptions["slack-notify-0"].filter == "attributes.source = \"buildkite\""
    error_message = "subscription filters come from the manifest"
  }
  assert {
    condition     = length([for f in values(output.functions) : f if length(f.triggers) == 0]) >= 2
    error_message = "ingest and health are HTTP functions"
  }
}

run "secrets_and_grants" {
  command = plan

  assert {
    condition     = contains(output.secrets, "slack-bot-token") && contains(output.secrets, "webhook-secret-github")
    error_message = "every referenced secret is collected"
  }
  assert {
    condition     = output.grants["ingest/roles/pubsub.publisher/ci-events"].kind == "topic"
    error_message = "topic grants are recognised"
  }
  assert {
    condition     = output.grants["gcs_archive/roles/storage.objectCreator/archive"].kind == "bucket"
    error_message = "bucket grants are recognised"
  }
}
