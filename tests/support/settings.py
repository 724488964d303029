"""Handler settings for a function run in-process on the memory store."""

from __future__ import annotations

from cievents.config import CommonSettings

__all__ = ["in_memory"]


def in_memory(*, dry_run: bool = False, outbox_dir: str = "/nonexistent") -> CommonSettings:
    """No age limit, a 60 s lease, the memory store, no dead-letter topic."""
    return CommonSettings(
        max_event_age_s=1e12,
        lease_s=60,
        store_url="memory:",
        dead_letter=None,
        dry_run=dry_run,
        outbox_dir=outbox_dir,
    )
