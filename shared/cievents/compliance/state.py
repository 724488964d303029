"""A pull request's current state, as the compliance checks need it, whatever the SCM.

Fetchers (``cievents.compliance.vendors.<scm>``) fill a ``PullRequestState`` from the
vendor's API at evaluation time; the event only says *which* pull request to look at.
What an SCM cannot tell (code owners on Bitbucket, say) is listed in ``unsupported``
with the reason, so the check fails closed and says why instead of passing silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "CONTEXT",
    "SCMS",
    "CheckState",
    "CodeOwners",
    "Commit",
    "Needs",
    "PullRequestRef",
    "PullRequestState",
    "PullState",
    "Review",
    "ReviewState",
    "StatusCheck",
]

SCMS = ("github", "gitlab", "bitbucket", "azure-devops")
CONTEXT = "cievents/compliance"  # the status / check name branch protection requires
ReviewState = Literal["approved", "changes_requested", "commented", "dismissed"]
CheckState = Literal["success", "failure", "pending", "error", "neutral"]
PullState = Literal["open", "merged", "closed"]


@dataclass(frozen=True)
class PullRequestRef:
    """Which pull request an event is about. ``number`` is None when the event names only
    a commit (a status on GitHub or Bitbucket): the fetcher then finds its open PRs.
    ``api`` carries what a vendor needs to address the PR (Azure's repository URL)."""

    scm: str
    repository: str
    number: int | None
    head_sha: str | None = None
    api: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return f"{self.scm}:{self.repository}#{self.number}"


@dataclass(frozen=True)
class Review:
    user: str
    state: ReviewState
    submitted_at: datetime | None = None
    commit: str | None = None  # the head the review was given on, where the SCM says


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: int | None = None  # None: the SCM did not say
    date: datetime | None = None


@dataclass(frozen=True)
class StatusCheck:
    name: str
    state: CheckState


@dataclass(frozen=True)
class CodeOwners:
    """Per changed path, the owners that must approve it (users or groups, SCM spelling);
    ``satisfied`` when the SCM itself says the code-owner rule is met (GitLab)."""

    owners: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    satisfied: bool | None = None
    source: str = ""


@dataclass(frozen=True)
class Needs:
    """What the policy's checks need beyond the pull request itself."""

    reviews: bool = False
    commits: bool = False
    files: bool = False
    statuses: bool = False
    groups: tuple[str, ...] = ()
    code_owners: bool = False


@dataclass(frozen=True)
class PullRequestState:
    scm: str
    repository: str
    number: int
    title: str
    description: str
    author: str
    source_branch: str
    target_branch: str
    head_sha: str
    state: PullState = "open"
    draft: bool = False
    url: str | None = None
    merged_at: datetime | None = None
    merge_commit: str | None = None
    reviews: tuple[Review, ...] = ()
    commits: tuple[Commit, ...] = ()
    commits_truncated: bool = False
    files: tuple[str, ...] = ()
    files_count: int | None = None
    lines_changed: int | None = None
    statuses: tuple[StatusCheck, ...] = ()
    last_push_at: datetime | None = None
    group_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    code_owners: CodeOwners | None = None
    unsupported: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def identities(self, user: str) -> frozenset[str]:
        """Every spelling a user goes by here (login, display name, e-mail), lower case."""
        return frozenset({user.lower(), *(a.lower() for a in self.aliases.get(user, ()))})

    def is_author(self, user: str) -> bool:
        return self.author.lower() in self.identities(user) or user.lower() == self.author.lower()
