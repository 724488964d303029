"""Deploying the bundle: the manifest (function.yaml), packaging, and the gcloud path."""
