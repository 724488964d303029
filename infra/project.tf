# --- what an empty project needs first: the APIs and the Firestore database -----------------------
resource "google_project_service" "api" {
  for_each                   = module.manifest.apis
  service                    = each.value
  disable_on_destroy         = false # other workloads in the project may use them
  disable_dependent_services = false
}

# The idempotency store (CIEVENTS_STORE=firestore:cievents) lives in the default database.
resource "google_firestore_database" "default" {
  name                    = "(default)"
  location_id             = local.variables.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"
  depends_on              = [google_project_service.api]
}
