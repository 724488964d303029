# terraform test: the manifest logic, against the repository's own function.yaml.
variables {
  manifest_path = "../../../function.yaml"
  project       = "p"
  region        = "europe-west1"
  vars          = { jira_url = "https://acme.atlassian.net", jira_email = "ci@acme.com" }
}

run "defaults_are_applied" {
  command = plan

  assert {
    condition     = output.functions["slack_notify"].runtime == "python311"
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
    condition     = length(output.functions["ingest"].triggers) == 0 && output.subscriptions["health-0"].topic == "ci-schedules"
    error_message = "ingest is HTTP only; health is pushed from the schedule topic"
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

run "variables_environment_and_dead_letters" {
  command = plan

  assert {
    condition     = output.variables.archive_bucket == "p-ci-events-archive" && output.variables.jira_url == "https://acme.atlassian.net"
    error_message = "defaults are filled with $${project}; given values win"
  }
  assert {
    condition     = output.environment["jira_update"].JIRA_URL == "https://acme.atlassian.net" && output.environment["gcs_archive"].ARCHIVE_BUCKET == "p-ci-events-archive"
    error_message = "environment values take the deploy variables"
  }
  assert {
    condition     = output.environment["slack_notify"].CIEVENTS_DEAD_LETTER == "projects/p/topics/ci-events-dead-letter" && output.environment["slack_notify"].GOOGLE_CLOUD_PROJECT == "p"
    error_message = "retrying functions get the fully-qualified dead-letter topic and the project"
  }
  assert {
    condition     = output.grants["slack_notify/roles/pubsub.publisher/ci-events-dead-letter"].kind == "dead_letter_topic"
    error_message = "retrying functions may publish to their dead-letter topic"
  }
  assert {
    condition     = output.schedules["health"].schedule == "*/15 * * * *" && output.schedules["health"].topic == "ci-schedules"
    error_message = "schedules come from the manifest, variables filled"
  }
}

run "a_required_variable_missing_is_named" {
  command = plan
  variables {
    vars = { jira_email = "ci@acme.com" }
  }
  expect_failures = [output.variables]
}
