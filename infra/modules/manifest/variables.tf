variable "manifest_path" {
  description = "Path to function.yaml."
  type        = string
}
