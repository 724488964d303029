"""The raw-payload archive: one object per event, created once, replayable byte for byte.

Layout (hive partitions, so BigQuery external tables and Spark prune by them)::

    [PREFIX/]source=<source>/event=<event>/dt=YYYY-MM-DD/<message id>.json[.gz]

Each object is one line of JSON (newline-delimited, as BigQuery external
tables need): ``message_id``, ``publish_time``, ``attributes``, ``body`` (the
vendor's exact bytes as a string) and ``body_base64`` (true when the bytes are
not UTF-8 and ``body`` holds their base64). The content depends only on the
message, so a redelivery writes identical bytes, and the create-once
precondition (``if_generation_match=0``) makes it a no-op.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol

from cievents import clock
from cievents.envelope import Message
from cievents.errors import TransientError

_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]+")
METADATA_ATTRIBUTES = ("source", "event", "delivery_id", "pipeline", "state", "branch")


def _segment(value: str) -> str:
    """A path segment safe in object names and hive partitions (no '/', '=', spaces)."""
    cleaned = _UNSAFE.sub("_", value).strip("._") or "unknown"
    return cleaned[:200]


def object_name(message: Message, prefix: str = "", gzip_enabled: bool = False) -> str:
    when = message.publish_time or clock.now_utc()
    source = _segment(message.attributes.get("source", "unknown"))
    event = _segment(message.attributes.get("event", "unknown"))
    name = (
        f"source={source}/event={event}/dt={when.astimezone(UTC):%Y-%m-%d}/"
        f"{_segment(message.id)}.json" + (".gz" if gzip_enabled else "")
    )
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def record(message: Message) -> bytes:
    """The archived line: deterministic for a given message."""
    try:
        body, encoded = message.data.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(message.data).decode("ascii"), True
    line = {
        "message_id": message.id,
        "publish_time": message.publish_time.isoformat().replace("+00:00", "Z")
        if message.publish_time
        else None,
        "attributes": dict(sorted(message.attributes.items())),
        "body": body,
        "body_base64": encoded,
    }
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def restore_body(line: bytes | str) -> bytes:
    """The vendor's original bytes from an archived line (the inverse of ``record``)."""
    data = json.loads(line)
    body: str = data["body"]
    return base64.b64decode(body) if data.get("body_base64") else body.encode("utf-8")


def metadata(message: Message) -> dict[str, str]:
    return {k: message.attributes[k] for k in METADATA_ATTRIBUTES if message.attributes.get(k)}


@dataclass(frozen=True)
class Written:
    name: str
    created: bool  # False: it already existed (a redelivery)


class ArchiveWriter(Protocol):
    location: str

    def write(self, name: str, content: bytes, meta: dict[str, str], gzipped: bool) -> Written: ...


class DirectoryWriter:
    """A local folder with the same layout (the local default)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.location = str(self.root)

    def write(self, name: str, content: bytes, meta: dict[str, str], gzipped: bool) -> Written:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return Written(name, created=False)
        with os.fdopen(fd, "wb") as fh:
            fh.write(gzip.compress(content, mtime=0) if gzipped else content)
        return Written(name, created=True)


class GCSWriter:
    """A bucket, written with ``if_generation_match=0`` so each object is created once."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        import google.cloud.storage as storage

        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self.location = f"gs://{bucket}"

    def write(self, name: str, content: bytes, meta: dict[str, str], gzipped: bool) -> Written:
        from google.api_core import exceptions as gexc

        blob = self._bucket.blob(name)
        blob.metadata = meta
        payload = content
        if gzipped:
            blob.content_encoding = "gzip"
            payload = gzip.compress(content, mtime=0)
        try:
            blob.upload_from_string(
                payload, content_type="application/x-ndjson", if_generation_match=0, timeout=30
            )
        except gexc.PreconditionFailed:
            return Written(name, created=False)
        except (gexc.TooManyRequests, gexc.ServerError, gexc.ServiceUnavailable) as exc:
            raise TransientError(f"GCS write of {name} failed: {type(exc).__name__}") from None
        return Written(name, created=True)
