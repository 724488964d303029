"""The scanner: every family found, hard negatives ignored, both engines identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cievents.cli import main
from cievents.scanning import Scanner
from cievents.scanning.rules import RULES
from tests.scanning.samples import NEGATIVES, positives, rand

ENGINES = ["hyperscan", "aho-corasick"]
CASES = positives()


@pytest.fixture(scope="module", params=ENGINES)
def scanner(request: pytest.FixtureRequest) -> Scanner:
    return Scanner(engine=request.param, fingerprint_key="test-key")


@pytest.mark.parametrize(("rule_id", "line", "secret"), CASES, ids=[c[0] for c in CASES])
def test_each_family_is_found(scanner: Scanner, rule_id: str, line: str, secret: str) -> None:
    findings = scanner.scan_text(f"step 1\n{line}\nstep 3\n", "job.log", redacted=False)
    assert [f.rule_id for f in findings] == [rule_id], findings
    if secret:
        assert findings[0].secret == secret
    assert findings[0].line == 2


def test_every_rule_has_a_positive_case() -> None:
    assert {r.id for r in RULES} == {c[0] for c in CASES}


@pytest.mark.parametrize("line", NEGATIVES)
def test_hard_negatives_are_ignored(scanner: Scanner, line: str) -> None:
    assert scanner.scan_text(line + "\n") == []


def test_columns_point_into_the_original_text_through_ansi_and_markers(scanner: Scanner) -> None:
    rule_id, line, secret = next(c for c in CASES if c[0] == "github-token")
    token = line.split()[2]
    log = f"_bk;t=1700000000000\x1b[33mexport GITHUB_TOKEN=\x1b[1m{token}\x1b[0m\n"
    (finding,) = scanner.scan_text(log, redacted=False)
    assert finding.secret == token
    start = log.index(token)
    assert (finding.line, finding.start_column, finding.end_column) == (
        1,
        start + 1,
        start + len(token),
    )
    assert log[finding.start : finding.end] == token
    redacted = scanner.redact_text(log)
    assert token not in redacted and "ghp_…[36 redacted]" in redacted


def test_fingerprints_are_keyed_grouped_and_distinct() -> None:
    a = Scanner(engine="aho-corasick", fingerprint_key="key-a")
    b = Scanner(engine="aho-corasick", fingerprint_key="key-b")
    gh = next(c for c in CASES if c[0] == "github-token")[1]
    other = positives()[5][1]  # a different random token of the same rule
    text = f"{gh}\n{gh}\n{other}\n"
    found = a.scan_text(text)
    assert len(found) == 3
    assert found[0].fingerprint == found[1].fingerprint and found[0].occurrences == 2
    assert found[2].fingerprint != found[0].fingerprint and found[2].occurrences == 1
    assert b.scan_text(text)[0].fingerprint != found[0].fingerprint  # keyed, not a plain hash
    assert all(len(f.fingerprint) == 64 for f in found)


def test_secret_at_the_edges_and_inline_allow(scanner: Scanner) -> None:
    token = next(c for c in CASES if c[0] == "github-token")[1].split()[2]
    assert len(scanner.scan_text(token)) == 1
    assert len(scanner.scan_text("x" * 100_000 + " " + token)) == 1
    assert scanner.scan_text(f"{token}  # cievents:allow test fixture\n") == []


def test_suppressed_fingerprints_are_skipped() -> None:
    token = next(c for c in CASES if c[0] == "github-token")[1]
    first = Scanner(engine="aho-corasick").scan_text(token)[0]
    muted = Scanner(engine="aho-corasick", suppressed=lambda fp: fp == first.fingerprint)
    assert muted.scan_text(token) == []


snippets = st.sampled_from(
    [c[1] for c in CASES]
    + NEGATIVES
    + ["\x1b[31m", "_bk;t=1700000000000", "\n", " ", "TOKEN=", "://a:b@c"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(snippets, max_size=12), st.text(max_size=40))
def test_both_engines_report_the_same_findings(parts: list[str], noise: str) -> None:
    text = noise.join(parts)
    hs = Scanner(engine="hyperscan", fingerprint_key="k").scan_text(text)
    ac = Scanner(engine="aho-corasick", fingerprint_key="k").scan_text(text)
    assert hs == ac


def test_cli_formats_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rule_id, line, secret = CASES[0]
    (tmp_path / "leak.log").write_text(f"ok\n{line}\n")
    (tmp_path / "clean.txt").write_text("nothing here\n")
    assert main(["scan", str(tmp_path / "clean.txt"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["scan", str(tmp_path), "--format", "json"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    for key in (
        "rule_id",
        "line",
        "end_line",
        "start_column",
        "end_column",
        "secret",
        "fingerprint",
        "confidence",
    ):
        assert key in finding
    assert finding["secret"] != secret and secret not in json.dumps(finding)
    assert main(["scan", str(tmp_path / "leak.log"), "--format", "json", "--no-redact"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["secret"] == secret
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps([finding]))
    assert main(["scan", str(tmp_path), "--baseline", str(baseline)]) == 0
    capsys.readouterr()
    assert main(["scan", str(tmp_path), "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    result = sarif["runs"][0]["results"][0]
    assert result["ruleId"] == rule_id
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert main(["scan", str(tmp_path / "missing.log")]) == 2


def test_cli_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    line = CASES[5][1]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(line.encode())))
    assert main(["scan", "-", "--format", "text"]) == 1
    assert "github-token" in capsys.readouterr().out
    assert rand(3)


def test_cli_text_labels_severity_and_confidence_as_json_has_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text line names both, labelled: a confidence is never shown as the severity."""
    leak = tmp_path / "leak.log"
    leak.write_text("\n".join(line for _, line, _ in CASES) + "\n")
    assert main(["scan", str(leak), "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert main(["scan", str(leak), "--format", "text"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(found)
    for finding, text in zip(found, lines, strict=True):
        label = f"(severity {finding['severity']}, confidence {finding['confidence']})"
        assert f"{finding['rule_id']} {label}" in text, text
    assert any(f["severity"] != f["confidence"] for f in found)  # the two really differ


def test_real_vendor_payloads_are_clean() -> None:
    """Independent hard negatives: webhook payloads the vendors wrote (ids, SHAs, URLs,
    signatures, avatars), none holding a credential."""
    root = Path(__file__).parents[1] / "fixtures" / "vendor"
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"]
    assert len(files) > 40
    scanner = Scanner(fingerprint_key="k")
    assert [(p.name, f.rule_id) for p in files for f in scanner.scan_bytes(p.read_bytes())] == []


def _vendor_files() -> list[Path]:
    root = Path(__file__).parents[1] / "fixtures" / "vendor"
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "README.md"]


def _reported(scanner: Scanner, data: bytes) -> set[str]:
    return {f.secret for f in scanner.scan_bytes(data, redacted=False) if f.secret}


def test_secrets_alone_find_every_secret_a_scan_reports(scanner: Scanner) -> None:
    """``Scanner.secrets`` (the matches only, what the log masker asks) against the full scan,
    on the vendors' payloads as they are and with every planted secret written into them:
    in a string field (JSON-escaped, as a log line carries it) and raw at the end."""
    from tests.scanning.samples import pem

    planted = [line for _rule, line, _secret in CASES] + [pem()]
    files = _vendor_files()
    assert len(files) > 40
    for path in files:
        data = path.read_bytes()
        assert scanner.secrets(data) == _reported(scanner, data) == set(), path.name
    found_some = 0
    for n, line in enumerate(planted):
        path = files[n % len(files)]
        body = json.loads(path.read_bytes())
        body["planted"] = line
        for data in (json.dumps(body).encode(), path.read_bytes() + b"\n" + line.encode()):
            reported = _reported(scanner, data)
            assert reported <= scanner.secrets(data), (path.name, line)
            found_some += bool(reported)
    assert found_some >= len(planted)  # the planted secrets were there to be found
    everything = "\n".join(planted).encode()
    assert _reported(scanner, everything) <= scanner.secrets(everything)


def test_secrets_alone_keep_suppressions_but_not_allow_markers() -> None:
    token = next(c for c in CASES if c[0] == "github-token")[1]
    first = Scanner(engine="aho-corasick").scan_text(token, redacted=False)[0]
    muted = Scanner(engine="aho-corasick", suppressed=lambda fp: fp == first.fingerprint)
    assert muted.secrets(token.encode()) == set()
    # What it returns is masked: a marker in text from outside must not unmask a secret.
    marked = f"{token}  # cievents:allow\n".encode()
    assert Scanner(engine="aho-corasick").secrets(marked) == {first.secret}
