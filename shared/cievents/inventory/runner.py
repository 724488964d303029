"""One way to build the sync from settings, shared by the function and ``cievents inventory``.

Settings: the SCM credentials of ``cievents.scm`` (an SCM without credentials is left out),
the owners of ``cievents.inventory.vendors.listers``, ``cievents.inventory.listing``'s
bounds, ``INVENTORY_FULL_EVERY_H``, the metrics store of ``cievents.metrics`` (the
``assets`` table) and ``CIEVENTS_STORE`` (the run's progress).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cievents.config import Env
from cievents.idempotency import Store, open_store
from cievents.inventory.assets import AssetStore
from cievents.inventory.listing import ListingSettings
from cievents.inventory.sync import OwnerDone, RepoHook, Sync
from cievents.inventory.vendors import listers

__all__ = ["build_sync"]


def build_sync(
    environ: Env | None = None,
    *,
    only: Sequence[str] = (),
    metrics: Any = None,
    state: Store | None = None,
    hooks: Sequence[RepoHook] = (),
    progress: OwnerDone | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Sync:
    """A ``Sync`` over every SCM with credentials (``only``: those named)."""
    from cievents.config import env_opt
    from cievents.inventory.filters import RepoFilter
    from cievents.metrics import MetricsSettings
    from cievents.metrics import open_store as open_metrics
    from cievents.scm import ScmSettings

    settings = ListingSettings.from_env(environ)
    expression = env_opt("INVENTORY_AUDIT_FILTER", environ=environ)
    audit_filter = RepoFilter.parse(expression) if expression else None
    scm = ScmSettings.from_env(environ)
    if metrics is None:
        metrics = open_metrics(MetricsSettings.from_env(environ))
    return Sync(
        listers(scm, settings, tuple(only), environ, sleep),
        AssetStore(metrics),
        state if state is not None else open_store(environ=environ),
        concurrency=settings.concurrency,
        full_every=Sync.full_every_from_env(environ),
        hooks=hooks,
        audit_filter=audit_filter,
        progress=progress,
    )
