"""The secret scan of what is committed: a repository's default branch, as its SCM archives it.

    scan = scan_repository(repo, client, last_head, scanner=scanner)
    if scan.scanned:
        messages = scan.messages(clock.now_utc())    # → security-findings
        record_head(store, repo, scan.head)

Only when the head of the default branch changed since ``last_head`` (the head the last
scan saw, kept with ``last_head_of`` / ``record_head`` under ``inventory:scanned:<asset>``)
is the archive downloaded, through the vendor's API, for that exact commit:

==========  ======================================================================================
GitHub      ``GET /repos/{r}/branches/{b}`` (head), ``GET /repos/{r}/tarball/{sha}`` (302 to
            codeload; a gzipped tar with one top folder)
GitLab      ``GET /projects/{id}/repository/branches/{b}``, ``GET
            /projects/{id}/repository/archive.tar.gz?sha={sha}``
Bitbucket   ``GET /repositories/{w}/{r}/refs/branches/{b}`` (``target.hash``), then the
            repository's download ``{web_url}/get/{sha}.tar.gz`` (Bitbucket Cloud has no
            archive endpoint under ``/2.0``)
Azure       ``GET …/git/repositories/{id}/refs?filter=heads/{b}`` (``objectId``), ``GET
            …/items?path=/&versionDescriptor.version={sha}&versionDescriptor.versionType=commit
            &$format=zip&download=true``
==========  ======================================================================================

The download is streamed and bounded by ``INVENTORY_SCAN_MAX_BYTES`` (default 200 MB):
a tarball is read member by member as it arrives (never the whole archive in memory) and
cut at the bound; Azure's zip, whose directory is at its end, is spooled to a temporary
file up to the bound (over it: not scanned, and said so). Each file of at most
``INVENTORY_SCAN_MAX_FILE_BYTES`` (default 2 MB) that is not binary (no NUL in its first
8 KB) is scanned by ``cievents.scanning.Scanner``; larger ones are counted and named in
``notes``. Findings carry the file's path and line, and the scanner's own keyed
fingerprint, so a secret also seen in a job log or a pull request is the same finding (one
work item). Only the scanner's redacted preview ever leaves this module.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cievents import log
from cievents.config import env_int
from cievents.findings import FindingMessage
from cievents.idempotency import Store
from cievents.inventory.model import Repo
from cievents.inventory.posture import SOURCE
from cievents.inventory.protection import AZURE_API_VERSION, read_api

if TYPE_CHECKING:
    from cievents.scanning import Finding, Scanner

__all__ = [
    "CommittedScan",
    "ScanLimits",
    "head_of",
    "last_head_of",
    "record_head",
    "scan_repository",
]

CHUNK = 64 * 1024
BINARY_PROBE = 8192
MAX_NOTES = 20


@dataclass(frozen=True)
class ScanLimits:
    max_bytes: int = 200 * 1024 * 1024
    max_file_bytes: int = 2 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScanLimits:
        """``INVENTORY_SCAN_MAX_BYTES`` (default 200 MB), ``INVENTORY_SCAN_MAX_FILE_BYTES``
        (default 2 MB), both in bytes."""
        return cls(
            max_bytes=env_int(
                "INVENTORY_SCAN_MAX_BYTES", cls.max_bytes, minimum=1024, environ=environ
            ),
            max_file_bytes=env_int(
                "INVENTORY_SCAN_MAX_FILE_BYTES", cls.max_file_bytes, minimum=64, environ=environ
            ),
        )


@dataclass
class CommittedScan:
    """What one scan of a repository's default branch did."""

    repo: Repo
    head: str | None
    scanned: bool
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    skipped_files: int = 0
    archive_bytes: int = 0
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def messages(self, now: datetime) -> list[FindingMessage]:
        """One ``security-findings`` message per finding: its path and line, the head."""
        return [
            FindingMessage.from_finding(
                f,
                {
                    "kind": "file",
                    "path": f.path,
                    "line": f.line,
                    "end_line": f.end_line,
                    "column": f.start_column,
                    "scm": self.repo.scm,
                    "asset": self.repo.key,
                },
                source=SOURCE,
                repository=self.repo.web_url or self.repo.full_name,
                commit=self.head,
                branch=self.repo.default_branch,
                detected_at=now.isoformat(),
            )
            for f in self.findings
        ]


def state_key(repo: Repo) -> str:
    return f"inventory:scanned:{repo.key}"


def last_head_of(store: Store, repo: Repo) -> str | None:
    """The head the last scan of ``repo`` saw (None: never scanned)."""
    head = store.get_state(state_key(repo)).value.get("head")
    return str(head) if head else None


def record_head(store: Store, repo: Repo, head: str) -> None:
    store.set_state(state_key(repo), {"head": head})


def head_of(repo: Repo, client: Any) -> str | None:
    """The current head commit of ``repo``'s default branch, from its SCM (None: no branch)."""
    api, branch = read_api(client), repo.default_branch or ""
    ref = quote(branch, safe="")
    what = f"{repo.scm}: head of {repo.full_name}@{branch}"
    if repo.scm == "github":
        body = api.get(f"/repos/{repo.full_name}/branches/{ref}", missing_ok=True, what=what)
        return _str((body or {}).get("commit", {}).get("sha"))
    if repo.scm == "gitlab":
        path = f"/projects/{quote(repo.id, safe='')}/repository/branches/{ref}"
        body = api.get(path, missing_ok=True, what=what)
        return _str((body or {}).get("commit", {}).get("id"))
    if repo.scm == "bitbucket":
        path = f"/repositories/{repo.full_name}/refs/branches/{ref}"
        body = api.get(path, missing_ok=True, what=what)
        return _str((body or {}).get("target", {}).get("hash"))
    body = api.get(
        f"{_azure_repo(repo)}/refs",
        {"filter": f"heads/{branch}", "api-version": AZURE_API_VERSION},
        missing_ok=True,
        what=what,
    )
    for item in (body or {}).get("value") or []:
        if isinstance(item, Mapping) and item.get("name") == f"refs/heads/{branch}":
            return _str(item.get("objectId"))
    return None


def scan_repository(
    repo: Repo,
    client: Any,
    last_head: str | None,
    *,
    scanner: Scanner | None = None,
    limits: ScanLimits | None = None,
) -> CommittedScan:
    """Scan ``repo``'s default branch when its head is not ``last_head``."""
    if not repo.active or not repo.default_branch:
        return CommittedScan(repo, None, False, f"not scanned: repository {repo.status}")
    head = repo.head_sha or head_of(repo, client)
    if head is None:
        return CommittedScan(repo, None, False, "not scanned: the default branch has no head")
    if head == last_head:
        return CommittedScan(repo, head, False, f"head {head[:12]} already scanned")
    if scanner is None:
        from cievents.scanning import Scanner

        scanner = Scanner()
    limits = limits or ScanLimits()
    scan = CommittedScan(repo, head, True)
    response = _download(repo, client, head)
    try:
        chunks = _bounded(response.iter_content(chunk_size=CHUNK), limits.max_bytes, scan)
        reader = _zip_members if repo.scm == "azure" else _tar_members
        for path, size, data in reader(chunks, scan, limits.max_file_bytes):
            _scan_file(scan, scanner, path, size, data)
    finally:
        response.close()
    log.logger.info(
        "committed code scanned",
        repository=repo.full_name,
        head=head,
        files=scan.files,
        skipped=scan.skipped_files,
        findings=len(scan.findings),
        archive_bytes=scan.archive_bytes,
        truncated=scan.truncated,
    )
    return scan


def _str(value: Any) -> str | None:
    return str(value) if value else None


def _azure_repo(repo: Repo) -> str:
    org, _, project = repo.owner.partition("/")
    return (
        f"/{quote(org, safe='')}/{quote(project, safe='')}"
        f"/_apis/git/repositories/{quote(repo.id, safe='')}"
    )


def _download(repo: Repo, client: Any, head: str) -> Any:
    """The archive of ``head``, as a streamed response (redirects followed)."""
    headers = client.auth_headers() if hasattr(client, "auth_headers") else {}
    what = f"{repo.scm}: archive of {repo.full_name}@{head[:12]}"
    if repo.scm == "github":
        path, params = f"/repos/{repo.full_name}/tarball/{head}", None
    elif repo.scm == "gitlab":
        path = f"/projects/{quote(repo.id, safe='')}/repository/archive.tar.gz"
        params = {"sha": head}
    elif repo.scm == "bitbucket":
        web = repo.web_url.rstrip("/") or f"https://bitbucket.org/{repo.full_name}"
        path, params = f"{web}/get/{head}.tar.gz", None
    else:
        path = f"{_azure_repo(repo)}/items"
        params = {
            "path": "/",
            "versionDescriptor.version": head,
            "versionDescriptor.versionType": "commit",
            "$format": "zip",
            "download": "true",
            "api-version": AZURE_API_VERSION,
        }
    return client.api.get(path, params=params, headers=headers or None, stream=True, what=what)


def _bounded(chunks: Iterable[bytes], limit: int, scan: CommittedScan) -> Iterator[bytes]:
    """The download's bytes, stopping at ``limit`` (the scan is then marked truncated)."""
    for chunk in chunks:
        room = limit - scan.archive_bytes
        if len(chunk) > room:
            if room > 0:
                scan.archive_bytes += room
                yield chunk[:room]
            scan.truncated = True
            scan.note(f"archive larger than {limit} bytes (INVENTORY_SCAN_MAX_BYTES): cut there")
            return
        scan.archive_bytes += len(chunk)
        yield chunk


class _ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (what tarfile's stream mode reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


Member = tuple[str, int, bytes | None]  # path, size, its bytes (None: over the file bound)


def _tar_members(chunks: Iterator[bytes], scan: CommittedScan, max_file: int) -> Iterator[Member]:
    """Each regular file of a gzipped tar as it streams by, its top folder removed."""
    stream = io.BufferedReader(_ChunkReader(chunks), buffer_size=CHUNK)
    try:
        with tarfile.open(fileobj=stream, mode="r|gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                _, _, path = member.name.partition("/")
                extracted = archive.extractfile(member) if member.size <= max_file else None
                data = extracted.read() if extracted is not None else None
                yield path or member.name, member.size, data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if not scan.truncated:
            scan.truncated = True
            scan.note(f"archive unreadable past {scan.archive_bytes} bytes: {type(exc).__name__}")


def _zip_members(chunks: Iterator[bytes], scan: CommittedScan, max_file: int) -> Iterator[Member]:
    """Each file of a zip, spooled to a temporary file first (its directory is at its end)."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        if scan.truncated:
            scan.note("a zip cut short cannot be read: nothing of it was scanned")
            return
        spool.seek(0)
        try:
            archive = zipfile.ZipFile(spool)
        except zipfile.BadZipFile:
            scan.truncated = True
            scan.note("the archive is not a zip: nothing of it was scanned")
            return
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                data = None
                if info.file_size <= max_file:
                    with archive.open(info) as member:
                        data = member.read(max_file + 1)
                yield info.filename.lstrip("/"), info.file_size, data


def _scan_file(
    scan: CommittedScan, scanner: Scanner, path: str, size: int, data: bytes | None
) -> None:
    if data is None:
        scan.skipped_files += 1
        scan.note(f"{path}: {size} bytes, over INVENTORY_SCAN_MAX_FILE_BYTES: not scanned")
        return
    if b"\0" in data[:BINARY_PROBE]:
        scan.skipped_files += 1  # binary: not text a secret is committed in
        return
    scan.files += 1
    scan.findings += scanner.scan_bytes(data, path=path)
