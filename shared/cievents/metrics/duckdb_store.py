"""The local metrics store: DuckDB on disk, with the same tables and the translated views.

Rows are inserted with their ``insert_id`` as primary key and ``ON CONFLICT DO
NOTHING``, so a redelivered event never counts twice. DuckDB allows one
writer process per file, so each write opens, writes and closes; concurrent
local functions retry briefly on the file lock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cievents.errors import TransientError
from cievents.metrics import schema, views


class DuckDBStore:
    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        """``read_only``: open an existing database without writing to it (its tables and
        views as they are), so a reader never changes the file it watches."""
        self.path = str(path)
        self.read_only = read_only and self.path != ":memory:"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._memory: Any = None
        if self.read_only:
            return
        statements = [schema.duckdb_ddl(table) for table in schema.TABLES] + [
            f'CREATE OR REPLACE VIEW "{name}" AS {views.for_duckdb(name)}' for name in views.VIEWS
        ]
        digest = hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()
        with self.connect() as db:
            # A file already made by these same statements is left as it is: re-creating five
            # views rewrote the catalog, and closing checkpointed it, on every cold start.
            # (_cievents_schema holds the digest of the statements that made the file.)
            db.execute("CREATE TABLE IF NOT EXISTS _cievents_schema (digest VARCHAR)")
            made = {row[0] for row in db.execute("SELECT digest FROM _cievents_schema").fetchall()}
            if digest in made:
                return
            for statement in statements:
                db.execute(statement)
            db.execute("DELETE FROM _cievents_schema")
            db.execute("INSERT INTO _cievents_schema VALUES (?)", [digest])

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import duckdb

        if self.path == ":memory:":
            if self._memory is None:
                self._memory = duckdb.connect(":memory:")
            yield self._memory
            return
        for attempt in range(50):
            try:
                db = duckdb.connect(self.path, read_only=self.read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == 49:
                    raise TransientError(f"metrics database busy: {exc}") from None
                time.sleep(0.1)
        try:
            yield db
        finally:
            db.close()

    def insert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows; returns how many were new (duplicates by insert_id are ignored)."""
        if not rows:
            return 0
        columns = [f["name"] for f in schema.load(table)]
        placeholders = ", ".join("?" for _ in columns)
        quoted = ", ".join(f'"{c}"' for c in columns)
        if table not in schema.TABLES:
            raise ValueError(f"unknown table {table!r}")
        # Table and column names come from the schema files, never from input.
        exists = f'SELECT COUNT(*) FROM "{table}" WHERE insert_id = ?'  # noqa: S608
        insert = f'INSERT INTO "{table}" ({quoted}) VALUES ({placeholders}) ON CONFLICT DO NOTHING'  # noqa: S608
        inserted = 0
        with self.connect() as db:
            for row in rows:
                before = db.execute(exists, [row["insert_id"]]).fetchone()[0]
                db.execute(insert, [row.get(c) for c in columns])
                inserted += 0 if before else 1
        return inserted

    def bulk_insert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Insert many rows at once; returns how many were new. For loads of thousands of rows
        (the demo's history), where ``insert`` row by row is slow: the rows go through a
        newline-delimited JSON file that DuckDB reads with the schema's column types."""
        import json
        import tempfile

        if table not in schema.TABLES:
            raise ValueError(f"unknown table {table!r}")
        if not rows:
            return 0
        columns = {f["name"]: schema.duckdb_type(f["type"]) for f in schema.load(table)}
        spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
        count = f'SELECT COUNT(*) FROM "{table}"'  # noqa: S608 - names from the schema files
        with tempfile.TemporaryDirectory(prefix="cievents-load-") as folder:
            path = Path(folder) / f"{table}.jsonl"
            with path.open("w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps({c: row.get(c) for c in columns}) + "\n")
            with self.connect() as db:
                before = int(db.execute(count).fetchone()[0])
                db.execute(
                    f'INSERT INTO "{table}" BY NAME SELECT * FROM read_json(?, '  # noqa: S608
                    f"format = 'newline_delimited', columns = {spec}) ON CONFLICT DO NOTHING",
                    [str(path)],
                )
                after = int(db.execute(count).fetchone()[0])
        return after - before

    def upsert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Insert or replace rows by ``insert_id`` (tables in ``schema.UPSERTED``); returns
        how many rows were written."""
        if table not in schema.UPSERTED:
            raise ValueError(f"table {table!r} is append-only; upsert is for {schema.UPSERTED}")
        if not rows:
            return 0
        columns = [f["name"] for f in schema.load(table)]
        quoted = ", ".join(f'"{c}"' for c in columns)
        placeholders = ", ".join("?" for _ in columns)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "insert_id")
        # Table and column names come from the schema files, never from input.
        sql = (
            f'INSERT INTO "{table}" ({quoted}) VALUES ({placeholders}) '  # noqa: S608
            f"ON CONFLICT (insert_id) DO UPDATE SET {updates}"
        )
        with self.connect() as db:
            db.executemany(sql, [[row.get(c) for c in columns] for row in rows])
        return len(rows)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.connect() as db:
            cursor = db.execute(sql, list(parameters))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
