"""Build and job metrics: rows, schemas, views, and the stores that hold them."""
