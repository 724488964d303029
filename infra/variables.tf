variable "project" {
  description = "Google Cloud project ID."
  type        = string
}

variable "region" {
  description = "Region for the functions, the buckets and the dataset."
  type        = string
  default     = "europe-west1"
}

variable "manifest_path" {
  description = "Path to function.yaml, the single source of deploy truth."
  type        = string
  default     = "../function.yaml"
}

variable "dist_dir" {
  description = "Folder with the zips `make package` builds (one per function)."
  type        = string
  default     = "../dist"
}

variable "vars" {
  description = "Deploy variables, the `variables:` section of function.yaml (docs/deploy.md lists them): e.g. { jira_url = \"https://acme.atlassian.net\" }."
  type        = map(string)
  default     = {}
}

variable "alert_notification_channels" {
  description = "Monitoring notification channel IDs for the failure / dead-letter alert."
  type        = list(string)
  default     = []
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key for bucket and topic encryption (CMEK)."
  type        = string
  default     = null
}
