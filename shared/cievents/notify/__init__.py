"""Rendering and delivery for the notification functions (Slack, Teams)."""
