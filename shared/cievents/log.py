"""Structured logging that Cloud Logging understands, and that never leaks a secret.

One JSON object per line on stdout: ``severity``, ``message``, ``time``, the
trace field (``logging.googleapis.com/trace``) and labels
(``logging.googleapis.com/labels``), plus the per-message context set by the
handler (function, message id, source, event, pipeline) in every line.
Errors carry ``stack_trace`` so Error Reporting picks them up.

Why our own and not the ``logging`` module: the handler needs per-request
fields that survive across threads (contextvars), every line must pass
through the masker, and import cost matters at cold start. Records of the
stdlib ``logging`` module at WARNING and above (the SDKs' warnings) are
bridged into the same stream, through the same masker.

The masker, on every line (message, fields, exception text):

* configured secret values (``register_secrets``, and every environment
  variable whose name says it is a secret) and a few token shapes, always;
* the secret scanner's rules (``cievents.scanning``: PEM and other private
  key blocks, AWS secret keys next to their ids, every token family), with
  the pure-Python engine so no function loads hyperscan for its logs. The
  rules load on a background thread from ``register_secrets_from_env`` (the
  cold start); a line written before they are loaded waits for them.
  ``CIEVENTS_LOG_SCAN=0`` turns this off (bench/log_masking.py measures it).
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from types import MappingProxyType
from typing import Any, TextIO

from cievents import clock

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "cievents_log_context", default=_EMPTY
)

MASK = "[REDACTED]"

# Shapes that are secrets wherever they appear, whatever variable they came from.
_TOKEN_SHAPES = re.compile(
    r"(?:"
    r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|bk(?:aa|jat|aj|ar|ua|ur|tx|cqt|ct|pt|rt|tr|at|pat|ps)_[A-Za-z0-9_\-.]{20,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"
    r")"
)
_SECRET_KEYS = re.compile(
    r"(?i)(?:token|secret|password|passwd|authorization|api[_-]?key|private[_-]?key|signature)"
)
_SECRET_ENV = re.compile(r"(?i)(?:TOKEN|SECRET|PASSWORD|PRIVATE_KEY|API_KEY|WEBHOOK_URL)")


class _Masker:
    """Replaces configured secret values and token shapes with ``[REDACTED]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                # Very short values would mask ordinary words; real secrets are longer.
                if value and len(value) >= 6:
                    self._values.add(value)
            self._pattern = (
                re.compile(
                    "|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True))
                )
                if self._values
                else None
            )
            _clean.clear()  # a string clean before may hold the new value

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _TOKEN_SHAPES.sub(MASK, text)


# Strings already found clean: the masker changed nothing in them and the scanner's rules
# found nothing. Outcome lines repeat most of their values (function, source, event,
# pipeline, outcome, provider...), so each distinct value is checked once, not on every
# line; a new value (a message id, a commit, a reason) is checked as before. Kept only
# while the rules are loaded, emptied when a secret is registered, bounded.
_clean: dict[str, None] = {}
CLEAN_KEPT = 4096
CLEAN_MAX_CHARS = 256


def _remember_clean(value: str) -> None:
    if len(value) <= CLEAN_MAX_CHARS and _rules.loaded:
        if len(_clean) >= CLEAN_KEPT:
            _clean.clear()
        _clean[value] = None


_masker = _Masker()


def register_secrets(*values: str) -> None:
    """Mask these exact values in every log line from now on."""
    expanded: list[str] = []
    for value in values:
        expanded.append(value)
        # Secrets lists (rotation) arrive comma-separated: mask each member too.
        expanded.extend(part.strip() for part in value.split(","))
    _masker.add(expanded)


def register_secrets_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Mask the value of every environment variable whose name says it is a secret."""
    env = os.environ if environ is None else environ
    register_secrets(*(v for k, v in env.items() if _SECRET_ENV.search(k)))
    _rules.start()
    bridge_stdlib_logging()


def mask(text: str) -> str:
    """Return ``text`` with every known secret, token shape and scanner finding replaced."""
    return _replace(_masker.mask(text), _rules.secrets_in([text]))


class _Rules:
    """The secret scanner, loaded once, used by every line.

    ``start`` (at cold start) only arms the load. functions-framework imports a function in
    gunicorn's arbiter and forks the worker that serves it: the worker starts the load on a
    background thread as it is forked, where it overlaps the first request's waits on the
    network, instead of adding its import (about 50 ms) to every cold start before the port
    answers. A process that is never forked (a test, the local dev server) loads the rules
    at its first log line. The load never runs on a thread of a process about to fork: a
    fork in the middle of an import hands the child a module lock held by a thread the
    child does not have, and its next import of that module waits forever."""

    def __init__(self) -> None:
        self._scanner: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._armed = False
        self._failed = False

    def start(self) -> None:
        if os.environ.get("CIEVENTS_LOG_SCAN", "1").strip().lower() in ("0", "false", "no"):
            return
        with self._lock:
            if self._armed or self._scanner is not None:
                return
            self._armed = True
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=self._before_fork,
                after_in_parent=self._lock.release,
                after_in_child=self._forked,
            )

    def _before_fork(self) -> None:
        """A fork waits for a load in progress (its lock is held while it runs)."""
        self.finish_loading()
        self._lock.acquire()

    def _forked(self) -> None:
        self._lock.release()
        self._begin()

    def _begin(self) -> None:
        """Load on a background thread of this (just forked) process."""
        with self._lock:
            if self._scanner is None and not self._failed and self._armed:
                self._thread = threading.Thread(target=self._load, name="log-rules", daemon=True)
                self._thread.start()

    def finish_loading(self) -> None:
        """Wait for a background load of the rules to finish."""
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join()

    @property
    def loaded(self) -> bool:
        return self._scanner is not None

    def _load(self) -> None:
        try:
            from cievents.scanning import Scanner

            self._scanner = Scanner(engine="aho-corasick")
            _clean.clear()  # what was found clean without the rules is checked again
        except Exception:  # no engine installed: configured values and shapes still apply
            self._failed = True

    def _ready(self) -> Any:
        """The scanner, loading it now if it is armed and no thread is loading it."""
        if self._scanner is not None or not self._armed or self._failed:
            return self._scanner
        thread = self._thread
        if thread is not None:
            if thread is not threading.current_thread():
                thread.join()
            return self._scanner
        with self._lock:
            if self._scanner is None and not self._failed and self._thread is None:
                self._load()
        return self._scanner

    def secrets_in(self, texts: list[str]) -> list[str]:
        """The secrets the scanner's rules find in ``texts`` (longest first)."""
        scanner = self._scanner if self._scanner is not None else self._ready()
        if scanner is None or not texts:
            return []
        joined = texts[0] if len(texts) == 1 else "\n".join(texts)
        # The matches alone (``Scanner.secrets``): every secret scan_text would report, without
        # placing each one in lines and columns nor grouping them into findings.
        found = scanner.secrets(joined.encode("utf-8", errors="surrogateescape"))
        if not found:
            return []
        return sorted((x for x in found if len(x) >= 6), key=len, reverse=True)


_rules = _Rules()


def _replace(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


_LEAVES = (int, float, bool, type(None))


def _strings(value: Any, out: list[str]) -> list[str]:
    """Every string in ``value`` not already known clean (what the rules must look at)."""
    kind = type(value)
    if kind is str:
        if value not in _clean:
            out.append(value)
    elif kind in _LEAVES:
        pass
    elif kind is dict or isinstance(value, Mapping):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _strings(item, out)
    elif isinstance(value, str):
        out.append(value)
    return out


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return bool(key and _SECRET_KEYS.search(key))


def _scrub(value: Any, key: str = "", found: list[str] | None = None) -> Any:
    found = found or []
    kind = type(value)
    if key and _secret_key(key) and isinstance(value, str | bytes) and value:
        return MASK
    if kind is str and value in _clean:
        return value
    if kind in _LEAVES:
        return value
    if kind is dict:
        return _scrub_dict(value, found)
    if isinstance(value, str):
        masked = _replace(_masker.mask(value), found)
        if masked == value:
            _remember_clean(value)
        return masked
    if isinstance(value, Mapping):
        return {str(k): _scrub(v, str(k), found) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, "", found) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _replace(_masker.mask(str(value)), found)


def _scrub_dict(value: dict[Any, Any], found: list[str]) -> dict[str, Any]:
    """``_scrub`` of a dict, with its known-clean strings and plain leaves kept in the loop
    (an outcome line is some twenty of them: a call each was most of the masking's cost)."""
    out: dict[str, Any] = {}
    for k, v in value.items():
        key = k if type(k) is str else str(k)
        kind = type(v)
        if kind in _LEAVES or (kind is str and v in _clean and not _secret_key(key)):
            out[key] = v
        else:
            out[key] = _scrub(v, key, found)
    return out


def _masked(record: dict[str, Any]) -> dict[str, Any]:
    """``_scrub(record)``, in place: the values it would write as they are (plain leaves,
    strings known clean under keys that do not say they are secrets, dicts of those such as
    the labels: most of an outcome line) are passed over in one loop, and only the rest go
    to the scanner's rules and the masker. Same result as scrubbing the whole record."""
    pending: list[str] = []
    for key, value in record.items():
        kind = type(value)
        if kind in _LEAVES or (kind is str and value in _clean and not _secret_key(key)):
            continue
        if kind is dict and _kept(value):
            continue
        pending.append(key)
    if pending:
        texts: list[str] = []
        for key in pending:
            _strings(record[key], texts)
        found = _rules.secrets_in(texts)
        for key in pending:
            record[key] = _scrub(record[key], key, found)
    return record


def _kept(value: dict[Any, Any]) -> bool:
    """Whether ``_scrub`` would write this dict as it is, without the rules."""
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not (
            kind in _LEAVES or (kind is str and item in _clean and not _secret_key(key))
        ):
            return False
    return True


def context(**fields: Any) -> AbstractContextManager[None]:
    """Add fields to every log line written inside this block (and its threads)."""
    return _Fields(fields)


class _Fields:
    """What ``context`` returns: a plain context manager, not a generator (every message
    enters one)."""

    __slots__ = ("_fields", "_token")

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields
        self._token: contextvars.Token[Mapping[str, Any]] | None = None

    def __enter__(self) -> None:
        fields = self._fields
        self._token = _context.set(
            {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
        )

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _context.reset(self._token)


def bind(**fields: Any) -> None:
    """Add fields to the current context without a block (handler-internal use)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def current_context() -> Mapping[str, Any]:
    return _context.get()


_LABELS = ("function", "source", "event", "pipeline")
# ``json.dumps`` with options builds a JSONEncoder, and its ``encode`` a C encoder, per call:
# one C encoder serves every line (it keeps no state between calls). Without the circular
# check: ``_masked`` has already walked every container of the record (a circular one raises
# there), and the check costs a dict insertion per container.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Any = (
    _C_MAKE_ENCODER(None, str, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)
    if _C_MAKE_ENCODER is not None
    else None
)


def _encode(record: dict[str, Any]) -> str:
    """``json.dumps(record, ensure_ascii=False, default=str)``."""
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(record, 0))
    return _ENCODER.encode(record)


# The last second written and its text: lines come many a second, strftime once for them.
_last_second: list[tuple[int, str]] = [(-1, "")]


def _timestamp(now: float) -> str:
    """``now`` as the ``time`` field (RFC 3339, whole seconds, UTC)."""
    second = int(now // 1)
    last = _last_second[0]
    if last[0] == second:
        return last[1]
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + "Z"
    _last_second[0] = (second, text)
    return text


class Logger:
    """Writes one JSON object per line. Thread-safe; cheap when nothing is logged."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def set_stream(self, stream: TextIO | None) -> None:
        self._stream = stream

    def log(
        self, severity: str, message: str, exc: BaseException | None = None, **fields: Any
    ) -> None:
        ctx = _context.get()
        record: dict[str, Any] = {
            "severity": severity,
            "message": message,
            "time": _timestamp(clock.now()),
        }
        trace = ctx.get("trace")
        if trace:
            project = os.environ.get("GOOGLE_CLOUD_PROJECT")
            record["logging.googleapis.com/trace"] = (
                f"projects/{project}/traces/{trace}" if project else str(trace)
            )
        labels = {k: str(ctx[k]) for k in _LABELS if ctx.get(k)}
        if labels:
            record["logging.googleapis.com/labels"] = labels
        record.update(ctx)
        if "trace" in ctx:  # written as Cloud Logging's trace field above, not as itself
            del record["trace"]
        record.update(fields)
        if exc is not None:
            record["error_type"] = type(exc).__name__
            record["stack_trace"] = "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__)
            )
            if severity in ("ERROR", "CRITICAL"):
                record["@type"] = (
                    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
                )
        line = _encode(_masked(record))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def debug(self, message: str, **fields: Any) -> None:
        if os.environ.get("CIEVENTS_DEBUG"):
            self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, exc: BaseException | None = None, **fields: Any) -> None:
        self.log("ERROR", message, exc, **fields)


logger = Logger()


class _Bridge(logging.Handler):
    """stdlib ``logging`` records (SDK warnings) → our JSON lines, masked like the rest."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        severity = {"WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}.get(
            record.levelname, "INFO"
        )
        exc = record.exc_info[1] if record.exc_info else None
        logger.log(severity, message, exc, logger=record.name)


def bridge_stdlib_logging(level: int = logging.WARNING) -> None:
    """Send the stdlib root logger's records at ``level`` and above through our masker."""
    root = logging.getLogger()
    if not any(isinstance(h, _Bridge) for h in root.handlers):
        bridge = _Bridge(level)
        root.addHandler(bridge)
