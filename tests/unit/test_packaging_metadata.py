"""Packaging metadata that pip and setuptools accept without a deprecation warning, and the
generated files a fresh clone must not pick up."""

from __future__ import annotations

import subprocess
import tomllib

from tests.support.tools import ROOT


def test_license_is_an_spdx_string_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == "Apache-2.0"  # a TOML table here is deprecated (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text("utf-8")[:200]
    classifiers = project.get("classifiers") or []
    assert not [c for c in classifiers if c.startswith("License ::")]  # exclusive with SPDX


def test_generated_files_are_ignored() -> None:
    paths = [
        ".cievents/state.sqlite3",
        "build-health.html",
        ".demo/outbox/index.html",
        ".artifacts/screenshots/x.png",
        ".cache/cievents/scan-1.hsdb",
    ]
    out = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert sorted(out.stdout.split()) == sorted(paths), out.stdout + out.stderr
