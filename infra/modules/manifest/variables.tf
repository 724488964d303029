variable "manifest_path" {
  description = "Path to function.yaml."
  type        = string
}

variable "project" {
  description = "Google Cloud project ID: $${project} in function.yaml."
  type        = string
}

variable "region" {
  description = "Region: $${region} in function.yaml."
  type        = string
}

variable "vars" {
  description = "Deploy variables (the `variables:` section of function.yaml), by name."
  type        = map(string)
  default     = {}
}
