"""Engines and the packaged database: same candidates either way, a stale file never loses one."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cievents.deploy import manifest, package
from cievents.scanning import Scanner
from cievents.scanning import database as db
from cievents.scanning.engines import AhoCorasickEngine, HyperscanEngine
from cievents.scanning.rules import RULES, patterns_of
from tests.scanning.samples import NEGATIVES, pem, positives

PATTERNS = patterns_of(RULES)
CASES = positives()
APC = "\x1b_bk;t=1700000000123\x07"


def candidates(engine: HyperscanEngine | AhoCorasickEngine, text: str) -> list[tuple[int, int]]:
    data = text.encode()
    return engine.candidates(data, data.decode("latin-1"))


fragments = st.sampled_from(
    [c[1] for c in CASES]
    + NEGATIVES
    + [APC, "\x1b[31m", "\x1b[0m", "\n", " ", "=", ":", "@", "TOKEN", "token=", "://", "SK"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(fragments, max_size=14), st.text(max_size=30))
def test_both_engines_name_the_same_candidates(parts: list[str], noise: str) -> None:
    text = noise.join(parts)
    hyperscan = HyperscanEngine(PATTERNS)
    aho = AhoCorasickEngine(PATTERNS)
    assert candidates(hyperscan, text) == candidates(aho, text)


def test_every_anchor_on_a_line_is_a_candidate_not_just_the_leftmost() -> None:
    text = "A_TOKEN=one B_TOKEN=two C_TOKEN=three\n"
    starts = [s for pid, s in candidates(HyperscanEngine(PATTERNS), text)]
    assert starts == [text.index("TOKEN"), text.index("TOKEN", 5), text.rindex("TOKEN")]


def test_a_tail_keeps_common_anchors_cheap() -> None:
    noise = "npm http fetch GET 200 https://registry.npmjs.org/react 12ms\n" * 1000
    assert candidates(HyperscanEngine(PATTERNS), noise) == []
    leak = "git clone https://ci:hunter2hunter2@git.example.com/app.git\n"
    assert [PATTERNS[p].anchor for p, _ in candidates(HyperscanEngine(PATTERNS), leak)] == ["://"]


def test_serialized_database_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "scan.hsdb"
    path.write_bytes(db.serialize(PATTERNS))
    loaded = db.load_database(PATTERNS, path)
    assert loaded is not None
    text = "\n".join(c[1] for c in CASES)
    assert candidates(HyperscanEngine(PATTERNS, loaded), text) == candidates(
        HyperscanEngine(PATTERNS), text
    )
    assert db.serialize(PATTERNS) == path.read_bytes()  # deterministic: packages stay identical


@pytest.mark.parametrize("damage", ["missing", "other rules", "truncated", "not a database"])
def test_a_stale_or_broken_database_is_ignored_and_compiled_instead(
    tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "scan.hsdb"
    blob = db.serialize(PATTERNS)
    if damage == "other rules":
        blob = db.serialize(PATTERNS[:-1])
    elif damage == "truncated":
        blob = blob[: len(blob) // 2]
    elif damage == "not a database":
        blob = b"hello"
    if damage != "missing":
        path.write_bytes(blob)
    assert db.load_database(PATTERNS, path) is None


def test_the_secret_scan_package_carries_a_database_that_loads(tmp_path: Path) -> None:
    function = next(f for f in manifest.load().functions if f.name == "secret_scan")
    with zipfile.ZipFile(package.build(function, tmp_path)) as archive:
        blob = archive.read(package.SCAN_DATABASE)
        requirements = archive.read("requirements.txt").decode()
    path = tmp_path / "scan.hsdb"
    path.write_bytes(blob)
    assert db.load_database(PATTERNS, path) is not None
    assert any(line.startswith("hyperscan==") for line in requirements.splitlines())
    other = next(f for f in manifest.load().functions if f.name == "slack_notify")
    with zipfile.ZipFile(io.BytesIO(package.build(other, tmp_path / "o").read_bytes())) as archive:
        assert package.SCAN_DATABASE not in archive.namelist()


def test_cli_writes_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data" / "scan.hsdb"
    assert db.main(["--out", str(out)]) == 0
    assert db.load_database(PATTERNS, out) is not None
    assert "patterns" in capsys.readouterr().out


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
def test_real_buildkite_markers_and_multiline_keys(engine: str) -> None:
    scanner = Scanner(engine=engine, fingerprint_key="k")
    key = pem()
    token = next(c for c in CASES if c[0] == "github-token")[2]
    log = "".join(f"{APC}{line}\n" for line in ["~~~ Setup", *key.splitlines()])
    log += f"{APC}\x1b[33mexport GITHUB_TOKEN={token}\x1b[0m\n"
    found = scanner.scan_text(log, redacted=False)
    assert [f.rule_id for f in found] == ["private-key", "github-token"]
    private, github = found
    assert (private.line, private.end_line) == (2, 1 + len(key.splitlines()))
    assert private.secret == key  # the clean key, markers removed from its body
    assert github.secret == token and github.start_column == log.splitlines()[-1].index(token) + 1
    redacted = scanner.redact_text(log)
    assert token not in redacted and key.splitlines()[1] not in redacted


@pytest.mark.parametrize("engine", ["hyperscan", "aho-corasick"])
def test_columns_count_characters_and_long_lines_keep_their_secrets(engine: str) -> None:
    scanner = Scanner(engine=engine, fingerprint_key="k")
    token = next(c for c in CASES if c[0] == "github-token")[2]
    line = "✓ émoji " + "\x1b[32m·\x1b[0m" * 2000 + f" {token}"
    (finding,) = scanner.scan_text(f"first\n{line}\n", redacted=False)
    assert finding.line == 2 and finding.start_column == line.index(token) + 1
    assert finding.end_column == line.index(token) + len(token)
    data = f"first\n{line}\n".encode()
    assert data[finding.start : finding.end] == token.encode()  # offsets are byte offsets


def test_a_compiled_database_is_cached_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CIEVENTS_SCAN_DB", str(tmp_path / "absent.hsdb"))
    cached = db.cache_path(PATTERNS)
    assert cached is not None and not cached.exists()
    assert db.packaged_or_cached(PATTERNS) is not None
    assert db.load_database(PATTERNS, cached) is not None  # written, and it loads
    monkeypatch.setenv("CIEVENTS_SCAN_CACHE", "0")
    assert db.cache_path(PATTERNS) is None
