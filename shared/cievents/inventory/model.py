"""The repository record every inventory step shares: one ``Repo`` per repository per SCM.

A ``Repo`` is what a listing returns and what the ``assets`` table stores (one row per
``(scm, id)``). ``id`` is the vendor's *stable* id, so a renamed or moved repository keeps
its asset; ``full_name`` and ``web_url`` follow it. Which vendor field feeds each field
(GitHub REST ``/orgs/{org}/repos`` · GitLab ``/groups/{id}/projects`` · Bitbucket Cloud
``/repositories/{workspace}`` · Azure DevOps ``{org}/{project}/_apis/git/repositories``):

``scm``
    ``"github"`` · ``"gitlab"`` · ``"bitbucket"`` · ``"azure"``.
``id``
    ``id`` (as str) · ``id`` (as str) · ``uuid`` (braces kept) · ``id`` (GUID).
``owner``
    ``owner.login`` · ``namespace.full_path`` · ``workspace.slug`` · ``ORG/PROJECT``.
``name``
    ``name`` · ``path`` · ``slug`` · ``name``.
``full_name``
    ``full_name`` · ``path_with_namespace`` · ``full_name`` · ``ORG/PROJECT/name``.
``web_url``
    ``html_url`` · ``web_url`` · ``links.html.href`` · ``webUrl``.
``visibility``
    ``visibility`` (else ``private`` → private/public) · ``visibility`` · ``is_private`` →
    private/public · ``project.visibility`` (private/public).
``archived``
    ``archived`` · ``archived`` · False (Bitbucket has no such state) · False (neither has
    Azure).
``disabled``
    ``disabled`` · False (no such state) · False · ``isDisabled``.
``empty``
    ``size == 0`` · ``empty_repo`` · ``size == 0`` and no ``mainbranch`` · ``size == 0`` or no
    ``defaultBranch``.
``default_branch``
    ``default_branch`` · ``default_branch`` · ``mainbranch.name`` · ``defaultBranch`` without
    ``refs/heads/``.
``last_push``
    ``pushed_at`` · ``last_activity_at`` · ``updated_on`` · None from the listing (a push event
    fills it).
``languages``
    ``language`` (primary, GitHub's listing has no more) · ``()`` (the listing has none) ·
    ``language`` · ``()`` (not reported).
``size_kb``
    ``size`` (KB already) · ``statistics.repository_size`` // 1024 (with ``statistics=true``)
    · ``size`` (bytes) // 1024 · ``size`` (bytes) // 1024.
``head_sha``
    None from a listing on every SCM; a push event (``after`` / ``checkout_sha`` /
    ``push.changes[].new.target.hash`` / ``refUpdates[].newObjectId``) fills it.
``deleted``
    Set by the sync when a full listing no longer has the repository (or a deletion event
    says so); the asset row is kept.

All times are timezone-aware UTC. ``Repo.key`` is ``"scm:id"``, the asset key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["SCMS", "VISIBILITIES", "Repo", "Scm", "Visibility", "parse_time"]

Scm = Literal["github", "gitlab", "bitbucket", "azure"]
Visibility = Literal["public", "private", "internal"]
SCMS: tuple[Scm, ...] = ("github", "gitlab", "bitbucket", "azure")
VISIBILITIES: tuple[Visibility, ...] = ("public", "private", "internal")


def parse_time(value: Any) -> datetime | None:
    """A vendor timestamp (ISO 8601, ``Z`` or offset, fractions of any length) as UTC."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Azure and Bitbucket send 7-digit fractions; fromisoformat takes up to 6 on 3.11.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Repo:
    """One repository on one SCM (see the module docstring for where each field comes from)."""

    scm: Scm
    id: str
    owner: str
    name: str
    full_name: str
    web_url: str
    visibility: Visibility
    archived: bool = False
    disabled: bool = False
    empty: bool = False
    default_branch: str | None = None
    last_push: datetime | None = None
    languages: tuple[str, ...] = field(default_factory=tuple)
    size_kb: int | None = None
    head_sha: str | None = None
    deleted: bool = False

    def __post_init__(self) -> None:
        if self.scm not in SCMS:
            raise ValueError(f"Repo.scm {self.scm!r} is not one of {', '.join(SCMS)}")
        if self.visibility not in VISIBILITIES:
            raise ValueError(
                f"Repo.visibility {self.visibility!r} is not one of public, private, internal"
            )
        if not self.id:
            raise ValueError("Repo.id is empty: the vendor's stable id is the asset key")
        if self.last_push is not None and self.last_push.tzinfo is None:
            raise ValueError("Repo.last_push must be timezone-aware (UTC)")

    @property
    def key(self) -> str:
        """The asset key: ``scm:id`` (stable across renames and moves)."""
        return f"{self.scm}:{self.id}"

    @property
    def active(self) -> bool:
        """Neither archived, disabled, empty nor deleted: the repositories worth auditing."""
        return not (self.archived or self.disabled or self.empty or self.deleted)

    @property
    def status(self) -> str:
        """``deleted``, ``archived``, ``disabled``, ``empty`` or ``active`` (first that holds)."""
        for name in ("deleted", "archived", "disabled", "empty"):
            if getattr(self, name):
                return name
        return "active"

    def with_(self, **changes: Any) -> Repo:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return replace(self, **changes)

    def to_row(self) -> dict[str, Any]:
        """The JSON-friendly form (times as ISO 8601 UTC, languages as a list)."""
        return {
            "scm": self.scm,
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "full_name": self.full_name,
            "web_url": self.web_url,
            "visibility": self.visibility,
            "archived": self.archived,
            "disabled": self.disabled,
            "empty": self.empty,
            "default_branch": self.default_branch,
            "last_push": self.last_push.isoformat() if self.last_push else None,
            "languages": list(self.languages),
            "size_kb": self.size_kb,
            "head_sha": self.head_sha,
            "deleted": self.deleted,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Repo:
        """The inverse of ``to_row`` (also reads a stored asset row)."""
        last = row.get("last_push")
        if isinstance(last, datetime):
            last_push: datetime | None = (
                last if last.tzinfo else last.replace(tzinfo=UTC)
            ).astimezone(UTC)
        else:
            last_push = parse_time(last)
        langs = row.get("languages") or ()
        if isinstance(langs, str):
            langs = [x for x in langs.split(",") if x]
        size = row.get("size_kb")
        return cls(
            scm=row["scm"],
            id=str(row["id"]),
            owner=str(row.get("owner") or ""),
            name=str(row.get("name") or ""),
            full_name=str(row.get("full_name") or ""),
            web_url=str(row.get("web_url") or ""),
            visibility=row.get("visibility") or "private",
            archived=bool(row.get("archived")),
            disabled=bool(row.get("disabled")),
            empty=bool(row.get("empty")),
            default_branch=row.get("default_branch") or None,
            last_push=last_push,
            languages=tuple(str(x) for x in langs),
            size_kb=int(size) if size is not None else None,
            head_sha=row.get("head_sha") or None,
            deleted=bool(row.get("deleted")),
        )
