"""``make demo``: every function running locally, fed the bundled example events."""
