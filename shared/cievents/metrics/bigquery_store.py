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

    def upsert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by ``insert_id`` with one ``MERGE`` (tables in
        ``schema.UPSERTED``; streaming inserts cannot update). Returns the rows written."""
        from google.api_core import exceptions as gexc

        if table not in schema.UPSERTED:
            raise ValueError(f"table {table!r} is append-only; upsert is for {schema.UPSERTED}")
        if not rows:
            return 0
        self.ensure()
        bq = self._bq
        fields = schema.load(table)
        columns = [f["name"] for f in fields]
        kinds = {"INTEGER": "INT64", "BOOLEAN": "BOOL", "FLOAT": "FLOAT64"}
        source = " UNION ALL ".join(
            "SELECT "
            + ", ".join(
                f"CAST(@{c}_{i} AS {kinds.get(f['type'], f['type'])}) AS `{c}`"
                for c, f in zip(columns, fields, strict=True)
            )
            for i in range(len(rows))
        )
        sets = ", ".join(f"`{c}` = S.`{c}`" for c in columns if c != "insert_id")
        names = ", ".join(f"`{c}`" for c in columns)
        values = ", ".join(f"S.`{c}`" for c in columns)
        sql = (
            f"MERGE `{self.dataset}.{table}` T USING ({source}) S "  # noqa: S608 - schema names
            f"ON T.insert_id = S.insert_id WHEN MATCHED THEN UPDATE SET {sets} "
            f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
        )
        parameters = [
            bq.ScalarQueryParameter(f"{c}_{i}", kinds.get(f["type"], f["type"]), row.get(c))
            for i, row in enumerate(rows)
            for c, f in zip(columns, fields, strict=True)
        ]
        try:
            job = self.client.query(
                sql,
                job_config=bq.QueryJobConfig(query_parameters=parameters),
                location=self.location,
            )
            job.result(timeout=self.deadline_s)
        except (gexc.TooManyRequests, gexc.ServerError, gexc.ServiceUnavailable) as exc:
            raise TransientError(f"BigQuery MERGE into {table}: {type(exc).__name__}") from None
        except gexc.GoogleAPICallError as exc:
            raise PermanentError(
                f"BigQuery MERGE into {table}: {exc.message}", reason="rejected"
            ) from None
        return len(rows)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query; ``{dataset}`` in ``sql`` names this dataset, ``?`` are positional."""
        bq = self._bq
        self.ensure()
        config = bq.QueryJobConfig(
            query_parameters=[
                bq.ScalarQueryParameter(None, _kind(value), value) for value in parameters
            ]
        )
        job = self.client.query(
            sql.replace("{dataset}", self.dataset), job_config=config, location=self.location
        )
        return [dict(row.items()) for row in job.result(timeout=self.deadline_s)]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    return "STRING"
