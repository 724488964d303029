"""Jira issue keys (``PROJ-123``) named in commit messages, branches and PR titles."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

__all__ = ["LazyKeys", "extract", "lazy"]

# A key is a project key (a letter, then letters, digits or underscores, upper case)
# and a number, not glued to other word characters: "feature/PROJ-12-fix" has PROJ-12,
# "ABC-1x" and "utf-8" have none.
_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9_])")


def extract(*texts: str | None, projects: Iterable[str] | None = None) -> tuple[str, ...]:
    """Keys in order of first appearance, without duplicates, optionally only for ``projects``."""
    allowed = {p.upper() for p in projects} if projects else None
    seen: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for match in _KEY.finditer(text):
            key = match.group(1)
            if allowed is not None and key.rsplit("-", 1)[0] not in allowed:
                continue
            seen.setdefault(key, None)
    return tuple(seen)


_EXTRACTING = threading.Lock()


class LazyKeys(Sequence[str]):
    """The keys of some texts, extracted only when first read (most functions never ask).

    Behaves as the tuple ``extract`` returns: equal to it, hashed like it, printed like it.
    """

    __slots__ = ("_keys", "_texts")

    def __init__(self, *texts: str | None) -> None:
        self._texts: tuple[str | None, ...] | None = texts
        self._keys: tuple[str, ...] = ()

    def _value(self) -> tuple[str, ...]:
        if self._texts is not None:
            # One lock for every instance: one is made per event, most never read, and an
            # extraction takes microseconds, so sharing it costs nothing a lock each saves.
            with _EXTRACTING:
                if self._texts is not None:
                    self._keys = extract(*self._texts)
                    self._texts = None
        return self._keys

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self._value()[index]

    def __len__(self) -> int:
        return len(self._value())

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __contains__(self, key: object) -> bool:
        return key in self._value()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyKeys):
            return self._value() == other._value()
        if isinstance(other, tuple | list):
            return self._value() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value())

    def __repr__(self) -> str:
        return repr(self._value())

    def __reduce__(self) -> tuple[Any, ...]:
        return (tuple, (self._value(),))


def lazy(*texts: str | None) -> LazyKeys:
    """``extract(*texts)``, deferred until read."""
    return LazyKeys(*texts)
