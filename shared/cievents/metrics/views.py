"""The views, written once in BigQuery SQL, rendered for BigQuery or translated for DuckDB.

The SQL files in ``cievents/data/views`` refer to tables as
``{dataset}.table``. For BigQuery that becomes ``project.dataset.table``; for
DuckDB the prefix is dropped and sqlglot translates the dialect
(APPROX_QUANTILES → APPROX_QUANTILE, COUNTIF → COUNT_IF, SAFE_DIVIDE, …).

The translation is made once, ahead of time, and ships beside its source as
``cievents/data/views/duckdb/<name>.sql``: importing sqlglot and translating
five views cost a local bigquery_metrics about a quarter of a second of its
first request. ``tests/data/test_metrics.py`` checks that each shipped file is
what sqlglot makes of its source today, so the SQL that ships is the SQL that
the tests run; ``python -m cievents.metrics.views`` writes them again after a
view or sqlglot changes.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

__all__ = ["VIEWS", "for_bigquery", "for_duckdb", "source", "translate_for_duckdb"]

# Created in this order: later views read earlier ones.
VIEWS = ("builds_latest", "build_health", "dora", "compliance_latest", "noncompliant_merges")


def source(name: str) -> str:
    return resources.files("cievents").joinpath(f"data/views/{name}.sql").read_text("utf-8")


def for_bigquery(name: str, dataset: str) -> str:
    return source(name).replace("{dataset}", dataset)


def translate_for_duckdb(name: str) -> str:
    """The view's BigQuery SQL translated by sqlglot now (what the shipped file must hold)."""
    import sqlglot

    sql = source(name).replace("`{dataset}.", "`")
    return str(sqlglot.transpile(sql, read="bigquery", write="duckdb")[0]) + "\n"


def for_duckdb(name: str) -> str:
    """The view's DuckDB SQL, as translated ahead of time (no sqlglot at run time)."""
    return resources.files("cievents").joinpath(f"data/views/duckdb/{name}.sql").read_text("utf-8")


def main(argv: list[str]) -> int:
    """Write every view's DuckDB translation beside its source (``--check``: only compare)."""
    folder = Path(str(resources.files("cievents").joinpath("data/views/duckdb")))
    check = "--check" in argv
    stale = []
    for name in VIEWS:
        path = folder / f"{name}.sql"
        wanted = translate_for_duckdb(name)
        if path.exists() and path.read_text("utf-8") == wanted:
            continue
        stale.append(name)
        if not check:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, "utf-8")
    verb = "stale" if check else "written"
    print(
        f"{len(stale)} of {len(VIEWS)} DuckDB views {verb}"
        + (f": {', '.join(stale)}" if stale else "")
    )
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
