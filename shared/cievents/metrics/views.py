"""The views, written once in BigQuery SQL, rendered for BigQuery or translated for DuckDB.

The SQL files in ``cievents/data/views`` refer to tables as
``{dataset}.table``. For BigQuery that becomes ``project.dataset.table``; for
DuckDB the prefix is dropped and sqlglot translates the dialect
(APPROX_QUANTILES → APPROX_QUANTILE, COUNTIF → COUNT_IF, SAFE_DIVIDE, …), so
the SQL that ships is the SQL that the tests run.
"""

from __future__ import annotations

from importlib import resources

# Created in this order: later views read earlier ones.
VIEWS = ("builds_latest", "build_health", "dora", "compliance_latest", "noncompliant_merges")


def source(name: str) -> str:
    return resources.files("cievents").joinpath(f"data/views/{name}.sql").read_text("utf-8")


def for_bigquery(name: str, dataset: str) -> str:
    return source(name).replace("{dataset}", dataset)


def for_duckdb(name: str) -> str:
    import sqlglot

    sql = source(name).replace("`{dataset}.", "`")
    return str(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0])
