"""SQLite store: the local default (``make demo``, a developer's laptop).

Uses ``BEGIN IMMEDIATE`` so claims from several local function processes
sharing one file are serialized by SQLite's own lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cievents.idempotency.base import (
    DEFAULT_DONE_TTL_S,
    DEFAULT_LEASE_S,
    Claim,
    Clock,
    Record,
    State,
    decide,
    new_token,
    wall_clock,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
  key TEXT PRIMARY KEY, status TEXT NOT NULL, owner TEXT NOT NULL,
  lease_until REAL NOT NULL, expires_at REAL NOT NULL, result TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS states (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL
);
"""


class SQLiteStore:
    def __init__(self, path: str | Path, clock: Clock = wall_clock) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _record(self, db: sqlite3.Connection, key: str) -> Record | None:
        row = db.execute(
            "SELECT key, status, owner, lease_until, expires_at, result FROM claims WHERE key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return Record.from_dict(
            dict(
                zip(
                    ("key", "status", "owner", "lease_until", "expires_at", "result"),
                    row,
                    strict=True,
                )
            )
        )

    def claim(self, key: str, lease_s: float = DEFAULT_LEASE_S) -> Claim:
        with self._tx() as db:
            now = self._clock()
            existing = self._record(db, key)
            decision = decide(existing, now)
            if decision in ("duplicate", "busy"):
                return Claim(key, decision)
            token = new_token()
            db.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, 'in_progress', ?, ?, ?, '')",
                (key, token, now + lease_s, now + lease_s),
            )
            return Claim(key, "claimed", token, taken_over=decision == "take_over")

    def complete(
        self, key: str, token: str, result: str = "", ttl_s: float = DEFAULT_DONE_TTL_S
    ) -> bool:
        with self._tx() as db:
            now = self._clock()
            cur = db.execute(
                "UPDATE claims SET status='done', lease_until=?, expires_at=?, result=? "
                "WHERE key=? AND owner=? AND status='in_progress'",
                (now, now + ttl_s, result, key, token),
            )
            return cur.rowcount == 1

    def release(self, key: str, token: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM claims WHERE key=? AND owner=? AND status='in_progress'", (key, token)
            )
            return cur.rowcount == 1

    def get_state(self, key: str) -> State:
        row = self._db().execute("SELECT value, version FROM states WHERE key=?", (key,)).fetchone()
        if row is None:
            return State()
        return State(json.loads(row[0]), int(row[1]))

    def set_state(
        self, key: str, value: Mapping[str, Any], expected_version: int | None = None
    ) -> bool:
        text = json.dumps(dict(value), sort_keys=True, default=str)
        with self._tx() as db:
            row = db.execute("SELECT version FROM states WHERE key=?", (key,)).fetchone()
            current = int(row[0]) if row else 0
            if expected_version is not None and current != expected_version:
                return False
            db.execute(
                "INSERT OR REPLACE INTO states (key, value, version) VALUES (?, ?, ?)",
                (key, text, current + 1),
            )
            return True
