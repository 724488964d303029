"""The BigQuery sink: tables created from the schema files, rows streamed with insertIds.

``insert_rows_json`` returns a list of per-row errors instead of raising: a
non-empty list means those rows were rejected (bad type, unknown field), a
permanent outcome that is logged with BigQuery's reason, never dropped
silently. Request failures are classified: 5xx and rate limits are transient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cievents.errors import PermanentError, TransientError
from cievents.metrics import schema, views


class BigQueryStore:
    def __init__(
        self,
        project: str | None,
        dataset: str,
        client: Any = None,
        location: str | None = None,
        deadline_s: float = 30.0,
    ) -> None:
        import google.cloud.bigquery as bigquery

        self._bq = bigquery
        self.client = client or bigquery.Client(project=project)
        self.dataset = f"{self.client.project}.{dataset}"
        self.location = location
        self.deadline_s = deadline_s
        self._ready = False

    def ensure(self) -> None:
        """Dataset, partitioned and clustered tables, and views (idempotent)."""
        if self._ready:
            return
        from google.api_core import exceptions as gexc

        bq = self._bq
        try:  # Terraform normally created everything; then reading is all it takes.
            for table_name in schema.TABLES:
                self.client.get_table(f"{self.dataset}.{table_name}")
            self._ready = True
            return
        except gexc.NotFound:
            pass
        dataset = bq.Dataset(self.dataset)
        if self.location:
            dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)
        for table_name in schema.TABLES:
            fields = [
                bq.SchemaField(
                    f["name"],
                    f["type"],
                    mode=f.get("mode", "NULLABLE"),
                    description=f.get("description"),
                )
                for f in schema.load(table_name)
            ]
            table = bq.Table(f"{self.dataset}.{table_name}", schema=fields)
            table.time_partitioning = bq.TimePartitioning(
                type_=bq.TimePartitioningType.DAY, field=schema.PARTITIONING[table_name]
            )
            table.clustering_fields = list(schema.CLUSTERED_BY[table_name])
            self.client.create_table(table, exists_ok=True)
        self._ready = True

    def create_views(self) -> None:
        for name in views.VIEWS:
            view = self._bq.Table(f"{self.dataset}.{name}")
            view.view_query = views.for_bigquery(name, self.dataset)
            self.client.create_table(view, exists_ok=True)

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        from google.api_core import exceptions as gexc
        from google.api_core.retry import Retry

        self.ensure()
        try:
            errors = self.client.insert_rows_json(
                f"{self.dataset}.{table}",
                list(rows),
                row_ids=[r["insert_id"] for r in rows],
                retry=Retry(deadline=self.deadline_s),
                timeout=self.deadline_s,
            )
        except (
            gexc.TooManyRequests,
            gexc.ServerError,
            gexc.ServiceUnavailable,
            gexc.RetryError,
        ) as exc:
            raise TransientError(f"BigQuery insert into {table}: {type(exc).__name__}") from None
        except gexc.GoogleAPICallError as exc:
            raise PermanentError(
                f"BigQuery insert into {table}: {exc.message}", reason="rejected"
            ) from None
        if errors:
            reasons = "; ".join(
                f"row {e.get('index')}: "
                + ", ".join(str(x.get("message") or x.get("reason")) for x in e.get("errors", []))
                for e in errors
            )
            raise PermanentError(
                f"BigQuery rejected rows of {table}: {reasons}", reason="rejected_row"
            )
        return len(rows)
