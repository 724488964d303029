"""The manifest, its schema, deterministic packages, and the gcloud path in dry run."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from cievents.deploy import manifest, package
from cievents.errors import ConfigError
from tests.support import tools

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = yaml.safe_load((ROOT / "function.yaml").read_text())


def test_manifest_validates_and_applies_defaults() -> None:
    loaded = manifest.load()
    names = {f.name for f in loaded.functions}
    assert {
        "ingest",
        "slack_notify",
        "teams_notify",
        "github_status",
        "jira_update",
        "gcs_archive",
        "health",
    } <= names
    slack = loaded.function("slack_notify")
    assert (slack.runtime, slack.memory, slack.timeout, slack.retry) == (
        "python311",
        "256Mi",
        60,
        True,
    )
    assert slack.triggers[0].topic == "ci-events" and "buildkite" in slack.triggers[0].filter
    ingest = loaded.function("ingest")
    assert ingest.http and ingest.public and ingest.concurrency == 20
    for function in loaded.functions:
        assert (ROOT / function.source / "main.py").exists(), function.name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["functions"]["ingest"].update(memory="lots"), "memory"),
        (lambda d: d["functions"]["ingest"].update(colour="blue"), "colour"),
        (lambda d: d["functions"]["ingest"].pop("entry_point"), "entry_point"),
        (lambda d: d["functions"]["slack_notify"]["secrets"].update(X="Not A Name"), "Not A Name"),
        (lambda d: d["functions"]["gcs_archive"]["roles"].append({"role": "owner"}), "owner"),
    ],
)
def test_schema_rejects_bad_manifests(change: object, message: str) -> None:
    document = copy.deepcopy(DOCUMENT)
    change(document)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        manifest.validate(document)


def test_requirements_hold_only_what_each_function_needs() -> None:
    loaded = manifest.load()
    slack = package.requirements(loaded.function("slack_notify"))
    assert any(r.startswith("slack_sdk") for r in slack)
    assert not any(r.startswith(("jira", "google-cloud-storage", "hyperscan")) for r in slack)
    teams = package.requirements(loaded.function("teams_notify"))
    assert not any(r.startswith(("slack_sdk", "jira")) for r in teams)
    assert any(r.startswith("functions-framework") for r in teams)


def _cached(name: str) -> str:
    """Where the import system looks for ``name``'s bytecode (``a/__pycache__/b.<tag>.pyc``)."""
    folder, _, module = name.rpartition("/")
    cached = f"__pycache__/{module[:-3]}.{sys.implementation.cache_tag}.pyc"
    return f"{folder}/{cached}" if folder else cached


def test_package_is_deterministic(tmp_path: Path) -> None:
    loaded = manifest.load()
    first = {f.name: package.digest(package.build(f, tmp_path / "a")) for f in loaded.functions}
    time.sleep(1.1)  # a different wall clock must not change a byte
    second = {f.name: package.digest(package.build(f, tmp_path / "b")) for f in loaded.functions}
    assert first == second
    with zipfile.ZipFile(tmp_path / "a" / "ingest.zip") as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {
            "main.py",
            "requirements.txt",
            "cievents/handler.py",
            "cievents/data/routing.default.yaml",
            "cievents/data/routing.default.json",
            "cievents/data/views/duckdb/build_health.sql",
        } <= set(names)
        # bytecode: one checked-hash .pyc per module, none copied from the tree's caches
        sources = {n for n in names if n.endswith(".py")}
        assert {n for n in names if n.endswith(".pyc")} == {_cached(n) for n in sources}
        for name in ("main.py", "cievents/handler.py"):
            pyc = archive.read(_cached(name))
            assert int.from_bytes(pyc[4:8], "little") == 0b11  # hash-based, checked
            assert pyc[8:16] == importlib.util.source_hash(archive.read(name))
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("main.py") == (ROOT / "functions/ingest/main.py").read_bytes()


@pytest.mark.slow
def test_a_zip_serves_its_function_from_a_fresh_venv(tmp_path: Path) -> None:
    """Unpack teams_notify's zip, install only its requirements.txt, serve it, post an event."""
    zip_path = package.build(manifest.load().function("teams_notify"), tmp_path / "dist")
    app = tmp_path / "app"
    zipfile.ZipFile(zip_path).extractall(app)
    wheels = tools.ROOT / ".venv-wheels"  # downloaded by `make test-tools`: no network here
    if not (wheels / ".done").exists():
        tools.missing("the wheels for the zip test are not downloaded (run `make test-tools`)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [
            str(venv / "bin/pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            "-r",
            str(app / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, (
        f"the zip's requirements.txt does not install from the wheels `make test-tools` "
        f"downloaded (rerun it after changing pyproject.toml): {installed.stderr[-800:]}"
    )
    from tests.support.emulators import free_port, wait_for_port

    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "CIEVENTS_STORE": "memory:",
        "CIEVENTS_DRY_RUN": "1",
        "CIEVENTS_OUTBOX": str(tmp_path / "outbox"),
        "PYTHONPATH": str(app),
    }
    server = subprocess.Popen(
        [
            str(venv / "bin/functions-framework"),
            "--target",
            "handle",
            "--signature-type",
            "http",  # as deployed: an HTTP trigger behind a push subscription
            "--port",
            str(port),
        ],
        cwd=app,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for_port(port, 60, server)
        import requests

        from tests.notify.events import build, push_body

        response = requests.post(
            f"http://127.0.0.1:{port}/",
            json=push_body(build("build.finished", "failed"), "zip-1"),
            timeout=30,
        )
        assert response.status_code in (200, 204)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (tmp_path / "outbox" / "teams.jsonl").exists()


def test_unpacked_zip_imports_its_bytecode(tmp_path: Path) -> None:
    """A fresh process importing from the unpacked folder loads the shipped .pyc files
    (no compile on an instance's first import), and a changed source is compiled anew."""
    app = package.unpack(
        package.build(manifest.load().function("ingest"), tmp_path / "dist"), tmp_path / "app"
    )
    (app / "cievents" / "clock.py").write_text(
        (app / "cievents" / "clock.py").read_text() + "\nCHANGED = True\n"
    )
    out = subprocess.run(
        [sys.executable, "-v", "-c", "import cievents.events, cievents.clock"],
        cwd=app,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    tag = sys.implementation.cache_tag
    assert f"code object from '{app}/cievents/__pycache__/events.{tag}.pyc'" in out.stderr
    assert f"code object from '{app}/cievents/__pycache__/clock.{tag}.pyc'" not in out.stderr


def test_zip_hash_changes_with_code(tmp_path: Path) -> None:
    function = manifest.load().function("teams_notify")
    before = package.digest(package.build(function, tmp_path))
    entries = dict(package._entries(function))
    assert hashlib.sha256(entries["main.py"]).hexdigest()
    assert before == package.digest(package.build(function, tmp_path))
