"""Idempotency and small per-key state, with one contract and four backends.

``CIEVENTS_STORE`` chooses the backend:

=====================  =====================================================
``memory:``            in-process (tests)
``sqlite:PATH``        a local file (the local default: ``.cievents/state.sqlite3``)
``firestore:[COLL]``   Firestore (the cloud default; collection ``cievents``)
``gcs:BUCKET[/PREFIX]`` GCS objects with generation preconditions
=====================  =====================================================

Unset: Firestore when running on Cloud Run / Functions (``K_SERVICE`` is set),
SQLite otherwise. Backends import their cloud SDK only when chosen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cievents.config import store_spec
from cievents.idempotency.base import Claim, State, Store, get_states, update_state

__all__ = ["Claim", "State", "Store", "get_states", "open_store", "update_state"]

DEFAULT_LOCAL_PATH = ".cievents/state.sqlite3"


def open_store(url: str | None = None, environ: Mapping[str, str] | None = None) -> Store:
    """Open the store named by ``url`` or ``CIEVENTS_STORE``."""
    env = os.environ if environ is None else environ
    spec = url if url is not None else env.get("CIEVENTS_STORE", "")
    if not spec:
        spec = "firestore:" if env.get("K_SERVICE") else f"sqlite:{DEFAULT_LOCAL_PATH}"
    scheme, _, rest = (store_spec(spec) or spec).partition(":")
    if scheme == "memory":
        from cievents.idempotency.memory import MemoryStore

        return MemoryStore()
    if scheme == "sqlite":
        from cievents.idempotency.sqlite import SQLiteStore

        return SQLiteStore(rest.removeprefix("//") or DEFAULT_LOCAL_PATH)
    if scheme == "firestore":
        from cievents.idempotency.firestore import FirestoreStore

        return FirestoreStore(collection=rest.strip("/") or "cievents")
    if scheme == "gcs":
        from cievents.idempotency.gcs import GCSStore

        bucket, _, prefix = rest.removeprefix("//").partition("/")
        return GCSStore(bucket=bucket, prefix=prefix or "cievents")
    raise AssertionError(f"store_spec accepted {spec!r}")  # unreachable
