"""The ``builds``, ``jobs``, ``compliance`` and ``assets`` schemas (BigQuery JSON schema files).

The same files create the BigQuery tables (the function and Terraform) and the
local DuckDB tables, so the three can never disagree.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

TABLES = ("builds", "jobs", "compliance", "assets")
PARTITION_FIELD = "finished_at"
CLUSTERING = ("pipeline", "branch")
# Per table: the day-partitioning column and the clustering columns (Terraform says the same).
PARTITIONING = {
    "builds": "finished_at",
    "jobs": "finished_at",
    "compliance": "evaluated_at",
    "assets": "first_seen_at",
}
CLUSTERED_BY = {
    "builds": CLUSTERING,
    "jobs": CLUSTERING,
    "compliance": ("repository", "target_branch"),
    "assets": ("scm", "owner"),
}
# Tables whose rows are upserted by ``insert_id`` (the others are append-only).
UPSERTED = ("assets",)
_DUCKDB_TYPES = {
    "STRING": "VARCHAR",
    "INTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
    "DATE": "DATE",
}


def load(table: str) -> list[dict[str, Any]]:
    text = resources.files("cievents").joinpath(f"data/bigquery/{table}.json").read_text("utf-8")
    fields: list[dict[str, Any]] = json.loads(text)
    return fields


def duckdb_type(bigquery_type: str) -> str:
    """The DuckDB column type for a BigQuery schema type (STRING → VARCHAR, …)."""
    return _DUCKDB_TYPES[bigquery_type]


def duckdb_ddl(table: str) -> str:
    columns = []
    for field in load(table):
        column = f'"{field["name"]}" {duckdb_type(field["type"])}'
        if field.get("mode") == "REQUIRED":
            column += " NOT NULL"
        if field["name"] == "insert_id":
            column += " PRIMARY KEY"
        columns.append(column)
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({", ".join(columns)})'
