"""Realistic job logs of each CI (tests/fixtures/cilogs, written for these tests), each with
one leaked credential generated at test time (format-valid, never a real one)."""

from __future__ import annotations

import base64
import random
import string
from pathlib import Path

from cievents.scanning.validate import github_style_token

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cilogs"
B62 = string.ascii_letters + string.digits
FILES = {
    "buildkite": "buildkite.log",
    "github": "github-actions.log",
    "gitlab": "gitlab-ci.log",
    "azure": "azure-pipelines.log",
    "bitbucket": "bitbucket-pipelines.log",
}
RULES = {
    "buildkite": "github-token",
    "github": "npm-token",
    "gitlab": "gitlab-token",
    "azure": "azure-storage-key",
    "bitbucket": "bitbucket-token",
}


def secret_for(system: str, seed: int = 22) -> str:
    rng = random.Random(f"{system}:{seed}")

    def rand(n: int, alphabet: str = B62) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return {
        "buildkite": lambda: github_style_token("ghp_", rand(30)),
        "github": lambda: github_style_token("npm_", rand(30)),
        "gitlab": lambda: "glpat-" + rand(20, B62 + "_-"),
        "azure": lambda: base64.b64encode(rng.randbytes(64)).decode(),
        "bitbucket": lambda: "ATBB" + rand(28) + rand(8, "0123456789ABCDEF"),
    }[system]()


def job_log(system: str, seed: int = 22) -> tuple[bytes, str]:
    """(the log's bytes, the secret leaked in it)."""
    secret = secret_for(system, seed)
    text = (FIXTURES / FILES[system]).read_bytes()
    return text.replace(b"@@LEAK@@", secret.encode()), secret
