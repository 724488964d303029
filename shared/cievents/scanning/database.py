"""The hyperscan database of every rule, compiled at package time and loaded at cold start.

Compiling the database costs tens of milliseconds; deserializing it costs a
fraction of one. ``python -m cievents.scanning.database`` (run by ``make
package`` and by :mod:`cievents.deploy.package` for the secret_scan zip) writes
``cievents/data/scan.hsdb``: a header naming what it was built from, then
hyperscan's serialized bytes. At load the header must match the running rule
table and hyperscan version exactly; anything else (no file, stale rules,
another hyperscan, a CPU the database was not built for) falls back to
compiling in process, so a stale file can cost time but never findings.
``CIEVENTS_SCAN_DB`` points at another file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cievents.scanning.engines import Pattern, hyperscan_flags

MAGIC = b"cievents-hsdb-1\n"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "scan.hsdb"


def _hyperscan_version() -> str:
    from importlib.metadata import version

    return version("hyperscan")


def digest(patterns: Sequence[Pattern]) -> str:
    """What a database was built from: hyperscan's version and every expression and flag."""
    h = hashlib.sha256(_hyperscan_version().encode())
    for expression, flags in zip(
        (p.expression for p in patterns), hyperscan_flags(patterns), strict=True
    ):
        h.update(b"\0" + expression + b"\0" + str(flags).encode())
    return h.hexdigest()


def compile_database(patterns: Sequence[Pattern]) -> Any:
    import hyperscan

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=[p.expression for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=hyperscan_flags(patterns),
    )
    return database


def serialize(patterns: Sequence[Pattern]) -> bytes:
    import hyperscan

    header = MAGIC + digest(patterns).encode() + b"\n"
    return header + bytes(hyperscan.dumpb(compile_database(patterns)))


def database_path() -> Path:
    return Path(os.environ.get("CIEVENTS_SCAN_DB") or DEFAULT_PATH)


def load_database(patterns: Sequence[Pattern], path: Path | None = None) -> Any | None:
    """The serialized database when it exists and matches ``patterns``, else None."""
    import hyperscan

    try:
        blob = (path or database_path()).read_bytes()
    except OSError:
        return None
    header_end = len(MAGIC) + 65
    if not blob.startswith(MAGIC) or blob[len(MAGIC) : header_end - 1].decode(
        "ascii", "replace"
    ) != digest(patterns):
        return None
    try:
        return hyperscan.loadb(blob[header_end:], hyperscan.HS_MODE_BLOCK)
    except hyperscan.error:
        return None


def cache_path(patterns: Sequence[Pattern]) -> Path | None:
    """Where a process that had to compile keeps the database for the next one (the CLI
    and pre-commit start often): ``$XDG_CACHE_HOME/cievents`` or ``~/.cache/cievents``,
    keyed by the digest; ``CIEVENTS_SCAN_CACHE=0`` turns it off."""
    if os.environ.get("CIEVENTS_SCAN_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cievents" / f"scan-{digest(patterns)[:24]}.hsdb"


def packaged_or_cached(patterns: Sequence[Pattern]) -> Any | None:
    """The packaged database, else the cached one; when neither matches, compile, cache
    (best effort: a read-only home just means compiling next time) and return it."""
    database = load_database(patterns)
    if database is not None:
        return database
    cached = cache_path(patterns)
    if cached is not None:
        database = load_database(patterns, cached)
        if database is not None:
            return database
    import hyperscan

    database = compile_database(patterns)
    if cached is not None:
        header = MAGIC + digest(patterns).encode() + b"\n"
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(header + bytes(hyperscan.dumpb(database)))
            partial.replace(cached)
        except OSError:
            pass
    return database


def main(argv: list[str] | None = None) -> int:
    from cievents.scanning.rules import RULES, patterns_of

    parser = argparse.ArgumentParser(
        prog="python -m cievents.scanning.database", description=__doc__
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    patterns = patterns_of(RULES)
    blob = serialize(patterns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    size = len(blob) / 1024
    print(f"{args.out}: {len(patterns)} patterns, {size:.0f} KiB, {digest(patterns)[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
