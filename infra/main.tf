# Everything is derived from function.yaml through the provider-free manifest module.
module "manifest" {
  source        = "./modules/manifest"
  manifest_path = var.manifest_path
  project       = var.project
  region        = var.region
  vars          = var.vars
}

locals {
  functions     = module.manifest.functions
  subscriptions = module.manifest.subscriptions
  grants        = module.manifest.grants
  variables     = module.manifest.variables
  environment   = module.manifest.environment
}

data "google_project" "this" {}

# --- Pub/Sub --------------------------------------------------------------------------------
resource "google_pubsub_topic" "topic" {
  for_each     = module.manifest.topics
  name         = each.value
  kms_key_name = var.kms_key_name
}

resource "google_pubsub_topic" "dead_letter" {
  for_each                   = module.manifest.dead_letter_topics
  name                       = each.value
  kms_key_name               = var.kms_key_name
  message_retention_duration = "604800s"
  depends_on                 = [google_project_service.api]
}

# A dead letter published to a topic without a subscription would be lost: each dead-letter
# topic has a pull subscription of the same name that keeps them 7 days for
# `cievents dead-letters list|replay`.
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = google_pubsub_topic.dead_letter
  name                       = each.value.name
  topic                      = each.value.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  expiration_policy {
    ttl = ""
  }
}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# The Pub/Sub service agent forwards dead letters: it publishes to the dead-letter topics and
# acknowledges on the source subscriptions (below, with them).
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = google_pubsub_topic.dead_letter
  topic    = each.value.name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

# The handler republishes a permanent failure itself (CIEVENTS_DEAD_LETTER), so the message
# costs one delivery, not max_delivery_attempts.
resource "google_pubsub_topic_iam_member" "dead_letter_grant" {
  for_each = { for k, g in local.grants : k => g if g.kind == "dead_letter_topic" }
  topic    = google_pubsub_topic.dead_letter[each.value.target].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# --- one service account per function, with only its roles ------------------------------------
resource "google_service_account" "function" {
  for_each     = local.functions
  account_id   = "cief-${each.value.resource_name}"
  display_name = "ci-event-functions ${each.key}"
}

resource "google_secret_manager_secret" "secret" {
  for_each  = module.manifest.secrets
  secret_id = each.value
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = { for k, g in local.grants : k => g if g.kind == "secret" }
  secret_id = google_secret_manager_secret.secret[each.value.target].id
  role      = each.value.role
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_pubsub_topic_iam_member" "grant" {
  for_each = { for k, g in local.grants : k => g if g.kind == "topic" }
  topic    = google_pubsub_topic.topic[each.value.target].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_storage_bucket_iam_member" "grant" {
  for_each = { for k, g in local.grants : k => g if g.kind == "bucket" }
  bucket   = google_storage_bucket.archive.name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_bigquery_dataset_iam_member" "grant" {
  for_each   = { for k, g in local.grants : k => g if g.kind == "dataset" }
  dataset_id = google_bigquery_dataset.metrics.dataset_id
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_project_iam_member" "grant" {
  for_each = { for k, g in local.grants : k => g if g.kind == "project" }
  project  = var.project
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# --- source code: zips named by their hash, so a code change redeploys ----------------------------
resource "google_storage_bucket" "source" {
  name                        = "${var.project}-ci-event-functions-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      num_newer_versions = 5
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions
  name     = "${each.key}-${filesha256("${var.dist_dir}/${each.key}.zip")}.zip"
  bucket   = google_storage_bucket.source.name
  source   = "${var.dist_dir}/${each.key}.zip"
}

# --- the functions: HTTP-triggered; Pub/Sub reaches them through direct push subscriptions --------
resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions
  name     = each.value.resource_name
  location = var.region

  build_config {
    runtime     = each.value.runtime
    entry_point = each.value.entry_point
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    timeout_seconds                  = each.value.timeout
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    available_cpu                    = each.value.concurrency > 1 ? "1" : null
    service_account_email            = google_service_account.function[each.key].email
    ingress_settings                 = each.value.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_AND_GCLB"
    all_traffic_on_latest_revision   = true
    environment_variables            = local.environment[each.key]

    dynamic "secret_environment_variables" {
      for_each = each.value.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = "latest"
      }
    }
  }

  depends_on = [google_secret_manager_secret_iam_member.accessor]
}

resource "google_cloud_run_service_iam_member" "public" {
  for_each = { for k, f in local.functions : k => f if f.public }
  location = var.region
  service  = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# Each push subscription authenticates as the function's own service account.
resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = { for k, g in local.grants : k => g if g.kind == "invoker" }
  location = var.region
  service  = google_cloudfunctions2_function.function[each.value.target].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_pubsub_subscription" "push" {
  for_each                   = local.subscriptions
  name                       = each.key
  topic                      = google_pubsub_topic.topic[each.value.topic].id
  filter                     = each.value.filter
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.function[each.value.function].email
    }
  }

  dynamic "retry_policy" {
    for_each = each.value.retry ? [1] : []
    content {
      minimum_backoff = "10s"
      maximum_backoff = "600s"
    }
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.retry ? [1] : []
    content {
      dead_letter_topic     = google_pubsub_topic.dead_letter["${each.value.topic}-dead-letter"].id
      max_delivery_attempts = each.value.attempts
    }
  }
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = { for k, s in local.subscriptions : k => s if s.retry }
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# --- schedules: Cloud Scheduler jobs publishing to a topic (function.yaml `schedules:`) ----------
resource "google_cloud_scheduler_job" "schedule" {
  for_each  = module.manifest.schedules
  name      = each.value.resource_name
  region    = var.region
  schedule  = each.value.schedule
  time_zone = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = base64encode(each.value.data)
    attributes = each.value.attributes
  }

  depends_on = [google_project_service.api]
}
