"""What went wrong with a request that got no HTTP answer, in words a person can act on.

``requests`` reports a refused connection, a DNS failure, a TLS failure and a silent
server as exceptions whose names say little (``ConnectionError``); ``describe`` tells
them apart, and says how long the caller really waited, so no message blames a token for
a network problem or claims a wait that did not happen.
"""

from __future__ import annotations

__all__ = ["Kind", "classify", "describe"]

from typing import Literal

Kind = Literal["tls", "dns", "refused", "connect_timeout", "read_timeout", "unreachable"]

_DNS = ("Name or service not known", "NameResolutionError", "nodename nor servname", "getaddrinfo")


def classify(exc: BaseException) -> Kind | None:
    """The kind of network failure ``exc`` is, or None when it is not one."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect_timeout"
    if isinstance(exc, requests.exceptions.Timeout):
        return "read_timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if any(marker in text for marker in _DNS):
            return "dns"
        if "refused" in text.lower():
            return "refused"
        return "unreachable"
    return None


def describe(exc: BaseException, target: str = "the server", waited_s: float | None = None) -> str:
    """One line: what happened to the request to ``target`` and how long it took."""
    took = (
        f" after {waited_s * 1000:.0f} ms"
        if waited_s is not None and waited_s < 1
        else (f" after {waited_s:.1f} s" if waited_s is not None else "")
    )
    kind = classify(exc)
    if kind is None:
        return f"{type(exc).__name__}{took}"
    return _SAID[kind].format(target=target, took=took)


_SAID: dict[Kind, str] = {
    "tls": "TLS handshake with {target} failed{took} (certificate or proxy)",
    "dns": "cannot resolve the host of {target}{took} (DNS)",
    "refused": "nothing listens at {target}: connection refused{took}",
    "connect_timeout": "no connection to {target}: timed out{took}",
    "read_timeout": "{target} accepted the connection but did not answer: timed out{took}",
    "unreachable": "cannot reach {target}{took}",
}
