"""Publishing messages: to Pub/Sub for real, or to a file for tests and debugging.

A target is a string:

* ``file:PATH``: append ``{"data": <base64>, "attributes": {...}}`` as one line;
* ``projects/P/topics/T`` or a bare topic name (project from
  ``GOOGLE_CLOUD_PROJECT``, else ``google.auth.default()``): the real
  ``google-cloud-pubsub`` publisher, which
  honours ``PUBSUB_EMULATOR_HOST``; imported only when such a target is used;
* ``http://HOST:PORT/...``: the demo's built-in bus (POST of the same JSON line).

Publishing failures are ``TransientError``s: the caller (a webhook sender, or
Pub/Sub) retries.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from cievents import tracing
from cievents.errors import ConfigError, TransientError

PUBLISH_TIMEOUT_S = 10.0


class Publisher(Protocol):
    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str: ...


class FilePublisher:
    """Appends one JSON line per message; returns a sequential id."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._count = 0

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        line = json.dumps(
            {"data": base64.b64encode(data).decode("ascii"), "attributes": dict(attributes)},
            sort_keys=True,
        )
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
            self._count += 1
            return f"file-{os.getpid()}-{self._count}"


class HttpBusPublisher:
    """Posts to the demo's built-in bus (used where no Pub/Sub emulator exists)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        import requests

        body = {"data": base64.b64encode(data).decode("ascii"), "attributes": dict(attributes)}
        try:
            response = requests.post(self.url, json=body, timeout=(2, PUBLISH_TIMEOUT_S))
        except requests.RequestException as exc:
            raise TransientError(
                f"local bus unreachable at {self.url}: {type(exc).__name__}"
            ) from None
        if response.status_code >= 300:
            raise TransientError(f"local bus answered {response.status_code}")
        return str(response.json().get("messageId", ""))


class PubSubPublisher:
    """The real client; created once per process and reused."""

    def __init__(self, topic_path: str, timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        import google.cloud.pubsub_v1 as pubsub_v1

        self.topic_path = topic_path
        self.timeout_s = timeout_s
        self._client: Any = pubsub_v1.PublisherClient()

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        from google.api_core import exceptions as gexc

        try:
            future = self._client.publish(self.topic_path, data, **dict(attributes))
            return str(future.result(timeout=self.timeout_s))
        except (gexc.GoogleAPICallError, gexc.RetryError, TimeoutError) as exc:
            raise TransientError(
                f"publish to {self.topic_path} failed: {type(exc).__name__}", reason="pubsub"
            ) from None
        except Exception as exc:  # futures raise their own timeout type
            if "Timeout" in type(exc).__name__:
                raise TransientError(
                    f"publish to {self.topic_path} timed out after {self.timeout_s} s",
                    reason="pubsub",
                ) from None
            raise


class TracedPublisher:
    """Carries the trace: W3C context into the attributes, a CLIENT span per publish."""

    def __init__(self, inner: Publisher, target: str) -> None:
        self.inner, self.target = inner, target

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        with tracing.outgoing("pubsub", "publish", self.target):
            carried = dict(attributes)
            tracing.inject(carried)
            return self.inner.publish(data, carried)


_cache: dict[str, Publisher] = {}
_cache_lock = threading.Lock()


TOPIC_PATH = re.compile(r"projects/[a-z][a-z0-9.:-]{4,61}[a-z0-9]/topics/[A-Za-z][\w.~+%-]{2,254}")


def project_id() -> str | None:
    """The project: ``GOOGLE_CLOUD_PROJECT`` (or the older ``GCP_PROJECT``), else what
    ``google.auth.default()`` finds (the runtime's metadata server, or gcloud's config)."""
    found = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
    if found:
        return found
    try:
        import google.auth

        return str(google.auth.default()[1] or "") or None
    except Exception:  # no google-auth, or no credentials here: the caller says what to set
        return None


def topic_path(name: str, project: str | None = None, variable: str = "the topic") -> str:
    """``projects/P/topics/T`` for a fully-qualified or bare topic name (resolved against
    ``project``, else ``project_id()``). ConfigError naming ``variable`` when it cannot be."""
    if name.startswith("projects/"):
        if not TOPIC_PATH.fullmatch(name):
            raise ConfigError(variable, f"expected projects/<project>/topics/<topic>, got {name!r}")
        return name
    project = project or project_id()
    if not project:
        raise ConfigError(
            variable,
            f"the bare topic name {name!r} needs a project: set GOOGLE_CLOUD_PROJECT, "
            "or give projects/<project>/topics/<topic>",
        )
    return f"projects/{project}/topics/{name}"


def qualified_target(target: str, variable: str) -> str:
    """A publish target as ``publisher_for`` takes it, with a bare topic made fully
    qualified now (at cold start), so a missing project fails here, not per message."""
    if target.startswith(("file:", "http://", "https://")):
        return target
    return topic_path(target, variable=variable)


def publisher_for(target: str) -> Publisher:
    """The publisher for a target string, created once and reused."""
    with _cache_lock:
        found = _cache.get(target)
        if found is not None:
            return found
        publisher: Publisher
        if target.startswith("file:"):
            publisher = FilePublisher(target[len("file:") :])
        elif target.startswith(("http://", "https://")):
            publisher = HttpBusPublisher(target)
        else:
            publisher = PubSubPublisher(topic_path(target))
        publisher = TracedPublisher(publisher, target)
        _cache[target] = publisher
        return publisher
