# Outcome metrics from the one structured line every function logs per message.
resource "google_logging_metric" "outcomes" {
  name   = "cievents/outcomes"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.outcome:*"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
    labels {
      key = "outcome"
    }
    labels {
      key = "provider"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
    outcome  = "EXTRACT(jsonPayload.outcome)"
    provider = "EXTRACT(jsonPayload.provider)"
  }
}

resource "google_logging_metric" "latency" {
  name            = "cievents/latency"
  filter          = "resource.type=\"cloud_run_revision\" AND jsonPayload.duration_ms:*"
  value_extractor = "EXTRACT(jsonPayload.duration_ms)"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 0.5
    }
  }
}

resource "google_monitoring_alert_policy" "failures" {
  display_name          = "ci-event-functions: failed or dead-lettered messages"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  conditions {
    display_name = "failed or dead_lettered outcomes"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.outcomes.name}\" AND (metric.label.outcome=\"failed\" OR metric.label.outcome=\"dead_lettered\")"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_SUM"
      }
    }
  }
  documentation {
    content   = "A message failed permanently. The function's ERROR log line says why; the message is on the dead-letter topic for replay."
    mime_type = "text/markdown"
  }
}

# --- the integration metrics, by the names an integrations operator expects ---------------------
locals {
  scm_providers  = "(\"github\" OR \"gitlab\" OR \"bitbucket\" OR \"azure-devops\" OR \"azure\")"
  scm_operations = "(\"status\" OR \"note\" OR \"check_run\" OR \"comment\" OR \"annotation\" OR \"evaluate\")"
  scm_filter     = "resource.type=\"cloud_run_revision\" AND jsonPayload.outcome:* AND jsonPayload.provider=${local.scm_providers} AND jsonPayload.operation=${local.scm_operations}"
}

# One per connection check health runs (every HEALTH_SCHEDULE): integration, target, status.
resource "google_logging_metric" "health_check" {
  name   = "integrations_health_check_total"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.function=\"health\" AND jsonPayload.operation=\"check\""
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "integration"
    }
    labels {
      key = "target"
    }
    labels {
      key = "status"
    }
  }
  label_extractors = {
    integration = "EXTRACT(jsonPayload.integration)"
    target      = "EXTRACT(jsonPayload.target)"
    status      = "EXTRACT(jsonPayload.status)"
  }
}

resource "google_logging_metric" "test_connection_duration" {
  name            = "integrations_test_connection_duration_seconds"
  filter          = "resource.type=\"cloud_run_revision\" AND jsonPayload.function=\"health\" AND jsonPayload.latency_s:*"
  value_extractor = "EXTRACT(jsonPayload.latency_s)"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
    labels {
      key = "integration"
    }
  }
  label_extractors = {
    integration = "EXTRACT(jsonPayload.integration)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 0.005
    }
  }
}

# Statuses, check runs and comments written back to an SCM (github_status; pr_compliance's
# evaluations, which post a status or comment). Health's checks are not annotations.
resource "google_logging_metric" "scm_annotation" {
  name   = "scm_annotation_total"
  filter = local.scm_filter
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "provider"
    }
    labels {
      key = "operation"
    }
    labels {
      key = "outcome"
    }
    labels {
      key = "function"
    }
  }
  label_extractors = {
    provider  = "EXTRACT(jsonPayload.provider)"
    operation = "EXTRACT(jsonPayload.operation)"
    outcome   = "EXTRACT(jsonPayload.outcome)"
    function  = "EXTRACT(jsonPayload.function)"
  }
}

resource "google_logging_metric" "scm_annotation_duration" {
  name            = "scm_annotation_duration_seconds"
  filter          = "${local.scm_filter} AND jsonPayload.duration_s:*"
  value_extractor = "EXTRACT(jsonPayload.duration_s)"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"
    labels {
      key = "provider"
    }
  }
  label_extractors = {
    provider = "EXTRACT(jsonPayload.provider)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 0.005
    }
  }
}

# Webhooks in, by source and answer (published, duplicate, refused, retry).
resource "google_logging_metric" "ingest_requests" {
  name   = "cievents_ingest_requests_total"
  filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.function=\"ingest\" AND jsonPayload.outcome:*"
  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "source"
    }
    labels {
      key = "outcome"
    }
  }
  label_extractors = {
    source  = "EXTRACT(jsonPayload.source)"
    outcome = "EXTRACT(jsonPayload.outcome)"
  }
}

# --- one dashboard: what came in, what each function did, how the integrations are --------------
locals {
  user_metric = "logging.googleapis.com/user"
  dashboard_tiles = [
    { title = "Webhooks in, by source and outcome", metric = google_logging_metric.ingest_requests.name, group = ["metric.label.source", "metric.label.outcome"], reducer = "REDUCE_SUM", aligner = "ALIGN_RATE" },
    { title = "Outcomes by function", metric = google_logging_metric.outcomes.name, group = ["metric.label.function", "metric.label.outcome"], reducer = "REDUCE_SUM", aligner = "ALIGN_RATE" },
    { title = "Latency by function (p95, ms)", metric = google_logging_metric.latency.name, group = ["metric.label.function"], reducer = "REDUCE_PERCENTILE_95", aligner = "ALIGN_DELTA" },
    { title = "Health checks by integration and status", metric = google_logging_metric.health_check.name, group = ["metric.label.integration", "metric.label.status"], reducer = "REDUCE_SUM", aligner = "ALIGN_SUM" },
    { title = "Connection test duration (p95, s)", metric = google_logging_metric.test_connection_duration.name, group = ["metric.label.integration"], reducer = "REDUCE_PERCENTILE_95", aligner = "ALIGN_DELTA" },
    { title = "SCM annotations by provider and outcome", metric = google_logging_metric.scm_annotation.name, group = ["metric.label.provider", "metric.label.outcome"], reducer = "REDUCE_SUM", aligner = "ALIGN_RATE" },
    { title = "SCM annotation duration (p95, s)", metric = google_logging_metric.scm_annotation_duration.name, group = ["metric.label.provider"], reducer = "REDUCE_PERCENTILE_95", aligner = "ALIGN_DELTA" },
  ]
}

resource "google_monitoring_dashboard" "bundle" {
  dashboard_json = jsonencode({
    displayName = "ci-event-functions"
    mosaicLayout = {
      columns = 12
      tiles = [
        for index, tile in local.dashboard_tiles : {
          xPos   = (index % 2) * 6
          yPos   = floor(index / 2) * 4
          width  = 6
          height = 4
          widget = {
            title = tile.title
            xyChart = {
              dataSets = [{
                plotType = "LINE"
                timeSeriesQuery = {
                  timeSeriesFilter = {
                    filter = "metric.type=\"${local.user_metric}/${tile.metric}\" AND resource.type=\"cloud_run_revision\""
                    aggregation = {
                      alignmentPeriod    = "300s"
                      perSeriesAligner   = tile.aligner
                      crossSeriesReducer = tile.reducer
                      groupByFields      = tile.group
                    }
                  }
                }
              }]
            }
          }
        }
      ]
    }
  })
}
