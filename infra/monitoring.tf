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
