"""The ``assets`` table: one row per repository, keyed by ``scm:id``, written only on change.

Built on the metrics stores (``cievents.metrics``: BigQuery deployed, DuckDB locally), whose
``upsert`` replaces a row by ``insert_id`` (the asset key). A row keeps ``first_seen_at``
across renames and moves (the key is the vendor's stable id); ``digest`` is a hash of the
repository's fields, so a sync that finds nothing changed writes nothing. A repository
gone from its SCM is marked ``deleted`` (``deleted_at`` set), never removed; one that comes
back is un-deleted.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cievents.inventory.model import Repo

__all__ = ["TABLE", "AssetStore", "asset_row", "digest"]

TABLE = "assets"
_CONTENT = (
    "scm",
    "id",
    "owner",
    "name",
    "full_name",
    "web_url",
    "visibility",
    "archived",
    "disabled",
    "empty",
    "deleted",
    "default_branch",
    "last_push",
    "languages",
    "size_kb",
    "head_sha",
)


def digest(row: dict[str, Any]) -> str:
    """A stable hash of an asset's content (not of when it was seen)."""
    content = {k: row.get(k) for k in _CONTENT}
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def asset_row(repo: Repo, now: datetime, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row for ``repo`` as seen at ``now``, carrying over what a listing does not know
    (the head a push told, ``first_seen_at``)."""
    row = repo.to_row()
    row["languages"] = ",".join(repo.languages)
    if row["head_sha"] is None and previous and not repo.deleted:
        row["head_sha"] = previous.get("head_sha")
    row["insert_id"] = repo.key
    row["status"] = repo.status
    row["digest"] = digest(row)
    row["first_seen_at"] = _iso(previous.get("first_seen_at")) if previous else None
    row["first_seen_at"] = row["first_seen_at"] or now.isoformat()
    row["updated_at"] = now.isoformat()
    if repo.deleted:
        kept = previous.get("deleted_at") if previous else None
        row["deleted_at"] = _iso(kept) or now.isoformat()
    else:
        row["deleted_at"] = None
    return row


class AssetStore:
    """Reads and writes ``assets`` through a metrics store (``insert``/``upsert``/``query``)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.writes = 0  # rows written since this object was made (a sync's measure)
        self._lock = threading.Lock()
        dataset = getattr(store, "dataset", None)
        self._table = f"`{dataset}.{TABLE}`" if dataset else f'"{TABLE}"'

    def rows(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of these keys."""
        if not keys:
            return {}
        marks = ", ".join("?" for _ in keys)
        sql = f"SELECT * FROM {self._table} WHERE insert_id IN ({marks})"  # noqa: S608
        with self._lock:
            found = self.store.query(sql, list(keys))
        return {str(r["insert_id"]): r for r in found}

    def live(self, scm: str) -> dict[str, str]:
        """Keys (→ owner) of the ``scm``'s repositories not marked deleted."""
        sql = f"SELECT insert_id, owner FROM {self._table} WHERE scm = ? AND NOT deleted"  # noqa: S608
        with self._lock:
            found = self.store.query(sql, [scm])
        return {str(r["insert_id"]): str(r["owner"]) for r in found}

    def all(self, scm: str | None = None) -> list[Repo]:
        """Every asset (of one SCM), deleted ones included, by full name."""
        where, params = ("WHERE scm = ?", [scm]) if scm else ("", [])
        sql = f"SELECT * FROM {self._table} {where} ORDER BY scm, full_name"  # noqa: S608
        with self._lock:
            found = self.store.query(sql, params)
        return [Repo.from_row(r) for r in found]

    def put(self, repos: Sequence[Repo], now: datetime) -> tuple[int, int]:
        """Upsert what changed among ``repos``: (created, updated); unchanged ones are not
        written."""
        previous = self.rows([r.key for r in repos])
        changed: list[dict[str, Any]] = []
        created = 0
        for repo in repos:
            before = previous.get(repo.key)
            row = asset_row(repo, now, before)
            if before is not None and before.get("digest") == row["digest"]:
                continue
            created += before is None
            changed.append(row)
        if changed:
            with self._lock:
                self.store.upsert(TABLE, changed)
                self.writes += len(changed)
        return created, len(changed) - created

    def mark_deleted(self, keys: Sequence[str], now: datetime) -> int:
        """Mark these assets deleted (their rows are kept); returns how many were marked."""
        marked = 0
        for start in range(0, len(keys), 100):
            chunk = list(keys[start : start + 100])
            rows = self.rows(chunk)
            gone = [Repo.from_row(r).with_(deleted=True) for r in rows.values()]
            marked += sum(self.put(gone, now))
        return marked
