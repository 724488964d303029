"""``python -m cievents.deploy.package --out dist``: one deterministic zip per function.

Each zip is also unpacked into ``dist/<function>/``, the folder ``gcloud
functions deploy --source`` uploads (Terraform uploads the zip).

Each zip holds the function's ``main.py``, the ``cievents`` package (sources
and data files) and a ``requirements.txt`` with only what that
function needs: the library's own dependencies plus the optional groups the
manifest's ``extras`` names, with pyproject's version ranges. A function with
the ``scan`` extra also gets ``cievents/data/scan.hsdb``, the rule database
compiled now and loaded at cold start. The same input gives byte-identical
zips: entries sorted, timestamps fixed, modes fixed.

When the Python building the package is the manifest's ``runtime`` (python311 for
python 3.11), the zip also holds the bytecode of every module, checked-hash
``.pyc`` files in ``__pycache__`` (valid whatever the files' times after unzipping,
and ignored if a source changes): the buildpack compiles what pip installs, not a
function's own sources, so without them every new instance compiled the library
on its first import (see ``bytecode``). Another Python writes no bytecode (its
files would not be the runtime's) and says so.
"""

from __future__ import annotations

import argparse
import hashlib
import py_compile
import shutil
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from cievents.deploy.manifest import ROOT, Function, load

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
SCAN_DATABASE = "cievents/data/scan.hsdb"
ALWAYS = ("tracing",)  # imported only when CIEVENTS_TRACING is on: a setting, not a rebuild


def requirements(function: Function, pyproject: Path | None = None) -> list[str]:
    project = tomllib.loads((pyproject or ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    groups = project.get("optional-dependencies", {})
    lines = list(project["dependencies"])
    for extra in (*function.extras, *ALWAYS):
        if extra not in groups:
            raise SystemExit(
                f"{function.name}: extras names {extra!r}, which pyproject does not define"
            )
        lines += [r for r in groups[extra] if not r.startswith("ci-event-functions")]
    if "scan" in function.extras:
        # The serialized database is valid for the hyperscan that wrote it: pin that one.
        from importlib.metadata import PackageNotFoundError, version

        try:
            pinned = f"hyperscan=={version('hyperscan')}"
            lines = [pinned if r.startswith("hyperscan") else r for r in lines]
        except PackageNotFoundError:
            pass
    return sorted(set(lines), key=str.lower)


def _entries(function: Function) -> list[tuple[str, bytes]]:
    entries = [
        ("main.py", (ROOT / function.source / "main.py").read_bytes()),
        ("requirements.txt", ("\n".join(requirements(function)) + "\n").encode()),
    ]
    package = ROOT / "shared" / "cievents"
    for path in package.rglob("*"):
        name = f"cievents/{path.relative_to(package).as_posix()}"
        if (
            path.is_file()
            and not SKIP_PARTS & set(path.parts)
            and path.suffix != ".pyc"
            and name != SCAN_DATABASE  # a local build's copy: compiled afresh below
        ):
            entries.append((name, path.read_bytes()))
    if "scan" in function.extras:
        entries.append((SCAN_DATABASE, _scan_database()))
    if runtime_matches(function.runtime):
        entries += bytecode(entries)
    return sorted(entries)


def runtime_matches(runtime: str) -> bool:
    """Whether this interpreter is the function's runtime (``python311`` for 3.11)."""
    return runtime == f"python{sys.version_info.major}{sys.version_info.minor}"


def bytecode(entries: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Checked-hash bytecode of each ``.py`` entry, at the path the import system
    looks for it (``pkg/__pycache__/mod.cpython-311.pyc``), compiled with the entry's
    name as its file name (what a traceback shows)."""
    out: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory(prefix="cievents-pyc-") as scratch:
        for name, data in entries:
            if not name.endswith(".py"):
                continue
            source = Path(scratch) / "source.py"
            source.write_bytes(data)
            target = Path(scratch) / "out.pyc"
            py_compile.compile(
                str(source),
                cfile=str(target),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
            )
            folder, _, module = name.rpartition("/")
            cached = f"__pycache__/{module[:-3]}.{sys.implementation.cache_tag}.pyc"
            out.append((f"{folder}/{cached}" if folder else cached, target.read_bytes()))
    return out


def _scan_database() -> bytes:
    """The rule database, serialized by the same hyperscan the function installs."""
    try:
        from cievents.scanning.database import serialize
        from cievents.scanning.rules import RULES, patterns_of
    except ImportError as exc:  # pragma: no cover - hyperscan is a dev dependency
        raise SystemExit(f"packaging the scan database needs hyperscan: {exc}") from exc
    return serialize(patterns_of(RULES))


def build(function: Function, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{function.name}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in _entries(function):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever machine builds it
            archive.writestr(info, data, compresslevel=9)
    return target


def content_digest(function: Function) -> str:
    """A digest of what the function's package holds (names and bytes), without building it."""
    h = hashlib.sha256()
    for name, data in _entries(function):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def unpack(archive_path: Path, folder: Path) -> Path:
    """The zip's files in ``folder`` (emptied first): what ``gcloud --source`` uploads."""
    if folder.exists():
        shutil.rmtree(folder)
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(folder)
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cievents.deploy.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    args = parser.parse_args(argv)
    manifest = load()
    for function in manifest.functions:
        if args.function and function.name not in args.function:
            continue
        path = build(function, args.out)
        unpack(path, args.out / function.name)
        print(
            f"{path}  {digest(path)[:16]}  {path.stat().st_size / 1024:.0f} KiB"
            f"  (+ {function.name}/)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
