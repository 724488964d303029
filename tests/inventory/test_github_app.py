"""Listing through a GitHub App: its installations (``GET /app/installations`` with the
App's JWT), then each installation's repositories with that installation's token."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cievents.idempotency.memory import MemoryStore
from cievents.inventory.runner import build_sync
from cievents.metrics.duckdb_store import DuckDBStore
from tests.inventory.fleet import github_repo
from tests.support.fakes import github

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


def test_the_apps_installation_is_listed_page_by_page(tmp_path: Path) -> None:
    with github.FakeGitHub(app_key=KEY, installation="77", page_size=7) as fake:
        github.serve_repositories(fake)
        granted = []
        for i in range(40):
            repo = github_repo(i, "acme")
            fake.inventory[repo["id"]] = repo  # type: ignore[attr-defined]
            if i % 4:  # the installation was granted three repositories in four
                granted.append(repo["id"])
        fake.installation_repos["77"] = granted  # type: ignore[attr-defined]
        env = {
            "GITHUB_API_URL": fake.url,
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_PRIVATE_KEY": PEM,
            "GITHUB_APP_INSTALLATION_ID": "77",
        }
        store = DuckDBStore(tmp_path / "m.duckdb")
        sync = build_sync(env, metrics=store, state=MemoryStore())
        report = sync.run("full")
        assert not report.failed, report.to_dict()
        github_report = report.scms[0]
        assert (github_report.owners, github_report.listed) == (1, 30)
        assert github_report.pages >= 5  # 30 repositories at 7 a page
        keys = {r["insert_id"] for r in store.query("SELECT insert_id FROM assets")}
        assert keys == {f"github:{i}" for i in granted}
        listed = [r for r in fake.requests if r.path == "/installation/repositories"]
        assert listed and all(r.headers["authorization"].startswith("Bearer ghs_") for r in listed)
        assert any(r.path == "/app/installations" for r in fake.requests)
