"""workitem_sync against local servers speaking Jira and Azure Boards."""

from __future__ import annotations

import base64
import copy
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cievents import findings
from cievents.findings import FindingMessage
from cievents.idempotency.sqlite import SQLiteStore
from cievents.scanning import Scanner
from tests.conftest import VENDOR, CapturedLog
from tests.scanning.samples import positives
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer, Reply

SOURCE = str(Path(__file__).parents[2] / "functions" / "workitem_sync" / "main.py")
KEY = "workitem-test-key"
LEAK_LINE = next(c for c in positives() if c[0] == "github-token")[1]
ids = itertools.count(1)


def finding_from_scan(build: int) -> FindingMessage:
    (f,) = Scanner(engine="aho-corasick", fingerprint_key=KEY).scan_text(LEAK_LINE + "\n", "log")
    return FindingMessage.from_finding(
        f,
        {"kind": "job_log", "path": "tests", "line": 1},
        source="buildkite",
        pipeline="web-app",
        build_number=build,
        build_url=f"https://buildkite.com/acme-inc/web-app/builds/{build}",
    )


def push(data: bytes, attributes: dict[str, str]) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": f"w{next(ids)}",
            "attributes": attributes,
        },
        "subscription": "projects/p/subscriptions/workitem_sync",
    }


def deliver_finding(client: FlaskClient, finding: FindingMessage) -> int:
    return client.post("/", json=push(finding.to_bytes(), finding.attributes())).status_code


@pytest.fixture
def jira() -> Iterator[FakeServer]:
    fake = FakeServer()
    issues: dict[str, dict[str, Any]] = {}

    @fake.route("GET", "/rest/api/2/serverInfo")
    def info(req: Any) -> Reply:
        return Reply(200, {"versionNumbers": [1001, 0, 0], "deploymentType": "Cloud"})

    @fake.route("GET", "/rest/api/2/field")
    def field_list(req: Any) -> Reply:
        return Reply(
            200, [{"id": "summary", "name": "Summary"}, {"id": "labels", "name": "Labels"}]
        )

    @fake.route("GET", "/rest/api/2/search/jql")
    def search(req: Any) -> Reply:
        jql = req.query["jql"][0]
        wanted = jql.split('"')[1]
        found = [
            {"id": i["id"], "key": k}
            for k, i in issues.items()
            if wanted in i["fields"]["labels"] and i["status"] != "Done"
        ]
        return Reply(200, {"issues": found, "isLast": True})

    @fake.route("POST", "/rest/api/2/issue")
    def create(req: Any) -> Reply:
        key = f"SEC-{len(issues) + 1}"
        issues[key] = {
            "id": str(100 + len(issues)),
            "fields": req.json()["fields"],
            "status": "To Do",
        }
        return Reply(
            201, {"id": issues[key]["id"], "key": key, "self": f"{fake.url}/rest/api/2/issue/{key}"}
        )

    @fake.route("GET", "/rest/api/2/issue/(?P<key>SEC-\\d+)")
    def get(req: Any) -> Reply:
        key = req.match.group("key")
        return Reply(
            200,
            {
                "id": issues[key]["id"],
                "key": key,
                "self": f"{fake.url}/rest/api/2/issue/{key}",
                "fields": {"summary": issues[key]["fields"]["summary"]},
            },
        )

    @fake.route("POST", "/rest/api/2/issue/(?P<key>SEC-\\d+)/comment")
    def comment(req: Any) -> Reply:
        return Reply(201, {"id": "1", "body": req.json()["body"]})

    @fake.route("GET", "/rest/api/2/issue/(?P<key>SEC-\\d+)/transitions")
    def transitions(req: Any) -> Reply:
        return Reply(
            200, {"transitions": [{"id": "71", "name": "Reopen"}, {"id": "31", "name": "Done"}]}
        )

    @fake.route("POST", "/rest/api/2/issue/(?P<key>SEC-\\d+)/transitions")
    def transition(req: Any) -> Reply:
        done = str(req.json()["transition"]["id"]) == "31"
        issues[req.match.group("key")]["status"] = "Done" if done else "To Do"
        return Reply(204, None)

    fake.issues = issues  # type: ignore[attr-defined]
    with fake:
        yield fake


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def client_for(
    jira: FakeServer, monkeypatch: pytest.MonkeyPatch, store_path: Path
) -> Callable[..., FlaskClient]:
    def make(**env: str) -> FlaskClient:
        return function_client(
            monkeypatch,
            SOURCE,
            {
                "JIRA_URL": jira.url,
                "JIRA_EMAIL": "ci@acme.example",
                "JIRA_API_TOKEN": "jira-token-not-real",
                "CIEVENTS_STORE": f"sqlite:{store_path}",
                **env,
            },
        )

    return make


def jira_update(label: str, status: str, resolution: str | None) -> bytes:
    body = json.loads((VENDOR / "jira" / "jira.issue_updated.resolved.json").read_text())
    body = copy.deepcopy(body)
    body["issue"]["fields"]["labels"] = ["cievents-secret", label]
    body["issue"]["fields"]["status"] = {"name": status}
    body["issue"]["fields"]["resolution"] = {"name": resolution} if resolution else None
    for item in body["changelog"]["items"]:
        if item["field"] == "status":
            item["toString"] = status
    return json.dumps(body).encode()


def test_one_item_and_one_seen_again_comment(
    client_for: Callable[..., FlaskClient], jira: FakeServer, captured_log: CapturedLog
) -> None:
    client = client_for()
    for _ in range(3):
        assert deliver_finding(client, finding_from_scan(42)) == 200
    assert deliver_finding(client, finding_from_scan(43)) == 200
    assert deliver_finding(client, finding_from_scan(43)) == 200
    (created,) = jira.calls("POST", "/rest/api/2/issue")
    fields = created.json()["fields"]
    assert fields["project"] == {"key": "SEC"} and fields["priority"] == {"name": "High"}
    assert fields["labels"][0] == "cievents-secret" and fields["labels"][1].startswith("cievents-")
    assert "ghp_…[36 redacted]" in fields["description"]
    (comment,) = jira.calls("POST", ".*/comment")
    assert comment.json()["body"].startswith("Seen again in build #43")
    secret = LEAK_LINE.split()[2]
    assert (
        all(secret not in r.body.decode() for r in jira.requests)
        and secret not in captured_log.text
    )


def test_resolved_then_seen_again_reopens_and_wont_fix_suppresses(
    client_for: Callable[..., FlaskClient], jira: FakeServer, store_path: Path
) -> None:
    client = client_for()
    finding = finding_from_scan(42)
    deliver_finding(client, finding)
    label = f"cievents-{finding.fingerprint[:16]}"
    attrs = {"source": "jira", "event": "jira:issue_updated"}
    assert client.post("/", json=push(jira_update(label, "Done", "Done"), attrs)).status_code == 200
    store = SQLiteStore(store_path)
    assert findings.state_of(store, finding.fingerprint)["status"] == "resolved"
    deliver_finding(client, finding_from_scan(44))
    assert jira.calls("POST", ".*/SEC-1/transitions")  # reopened
    assert findings.state_of(store, finding.fingerprint)["status"] == "open"
    client.post("/", json=push(jira_update(label, "Done", "Won't Fix"), attrs))
    assert findings.is_suppressed(store, finding.fingerprint)
    # The next scan of the same text reports nothing for it.
    scanner = Scanner(
        engine="aho-corasick",
        fingerprint_key=KEY,
        suppressed=lambda fp: findings.is_suppressed(store, fp),
    )
    assert scanner.scan_text(LEAK_LINE) == []
    before = len(jira.requests)
    deliver_finding(client, finding_from_scan(45))
    assert len(jira.requests) == before  # suppressed findings are skipped


def test_azure_boards(monkeypatch: pytest.MonkeyPatch, store_path: Path) -> None:
    fake = FakeServer()

    @fake.route("POST", "/acme/Security/_apis/wit/wiql")
    def wiql(req: Any) -> Reply:
        assert "cievents-" in req.json()["query"]
        return Reply(200, {"workItems": []})

    @fake.route("POST", "/acme/Security/_apis/wit/workitems/\\$Bug")
    def create(req: Any) -> Reply:
        return Reply(200, {"id": 7})

    @fake.route("POST", "/acme/Security/_apis/wit/workItems/7/comments")
    def comment(req: Any) -> Reply:
        return Reply(200, {"id": 1})

    @fake.route("PATCH", "/acme/Security/_apis/wit/workitems/7")
    def patch(req: Any) -> Reply:
        return Reply(200, {"id": 7})

    with fake:
        client = function_client(
            monkeypatch,
            SOURCE,
            {
                "WORKITEM_TRACKER": "azure-boards",
                "AZURE_DEVOPS_ORG_URL": f"{fake.url}/acme",
                "AZURE_DEVOPS_PROJECT": "Security",
                "AZURE_DEVOPS_PAT": "ado-pat-not-real",
                "CIEVENTS_STORE": f"sqlite:{store_path}",
            },
        )
        finding = finding_from_scan(42)
        assert deliver_finding(client, finding) == 200
        (created,) = fake.calls("POST", ".*/workitems/.*")
        assert created.headers["content-type"] == "application/json-patch+json"
        ops = {op["path"]: op["value"] for op in created.json()}
        assert ops["/fields/System.Title"].startswith("Leaked credential: github-token")
        assert f"cievents-{finding.fingerprint[:16]}" in ops["/fields/System.Tags"]
        update = json.loads((VENDOR / "azure-devops" / "workitem.updated.json").read_text())
        update["resource"]["fields"]["System.State"] = {"oldValue": "Active", "newValue": "Closed"}
        update["resource"].setdefault("revision", {}).setdefault("fields", {})["System.Tags"] = (
            f"cievents-secret; cievents-{finding.fingerprint[:16]}"
        )
        attrs = {"source": "azure-devops", "event": "workitem.updated"}
        assert client.post("/", json=push(json.dumps(update).encode(), attrs)).status_code == 200
        assert (
            findings.state_of(SQLiteStore(store_path), finding.fingerprint)["status"] == "resolved"
        )


def test_a_done_before_its_finding_is_kept_and_applied_when_the_finding_arrives(
    client_for: Callable[..., FlaskClient], jira: FakeServer, store_path: Path
) -> None:
    """Pub/Sub does not order: the work item's Done may arrive before the finding."""
    client = client_for()
    finding = finding_from_scan(42)
    label = f"cievents-{finding.fingerprint[:16]}"
    attrs = {"source": "jira", "event": "jira:issue_updated"}
    done = jira_update(label, "Done", "Done")
    assert client.post("/", json=push(done, attrs)).status_code == 200
    store = SQLiteStore(store_path)
    assert store.get_state(f"workitem_sync:pending:{label}").value["status"] == "resolved"
    assert deliver_finding(client, finding) == 200
    assert len(jira.calls("POST", "/rest/api/2/issue")) == 1  # the item, once
    assert findings.state_of(store, finding.fingerprint)["status"] == "resolved"
    assert not store.get_state(f"workitem_sync:pending:{label}").value  # applied, then gone


def test_an_older_update_arriving_after_a_newer_one_changes_nothing(
    client_for: Callable[..., FlaskClient], store_path: Path
) -> None:
    client = client_for()
    finding = finding_from_scan(42)
    deliver_finding(client, finding)
    label = f"cievents-{finding.fingerprint[:16]}"
    attrs = {"source": "jira", "event": "jira:issue_updated"}
    newer = json.loads(jira_update(label, "Done", "Won't Fix"))
    older = json.loads(jira_update(label, "Done", "Done"))
    older["timestamp"] = newer["timestamp"] - 60_000  # Jira's own order: a minute earlier
    for body in (newer, older):
        client.post("/", json=push(json.dumps(body).encode(), attrs))
    assert findings.state_of(SQLiteStore(store_path), finding.fingerprint)["status"] == "suppressed"


@pytest.mark.parametrize(
    ("rule_id", "said"),
    [
        ("aws-access-key-id", "Leaked AWS credential found (aws-access-key-id, severity"),
        ("github-token", "Leaked GitHub credential found (github-token, severity"),
        ("stripe-key", "Leaked Stripe credential found"),
    ],
)
def test_the_work_item_names_the_vendor_as_it_writes_itself(rule_id: str, said: str) -> None:
    from cievents.tracker.workitems import description

    line = next(c for c in positives() if c[0] == rule_id)[1]
    found = Scanner(engine="aho-corasick", fingerprint_key=KEY).scan_text(line + "\n", "log")
    (f,) = [x for x in found if x.rule_id == rule_id]
    message = FindingMessage.from_finding(
        f, {"kind": "job_log", "path": "x", "line": 1}, source="buildkite"
    )
    text = description(message)
    assert text.startswith(said), text
    assert f"severity {f.severity}, confidence {f.confidence}" in text.splitlines()[0]
