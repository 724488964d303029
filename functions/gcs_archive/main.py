"""gcs_archive: every event on ci-events, archived raw, once, in hive-partitioned paths.

It reads only the Pub/Sub envelope, never the vendor payload, so it archives
events of every source, including ones no other function understands.
The object is written with a create-once precondition, which makes a
redelivery a no-op; no idempotency record is needed on top.

Settings: ``ARCHIVE_BUCKET`` (a GCS bucket; without it, ``ARCHIVE_DIR``, a
local folder, default ``.cievents/archive``), ``ARCHIVE_PREFIX`` (object name
prefix), ``ARCHIVE_GZIP`` (compress objects; names end in ``.json.gz``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cievents import archive
from cievents.config import env_bool, env_opt, env_str
from cievents.envelope import Message
from cievents.handler import Context, Result, pubsub_function


@dataclass(frozen=True)
class Settings:
    bucket: str | None
    directory: str
    prefix: str
    gzip: bool

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            bucket=env_opt("ARCHIVE_BUCKET"),
            directory=env_str("ARCHIVE_DIR", ".cievents/archive"),
            prefix=env_str("ARCHIVE_PREFIX", ""),
            gzip=env_bool("ARCHIVE_GZIP", False),
        )


SETTINGS = Settings.from_env()
_writer: archive.ArchiveWriter | None = None


def writer() -> archive.ArchiveWriter:
    """The bucket (or local folder) writer, created on first use and reused."""
    global _writer  # noqa: PLW0603 - one client per instance
    if _writer is None:
        _writer = (
            archive.GCSWriter(SETTINGS.bucket)
            if SETTINGS.bucket
            else archive.DirectoryWriter(SETTINGS.directory)
        )
    return _writer


def _envelope_only(message: Message) -> Message:
    return message


@pubsub_function("gcs_archive", parse=_envelope_only, key=lambda message, event: None)
def handle(message: Any, ctx: Context) -> Result:
    """Write the message's archive object unless it exists already."""
    assert isinstance(message, Message)
    name = archive.object_name(message, SETTINGS.prefix, SETTINGS.gzip)
    target = writer()
    written = target.write(name, archive.record(message), archive.metadata(message), SETTINGS.gzip)
    ctx.fields["object"] = f"{target.location}/{name}"
    if not written.created:
        return Result("duplicate", "already archived", provider="gcs", operation="create")
    return Result("acted", provider="gcs", operation="create")
