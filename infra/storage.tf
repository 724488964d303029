# The raw-payload archive: hive-partitioned NDJSON (source=/event=/dt=), moved to colder
# storage with age, readable by the external table below.
resource "google_storage_bucket" "archive" {
  name                        = local.variables.archive_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = tonumber(local.variables.archive_coldline_after_days)
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = tonumber(local.variables.archive_delete_after_days) > 0 ? [1] : []
    content {
      condition {
        age = tonumber(local.variables.archive_delete_after_days)
      }
      action {
        type = "Delete"
      }
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

resource "google_bigquery_dataset" "metrics" {
  dataset_id = local.variables.metrics_dataset
  location   = var.region
}

# Sample external table over the archive: every event, queryable without loading it.
resource "google_bigquery_table" "archive" {
  dataset_id          = google_bigquery_dataset.metrics.dataset_id
  table_id            = "raw_events"
  deletion_protection = true

  external_data_configuration {
    source_format = "NEWLINE_DELIMITED_JSON"
    autodetect    = false
    source_uris   = ["gs://${google_storage_bucket.archive.name}/*"]
    schema = jsonencode([
      { name = "message_id", type = "STRING" },
      { name = "publish_time", type = "TIMESTAMP" },
      { name = "attributes", type = "JSON" },
      { name = "body", type = "STRING" },
      { name = "body_base64", type = "BOOLEAN" },
    ])
    hive_partitioning_options {
      mode                     = "CUSTOM"
      source_uri_prefix        = "gs://${google_storage_bucket.archive.name}/{source:STRING}/{event:STRING}/{dt:DATE}"
      require_partition_filter = true
    }
  }
}

# The metrics tables, from the same schema files the function and the local store use
# (partitioning and clustering as cievents.metrics.schema.PARTITIONING / CLUSTERED_BY).
locals {
  metrics_tables = {
    builds     = { partition = "finished_at", clustering = ["pipeline", "branch"] }
    jobs       = { partition = "finished_at", clustering = ["pipeline", "branch"] }
    compliance = { partition = "evaluated_at", clustering = ["repository", "target_branch"] }
    assets     = { partition = "first_seen_at", clustering = ["scm", "owner"] }
  }
}

resource "google_bigquery_table" "metrics" {
  for_each            = local.metrics_tables
  dataset_id          = google_bigquery_dataset.metrics.dataset_id
  table_id            = each.key
  deletion_protection = true
  schema              = file("${path.module}/../shared/cievents/data/bigquery/${each.key}.json")
  clustering          = each.value.clustering
  time_partitioning {
    type  = "DAY"
    field = each.value.partition
  }
}

# The views, from the same SQL files the tests run (translated) on DuckDB. builds_latest first:
# the others read it.
locals {
  view_dataset = "${var.project}.${google_bigquery_dataset.metrics.dataset_id}"
}

# Views that read only tables, then the views that read those. Two for_each resources, as
# BigQuery refuses a view whose source does not exist yet.
locals {
  base_views    = toset(["builds_latest", "compliance_latest"])
  derived_views = toset(["build_health", "dora", "noncompliant_merges"])
}

resource "google_bigquery_table" "base_view" {
  for_each            = local.base_views
  dataset_id          = google_bigquery_dataset.metrics.dataset_id
  table_id            = each.value
  deletion_protection = true
  view {
    use_legacy_sql = false
    query          = replace(file("${path.module}/../shared/cievents/data/views/${each.value}.sql"), "{dataset}", local.view_dataset)
  }
  depends_on = [google_bigquery_table.metrics]
}

resource "google_bigquery_table" "view" {
  for_each            = local.derived_views
  dataset_id          = google_bigquery_dataset.metrics.dataset_id
  table_id            = each.value
  deletion_protection = true
  view {
    use_legacy_sql = false
    query          = replace(file("${path.module}/../shared/cievents/data/views/${each.value}.sql"), "{dataset}", local.view_dataset)
  }
  depends_on = [google_bigquery_table.base_view]
}

moved {
  from = google_bigquery_table.builds_latest
  to   = google_bigquery_table.base_view["builds_latest"]
}

moved {
  from = google_bigquery_table.compliance_latest
  to   = google_bigquery_table.base_view["compliance_latest"]
}

moved {
  from = google_bigquery_table.noncompliant_merges
  to   = google_bigquery_table.view["noncompliant_merges"]
}
