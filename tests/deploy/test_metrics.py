"""The log-based metrics in infra/monitoring.tf match the lines the functions really write.

Each metric's filter and extractors name jsonPayload fields; a metric whose filter no real
line passes, or whose extractor reads a field the line lacks, would chart nothing. The
filters are read from the Terraform and evaluated (the subset of the Logging query
language they use: AND of `field="v"`, `field=("a" OR "b")`, `field:*`) on lines that
github_status and health write, served as deployed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import CapturedLog
from tests.notify.events import build, push_body
from tests.support.apps import function_client

ROOT = Path(__file__).resolve().parents[2]
TERM = re.compile(r'^(?P<field>[\w.]+)(?::\*|=(?P<value>"[^"]*"|\((?P<any>[^)]*)\)))$')


def unquote(text: str) -> str:
    """An HCL string as hcl2 gives it (quoted, inner quotes escaped), as its value."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text.replace('\\"', '"')


def metrics() -> dict[str, dict[str, Any]]:
    with (ROOT / "infra" / "monitoring.tf").open() as fh:
        document = hcl2.load(fh)
    found_locals: dict[str, str] = {}
    for block in document.get("locals", []):
        found_locals.update({k: v for k, v in block.items() if isinstance(v, str)})
    out = {}
    for block in document.get("resource", []):
        for kind, named in block.items():
            if kind.strip('"') != "google_logging_metric":
                continue
            for body in named.values():
                text = unquote(str(body["filter"]))
                for _ in range(3):  # locals that use locals
                    text = re.sub(
                        r"\$\{local\.(\w+)\}",
                        lambda m: unquote(found_locals[m.group(1)]),
                        text,
                    )
                out[str(body["name"]).strip('"')] = {
                    "filter": text,
                    "fields": re.findall(r"jsonPayload\.(\w+)", str(body)),
                }
    return out


def passes(filter_text: str, line: dict[str, Any]) -> bool:
    record = {"resource": {"type": "cloud_run_revision"}, "jsonPayload": line}
    for term in filter_text.split(" AND "):
        found = TERM.match(term.strip())
        assert found, f"filter term not understood: {term}"
        value: Any = record
        for part in found.group("field").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if found.group("value") is None and found.group("any") is None:
            if value is None:
                return False
        elif found.group("any") is not None:
            options = [o.strip().strip('"') for o in found.group("any").split(" OR ")]
            if str(value) not in options:
                return False
        elif str(value) != found.group("value").strip('"'):
            return False
    return True


@pytest.fixture
def lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> list[dict[str, Any]]:
    github = function_client(
        monkeypatch,
        str(ROOT / "functions" / "github_status" / "main.py"),
        {
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "CIEVENTS_DRY_RUN": "1",
            "CIEVENTS_OUTBOX": str(tmp_path / "outbox"),
        },
        signature_type="http",
    )
    assert (
        github.post("/", json=push_body(build("build.finished", "failed"), "m1")).status_code < 300
    )
    import functions_framework

    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token-for-the-check")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing listens: a failing check
    health = functions_framework.create_app(
        target="health",
        source=str(ROOT / "functions" / "health" / "main.py"),
        signature_type="http",
    ).test_client()
    health.get("/")
    return captured_log.lines


def test_every_integration_metric_counts_real_lines(lines: list[dict[str, Any]]) -> None:
    found = metrics()
    for name in (
        "integrations_health_check_total",
        "integrations_test_connection_duration_seconds",
        "scm_annotation_total",
        "scm_annotation_duration_seconds",
        "cievents/outcomes",
        "cievents/latency",
    ):
        metric = found[name]
        matching = [line for line in lines if passes(metric["filter"], line)]
        assert matching, f"{name}: no line passes {metric['filter']}"
        for field in metric["fields"]:
            assert all(field in line for line in matching), f"{name} reads {field}"
    scm = [line for line in lines if passes(found["scm_annotation_total"]["filter"], line)]
    assert {line["function"] for line in scm} == {"github_status"}
    assert all(isinstance(line["duration_s"], float) for line in scm)
    assert all(line["commit_sha"] and line["integration"] == "buildkite" for line in scm)
