"""Repository URLs of every SCM, and diffs → added lines with their new-side numbers."""

from __future__ import annotations

import pytest

from cievents.scm.diff import added_by_versions, parse_unified
from cievents.vcs.repo import Repository, parse_repository


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://dev.azure.com/fabrikam/DefaultCollection/_git/Fabrikam",
            Repository("azure-repos", "dev.azure.com", "fabrikam/DefaultCollection/Fabrikam"),
        ),
        (
            "https://fabrikam@dev.azure.com/fabrikam/Fabrikam%20Fiber/_git/web",
            Repository("azure-repos", "dev.azure.com", "fabrikam/Fabrikam Fiber/web"),
        ),
        (
            "https://dev.azure.com/fabrikam/_git/web",
            Repository("azure-repos", "dev.azure.com", "fabrikam/web/web"),
        ),
        (
            "git@ssh.dev.azure.com:v3/fabrikam/Fiber/web",
            Repository("azure-repos", "dev.azure.com", "fabrikam/Fiber/web"),
        ),
        (
            "https://fabrikam.visualstudio.com/DefaultCollection/Fiber/_git/web",
            Repository("azure-repos", "fabrikam.visualstudio.com", "fabrikam/Fiber/web"),
        ),
        (
            "fabrikam@vs-ssh.visualstudio.com:v3/fabrikam/Fiber/web",
            Repository("azure-repos", "fabrikam.visualstudio.com", "fabrikam/Fiber/web"),
        ),
        (
            "https://bitbucket.example.com/scm/proj/web.git",
            Repository("bitbucket-server", "bitbucket.example.com", "PROJ/web"),
        ),
        (
            "ssh://git@bitbucket.example.com:7999/proj/web.git",
            Repository("bitbucket-server", "bitbucket.example.com", "PROJ/web"),
        ),
        (
            "https://bitbucket.example.com/projects/PROJ/repos/web/browse",
            Repository("bitbucket-server", "bitbucket.example.com", "PROJ/web"),
        ),
        (
            "https://bitbucket.example.com/scm/~alice/dotfiles.git",
            Repository("bitbucket-server", "bitbucket.example.com", "~alice/dotfiles"),
        ),
        ("git@github.com:acme/web.git", Repository("github", "github.com", "acme/web")),
        ("https://bitbucket.org/team/app", Repository("bitbucket", "bitbucket.org", "team/app")),
        ("https://dev.azure.com/fabrikam/Fiber", None),
        ("https://bitbucket.unlisted.example/scm/proj/web.git", None),
    ],
)
def test_repository_urls(url: str, expected: Repository | None) -> None:
    assert parse_repository(url, bitbucket_server_hosts=("bitbucket.example.com",)) == expected


def test_unified_diff_counts_new_side_lines_and_skips_deleted_files() -> None:
    diff = (
        "diff --git a/a.py b/a.py\n"
        "--- a/a.py\n+++ b/a.py\n"
        "@@ -10,4 +10,5 @@ def f():\n"
        " one\n-two\n+TWO\n+three\n\n four\n"
        "\\ No newline at end of file\n"
        "@@ -40 +41,2 @@\n-x\n+++ not a header: an added line starting with ++\n+y\n"
        "diff --git a/gone.txt b/gone.txt\n"
        "deleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        "diff --git a/new file.txt b/new file.txt\n"
        "new file mode 100644\n--- /dev/null\n+++ b/new file.txt\n@@ -0,0 +1 @@\n+hello\n"
    )
    assert parse_unified(diff) == {
        "a.py": [
            (11, "TWO"),
            (12, "three"),
            (41, "++ not a header: an added line starting with ++"),
            (42, "y"),
        ],
        "new file.txt": [(1, "hello")],
    }


def test_one_files_hunks_take_their_path() -> None:
    assert parse_unified("@@ -1,2 +1,3 @@\n a\n+b\n c\n", path="x.py") == {"x.py": [(2, "b")]}


def test_added_by_versions() -> None:
    old = "a\nb\nc\n"
    new = "a\nB\nc\nd\n"
    assert added_by_versions(old, new) == [(2, "B"), (4, "d")]
    assert added_by_versions("", "x\n") == [(1, "x")]
