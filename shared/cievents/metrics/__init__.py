"""Build, job and compliance metrics: rows, schemas, views, and the stores that hold them.

``MetricsSettings.from_env()`` (at cold start) reads ``METRICS_BACKEND`` (``bigquery`` or
``duckdb``; default duckdb when no ``BIGQUERY_DATASET`` is set), ``BIGQUERY_PROJECT``,
``BIGQUERY_DATASET``, ``BIGQUERY_LOCATION`` and ``METRICS_DUCKDB_PATH`` (default
``.cievents/metrics.duckdb``); ``open_store`` opens the store they name, importing only
that backend's client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cievents.config import Env, env_opt, env_str
from cievents.errors import ConfigError

__all__ = ["MetricsSettings", "open_store"]


@dataclass(frozen=True)
class MetricsSettings:
    backend: str
    dataset: str | None
    project: str | None
    location: str | None
    duckdb_path: str

    @classmethod
    def from_env(cls, environ: Env | None = None) -> MetricsSettings:
        dataset = env_opt("BIGQUERY_DATASET", environ=environ)
        backend = env_str("METRICS_BACKEND", "bigquery" if dataset else "duckdb", environ=environ)
        if backend not in ("bigquery", "duckdb"):
            raise ConfigError("METRICS_BACKEND", f"expected bigquery or duckdb, got {backend!r}")
        if backend == "bigquery" and not dataset:
            raise ConfigError("BIGQUERY_DATASET", "is required with METRICS_BACKEND=bigquery")
        return cls(
            backend=backend,
            dataset=dataset,
            project=env_opt("BIGQUERY_PROJECT", environ=environ),
            location=env_opt("BIGQUERY_LOCATION", environ=environ),
            duckdb_path=env_str("METRICS_DUCKDB_PATH", ".cievents/metrics.duckdb", environ=environ),
        )


def open_store(settings: MetricsSettings) -> Any:
    """A ``BigQueryStore`` or ``DuckDBStore`` (both: ``insert(table, rows)`` → rows written)."""
    if settings.backend == "bigquery":
        from cievents.metrics.bigquery_store import BigQueryStore

        return BigQueryStore(settings.project, str(settings.dataset), location=settings.location)
    from cievents.metrics.duckdb_store import DuckDBStore

    return DuckDBStore(settings.duckdb_path)
